import ContainerRuntime
import JSON
import Launcher
import Testing

/// The runtime wrapper's reading of an engine's input: runc's command line and config.json.
@Suite struct RuntimeParsingTests {
    // MARK: JSON kept as written

    @Test func aConfigSurvivesARoundTripByteForByte() throws {
        let text = #"{"ociVersion":"1.0.2","process":{"args":["sh","-c","echo \"hi\"\n"],"env":["A=\u00e9"]},"#
            + #""linux":{"seccomp":{"syscalls":[{"names":["ptrace"],"args":[{"index":0,"value":18446744073709551615,"op":"SCMP_CMP_EQ"}]}]}},"#
            + #""x":[1.5e-3,-0,true,false,null,{},[]],"z":"\ud83d\ude00 \/ \t"}"#
        let value = try JSONValue.parse(Array(text.utf8))
        let written = String(decoding: value.serialized(), as: UTF8.self)
        // Numbers keep their text (a 64-bit seccomp value is no double); keys keep their order.
        #expect(written.contains("18446744073709551615"))
        #expect(written.contains("[1.5e-3,-0,true,false,null,{},[]]"))
        #expect(written.hasPrefix(#"{"ociVersion":"1.0.2","process":"#))
        #expect(try JSONValue.parse(value.serialized()) == value)
        #expect(value["z"]?.stringValue == "😀 / \t")
        #expect(value["process"]?["env"]?.arrayValue?.first?.stringValue == "A=é")
    }

    @Test(arguments: [
        "", "{", "{\"a\":}", "[1,]", "{\"a\" 1}", "\"\\x\"", "\"\\ud800\"", "01", "1.", "tru", "{} x", "\"a\nb\"",
        String(repeating: "[", count: 600) + String(repeating: "]", count: 600),
    ])
    func malformedJSONIsRefused(text: String) {
        #expect(throws: JSONSyntaxError.self) { try JSONValue.parse(Array(text.utf8)) }
    }

    // MARK: runc's command line

    @Test func dockersCreateIsUnderstood() {
        let line = RuntimeCommandLine([
            "--root", "/run/docker/runtime-runc/moby", "--log", "/b/log.json", "--log-format", "json",
            "create", "--bundle", "/b", "--pid-file", "/b/init.pid", "abc",
        ])
        #expect(line.command == "create")
        #expect(line.root == "/run/docker/runtime-runc/moby")
        #expect(line.log == "/b/log.json" && line.logFormat == "json")
        let call = line.containerCall()
        #expect(call?.id == "abc" && call?.bundle == "/b" && call?.pidFile == "/b/init.pid")
    }

    @Test func flagsInEveryShapeAreUnderstood() {
        let line = RuntimeCommandLine(["-root=/r", "--debug", "--systemd-cgroup", "run", "-b", "/b", "--detach", "--no-pivot", "id1"])
        #expect(line.root == "/r" && line.command == "run")
        let call = line.containerCall()
        #expect(call?.id == "id1" && call?.bundle == "/b" && call?.detach == true && call?.pidFile == nil)
        #expect(line.addingPidFile("/p", before: call!) == ["-root=/r", "--debug", "--systemd-cgroup", "run", "-b", "/b", "--detach", "--no-pivot", "--pid-file", "/p", "id1"])
        #expect(RuntimeCommandLine(["--version"]).command == nil)
        #expect(RuntimeCommandLine(["create", "--bundle", "/b"]).containerCall() == nil)
        #expect(RuntimeCommandLine(["delete", "--force", "x"]).containerCall()?.id == "x")
        // exec: the process file is a flag before the ID; after the ID is the command's own.
        let exec = RuntimeCommandLine(["exec", "--cwd", "/", "--process", "/s/p.json", "--detach", "id2", "mkdir", "-p", "x"]).containerCall()
        #expect(exec?.id == "id2" && exec?.processFile == "/s/p.json")
        #expect(RuntimeCommandLine(["exec", "-t", "id3", "mkdir", "-p", "x"]).containerCall()?.processFile == nil)
    }

    /// Found by fuzz/ (runtime-command-line): after a `--` that ends the flags, the added
    /// `--pid-file` was read as the container ID. It goes before the `--`; a `--` that is a
    /// flag's value is no end of the flags.
    @Test func thePidFileGoesBeforeTheFlagsEnd() {
        let line = RuntimeCommandLine(["create", "--bundle", "/b", "--", "id1"])
        let call = line.containerCall()!
        let changed = line.addingPidFile("/p", before: call)
        #expect(changed == ["create", "--bundle", "/b", "--pid-file", "/p", "--", "id1"])
        #expect(RuntimeCommandLine(changed).containerCall()?.id == "id1" && RuntimeCommandLine(changed).containerCall()?.pidFile == "/p")
        let fuzzed = RuntimeCommandLine(["", "--", "-(-", "", "-(-"])
        let fuzzedCall = fuzzed.containerCall()!
        #expect(RuntimeCommandLine(fuzzed.addingPidFile("/p", before: fuzzedCall)).containerCall()?.id == "-(-")
        let valued = RuntimeCommandLine(["create", "--bundle", "--", "id2"])
        let valuedCall = valued.containerCall()!
        #expect(valuedCall.bundle == "--" && valuedCall.id == "id2")
        #expect(valued.addingPidFile("/p", before: valuedCall) == ["create", "--bundle", "--", "--pid-file", "/p", "id2"])
    }

    /// Found by fuzz/ (runtime-command-line): flags are cut on bytes, as Go's flag package
    /// cuts them. As Characters, a '-' or '=' with a combining mark on it was none: the flag
    /// was read as the command word, or by another name than runc reads.
    @Test func flagsAreCutOnBytes() throws {
        let line = RuntimeCommandLine(["--root=\u{301}r", "-\u{301}x", "create", "--bundle=\u{301}b", "id"])
        #expect(line.root == "\u{301}r" && line.command == "create")
        #expect(line.containerCall()?.bundle == "\u{301}b" && line.containerCall()?.id == "id")
        let (flags, rest) = try RuntimeCommandLine.peelSecretshimFlags(["--secretshim-grant=\u{301}db", "--secretshim-root=/s", "create", "id"])
        #expect(flags.grants == ["\u{301}db"] && flags.root == "/s" && rest == ["create", "id"])
    }

    // MARK: config.json

    func config(_ text: String) throws -> ContainerConfig { ContainerConfig(try JSONValue.parse(Array(text.utf8))) }

    @Test func theAnnotationWinsAndTheVariableIsAlwaysTakenOut() throws {
        var both = try config(#"{"process":{"env":["PATH=/bin","SECRETSHIM_SECRETS=b"]},"annotations":{"org.secretshim.secrets":"a;c,target=d"}}"#)
        #expect(both.requestedSpecs == "a;c,target=d")
        both.removeRequestVariable()
        #expect(both.document["process"]?["env"] == .array([.string("PATH=/bin")]))
        let variable = try config(#"{"process":{"env":["SECRETSHIM_SECRETS=b,mode=0400"]}}"#)
        #expect(variable.requestedSpecs == "b,mode=0400")
        #expect(try config(#"{"process":{"env":["PATH=/bin"]}}"#).requestedSpecs == nil)
        #expect(!ContainerConfig.mightRequestSecrets(Array(#"{"process":{"env":["PATH=/bin"]}}"#.utf8)))
    }

    /// Found by fuzz/ (oci-config): the request variable is found, and taken out, on bytes.
    /// As Characters, a value starting with a combining mark hid it from the wrapper, and it
    /// reached the container.
    @Test func theVariableIsMatchedOnBytes() throws {
        var hidden = try config(#"{"process":{"env":["PATH=/bin","SECRETSHIM_SECRETS=\u0301db"]}}"#)
        #expect(hidden.requestedSpecs == "\u{301}db")
        hidden.removeRequestVariable()
        #expect(hidden.document["process"]?["env"] == .array([.string("PATH=/bin")]))
    }

    @Test func specsAreRunsSpecsSeparatedBySemicolons() throws {
        let grants = try ContainerConfig.grants(" a ; b,target=x/y,uid=5,mode=0400;")
        #expect(grants.map(\.target) == ["a", "x/y"])
        #expect(grants[1].uid == 5 && grants[1].mode == 0o400)
        #expect(throws: GrantError.self) { try ContainerConfig.grants("a;a") }
        #expect(try ContainerConfig.grants("a,target=/etc/x").map(\.target) == ["/etc/x"])
        #expect(throws: GrantError.self) { try ContainerConfig.grants("a,target=/etc/x;b,target=/etc/x") }
        #expect(throws: GrantError.self) { try ContainerConfig.grants("a,type=env") }
    }

    /// A `;` inside a quoted field is part of that spec, not a separator.
    @Test func aQuotedSemicolonStaysInItsSpec() throws {
        let grants = try ContainerConfig.grants(#"a,"target=x;y,z" ; "src=b","target=say ""hi;"""; c"#)
        #expect(grants.map(\.source) == ["a", "b", "c"])
        #expect(grants.map(\.target) == ["x;y,z", #"say "hi;""#, "c"])
        #expect(throws: GrantError.self) { try ContainerConfig.grants(#"a,"target=x;b"#) }
    }

    /// Found by fuzz/ (secret-spec): an absolute target is matched against the secrets dir on
    /// bytes. As Characters, "/run/secrets/" followed by a combining mark was no prefix (a
    /// target written relative was refused written absolute), and "/" followed by one was no
    /// absolute path (it escaped the check that an absolute target lies in the secrets dir).
    @Test func absoluteTargetsAreMatchedOnBytes() throws {
        let relative = try SecretGrant.parse("s_key,target=\u{591} /key.pem", secretsDirectory: "/run/secrets")
        let absolute = try SecretGrant.parse("s_key,target=/run/secrets/\u{591} /key.pem", secretsDirectory: "/run/secrets")
        #expect(relative.target == "\u{591} /key.pem" && absolute == relative)
        #expect(try SecretGrant.parse("db,target=/run/secrets/e\u{301}", secretsDirectory: "/run/secrets/").target == "e\u{301}")
        // Outside the secrets dir, kept as the bytes given: a path of the workload's root.
        #expect(try SecretGrant.parse("db,target=/\u{301}etc/x", secretsDirectory: "/run/secrets").target == "/\u{301}etc/x")
        // Canonically equal, but other bytes: another folder to the kernel, so outside.
        #expect(try SecretGrant.parse("db,target=/srv/cafe\u{301}/x", secretsDirectory: "/srv/caf\u{e9}").isOutside)
        let grants = try ContainerConfig.grants("s_key,target=\u{591} /key.pem,mode=040\t")
        #expect(grants == [SecretGrant(source: "s_key", target: "\u{591} /key.pem", mode: 0o40)])
    }

    @Test func theMountGoesLastReadOnly() throws {
        var config = try config(#"{"mounts":[{"destination":"/run","type":"tmpfs"}]}"#)
        config.addSecretsMount(source: "/run/secretshim/containers/c1")
        let mounts = config.document["mounts"]?.arrayValue ?? []
        #expect(mounts.count == 2)
        #expect(mounts[1]["destination"]?.stringValue == "/run/secrets")
        #expect(mounts[1]["options"]?.arrayValue?.compactMap(\.stringValue) == ["rbind", "ro", "nosuid", "nodev", "noexec"])
    }

    @Test func ownersAreMappedThroughAUserNamespace() throws {
        let mapped = try config(#"""
            {"linux":{"namespaces":[{"type":"mount"},{"type":"user"}],
             "uidMappings":[{"containerID":0,"hostID":100000,"size":1000},{"containerID":1000,"hostID":5000,"size":1}],
             "gidMappings":[{"containerID":0,"hostID":200000,"size":65536}]}}
            """#).idMappings
        #expect(mapped.uid.hostID(for: 0) == 100000)
        #expect(mapped.uid.hostID(for: 999) == 100999)
        #expect(mapped.uid.hostID(for: 1000) == 5000)
        #expect(mapped.uid.hostID(for: 1001) == nil)
        #expect(mapped.gid.hostID(for: 70000) == nil)
        // Mappings without a user namespace of its own mean nothing.
        let plain = try config(#"{"linux":{"uidMappings":[{"containerID":0,"hostID":100000,"size":1}]}}"#).idMappings
        #expect(plain.uid.hostID(for: 1234) == 1234)
    }
}
