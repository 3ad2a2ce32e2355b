import ContainerRuntime
import JSON
import Launcher
import Testing

/// What `secretshim compose` makes of Compose files (already read to JSON): the store's names of
/// the top-level secrets, each service's grants in `run`'s grammar, the rewritten file.
@Suite struct ComposeProjectTests {
    func document(_ text: String) throws -> JSONValue { try JSONValue.parse(Array(text.utf8)) }

    @Test func shortAndLongSyntaxBecomeGrantsWithOwnerAndMode() throws {
        let project = try ComposeProject(name: "shop", documents: [document("""
            {"services": {"web": {"image": "nginx", "secrets": ["site_key", {"source": "db", "target": "conf/db.pw", "uid": "999", "gid": "998", "mode": 256}, {"source": "tls", "target": "/run/secrets/tls.pem", "mode": "0440"}]}},
             "secrets": {"site_key": {"file": "./site.key"}, "db": {"environment": "DB_PW"}, "tls": {"external": true}}}
            """)])
        #expect(project.secrets["site_key"] == .init(key: "site_key", storeName: "shop_site_key", source: .file("./site.key")))
        #expect(project.secrets["db"] == .init(key: "db", storeName: "shop_db", source: .environment("DB_PW")))
        #expect(project.secrets["tls"] == .init(key: "tls", storeName: "tls", source: .external))
        let grants = try project.grants()
        #expect(grants.count == 1 && grants[0].service == "web")
        // YAML's `mode: 0400` arrives as 256 and goes back out in octal.
        #expect(grants[0].specs == ["shop_site_key,target=site_key", "shop_db,target=conf/db.pw,uid=999,gid=998,mode=0400", "tls,target=tls.pem,mode=0440"])
        for spec in grants[0].specs { _ = try SecretGrant.parse(spec, secretsDirectory: "/run/secrets") }
    }

    @Test func namesExternalNamesAndALaterFileWin() throws {
        let first = try document("""
            {"services": {"a": {"secrets": [{"source": "k", "target": "t", "mode": 256}]}}, "secrets": {"k": {"file": "one"}, "old": {"external": {"name": "legacy_name"}}}}
            """)
        let second = try document("""
            {"services": {"a": {"secrets": [{"source": "k", "target": "t", "mode": 288}]}}, "secrets": {"k": {"file": "two", "name": "custom"}}}
            """)
        let project = try ComposeProject(name: "p", documents: [first, second])
        #expect(project.secrets["k"]?.storeName == "custom" && project.secrets["k"]?.source == .file("two"))
        #expect(project.secrets["old"]?.storeName == "legacy_name")
        // One grant per target: the later file's.
        #expect(try project.grants().first?.specs == ["custom,target=t,mode=0440"])
    }

    @Test func aTargetWithACommaIsQuotedAsDockerQuotesIt() throws {
        let project = try ComposeProject(name: "p", documents: [document("""
            {"services": {"a": {"secrets": [{"source": "k", "target": "a,b;c"}]}}, "secrets": {"k": {"file": "f"}}}
            """)])
        let spec = try #require(try project.grants().first?.specs.first)
        #expect(spec == #"p_k,"target=a,b;c""#)
        #expect(try SecretGrant.parse(spec, secretsDirectory: "/run/secrets").target == "a,b;c")
    }

    @Test(arguments: [
        (#"{"services": {"a": {"secrets": ["nope"]}}}"#, "undefined secret 'nope'"),
        (#"{"services": {"a": {"secrets": [{"target": "x"}]}}, "secrets": {"k": {"file": "f"}}}"#, "needs source:"),
        (#"{"services": {"a": {"secrets": [{"source": "k", "target": "/etc/../x"}]}}, "secrets": {"k": {"file": "f"}}}"#, "'..'"),
        (#"{"services": {"a": {"secrets": [{"source": "k", "mode": true}]}}, "secrets": {"k": {"file": "f"}}}"#, "mode: must be"),
        (#"{"services": {"a": {"secrets": [{"source": "k", "mode": "rw"}]}}, "secrets": {"k": {"file": "f"}}}"#, "mode"),
        (#"{"services": {"a": {"secrets": [{"source": "k", "uid": "1root"}]}}, "secrets": {"k": {"file": "f"}}}"#, "uid"),
        (#"{"services": {"a": {"secrets": [{"source": "k", "target": "../../etc/shadow"}]}}, "secrets": {"k": {"file": "f"}}}"#, "target"),
        (#"{"services": {"a": {"secrets": [{"source": "k", "colour": "red"}]}}, "secrets": {"k": {"file": "f"}}}"#, "unknown secret field 'colour'"),
        (#"{"services": {"a": {"secrets": "k"}}, "secrets": {"k": {"file": "f"}}}"#, "must be a list"),
        (#"{"secrets": {"k": {}}}"#, "give file:, environment: or external: true"),
        (#"{"secrets": {"k": {"file": "f", "environment": "E"}}}"#, "not both"),
        (#"{"secrets": {"k": {"file": "f", "driver": "vault"}}}"#, "Swarm's"),
        (#"{"secrets": {"k": {"external": true, "file": "f"}}}"#, "no file:"),
        (#"{"secrets": {"k": "f"}}"#, "must be a mapping"),
        (#"["services"]"#, "not a mapping"),
    ])
    func malformedProjectsAreRefusedInOneLine(_ text: String, _ fragment: String) throws {
        let error = #expect(throws: ComposeProject.Invalid.self) {
            _ = try ComposeProject(name: "p", documents: [try document(text)]).grants()
        }
        #expect(error?.description.contains(fragment) == true, "\(String(describing: error))")
        #expect(error?.description.contains("\n") == false)
    }

    @Test func theRewrittenFileHasNoSecretsAndCarriesTheRequest() throws {
        let project = try ComposeProject(name: "p", documents: [document("""
            {"version": "3.8", "name": "p", "services": {
               "a": {"image": "x", "environment": ["A=1"], "secrets": ["k"]},
               "b": {"image": "x", "environment": {"B": "2"}, "secrets": ["k"]},
               "c": {"image": "x"}},
             "secrets": {"k": {"file": "f"}}}
            """)])
        let rewritten = try project.rewritten(0, requests: ["a": "REQ-A", "b": "REQ-B"], runtime: "secretshim")
        #expect(rewritten["secrets"] == nil && rewritten["version"] == nil && rewritten["name"] == nil)
        let a = try #require(rewritten["services"]?["a"])
        #expect(a["secrets"] == nil && a["runtime"] == .string("secretshim"))
        #expect(a["environment"] == .array([.string("A=1"), .string("SECRETSHIM_SECRETS=REQ-A")]))
        #expect(rewritten["services"]?["b"]?["environment"] == .object(["B": .string("2"), "SECRETSHIM_SECRETS": .string("REQ-B")]))
        #expect(rewritten["services"]?["c"] == .object(["image": .string("x")]))

        // podman-compose: the request through an env file, out of podman's argv.
        let podman = try project.rewritten(0, requests: ["a": "REQ-A", "b": "REQ-B"], runtime: nil, requestFiles: ["a": "/s/1.env", "b": "/s/2.env"])
        #expect(podman["services"]?["a"]?["runtime"] == nil)
        #expect(podman["services"]?["a"]?["environment"] == .array([.string("A=1")]))
        #expect(podman["services"]?["a"]?["env_file"] == .array([.string("/s/1.env")]))
    }

    @Test func aServiceCannotSetTheRequestOrAnotherRuntimeItself() throws {
        for service in [#"{"environment": {"SECRETSHIM_SECRETS": "x"}, "secrets": ["k"]}"#, #"{"environment": ["SECRETSHIM_SECRETS=x"], "secrets": ["k"]}"#, #"{"runtime": "runc", "secrets": ["k"]}"#] {
            let project = try ComposeProject(name: "p", documents: [document(#"{"services": {"a": \#(service)}, "secrets": {"k": {"file": "f"}}}"#)])
            #expect(throws: ComposeProject.Invalid.self) { try project.rewritten(0, requests: ["a": "R"], runtime: "secretshim") }
        }
    }

    @Test func relativeHostPathsAreMadeAbsolute() throws {
        let rewritten = ComposeProject.absolutized(try document("""
            {"services": {"a": {"build": ".", "env_file": ["./a.env", "/abs.env"], "volumes": ["./data:/data", "named:/x", "/host:/y", {"type": "bind", "source": "conf", "target": "/c"}, {"type": "volume", "source": "v", "target": "/v"}], "extends": {"file": "base.yml", "service": "s"}},
                          "b": {"build": {"context": "app", "dockerfile": "Dockerfile"}}, "c": {"build": "https://github.com/x/y.git"}},
             "configs": {"c": {"file": "./c.conf"}}}
            """), directory: "/proj")
        let a = try #require(rewritten["services"]?["a"])
        #expect(a["build"] == .string("/proj"))
        #expect(a["env_file"] == .array([.string("/proj/./a.env"), .string("/abs.env")]))
        #expect(a["volumes"]?.arrayValue?[0] == .string("/proj/./data:/data"))
        #expect(a["volumes"]?.arrayValue?[1] == .string("named:/x") && a["volumes"]?.arrayValue?[2] == .string("/host:/y"))
        #expect(a["volumes"]?.arrayValue?[3]["source"] == .string("/proj/conf") && a["volumes"]?.arrayValue?[4]["source"] == .string("v"))
        #expect(a["extends"]?["file"] == .string("/proj/base.yml"))
        #expect(rewritten["services"]?["b"]?["build"]?["context"] == .string("/proj/app"))
        #expect(rewritten["services"]?["c"]?["build"] == .string("https://github.com/x/y.git"))
        #expect(rewritten["configs"]?["c"]?["file"] == .string("/proj/./c.conf"))
    }

    @Test func theProjectNameIsComposes() throws {
        #expect(try ComposeProject.projectName(explicit: nil, environment: nil, documents: [], directory: "/home/me/My App.v2") == "myappv2")
        #expect(try ComposeProject.projectName(explicit: "Given", environment: "env", documents: [], directory: "/x") == "given")
        #expect(try ComposeProject.projectName(explicit: nil, environment: "from_env", documents: [], directory: "/x") == "from_env")
        #expect(try ComposeProject.projectName(explicit: nil, environment: nil, documents: [try document(#"{"name": "named"}"#)], directory: "/x") == "named")
        #expect(throws: ComposeProject.Invalid.self) { try ComposeProject.projectName(explicit: "!!!", environment: nil, documents: [], directory: "/x") }
    }
}
