import Foundation
import Launcher
import Testing

/// Docker's `--secret` grammar and SPEC.md's refusals, as pure logic.
@Suite struct GrantParsingTests {
    static let accepted: [(String, SecretGrant)] = [
        ("db", SecretGrant(source: "db", target: "db")),
        ("db,target=pw", SecretGrant(source: "db", target: "pw")),
        ("source=db,target=sub/dir/pw", SecretGrant(source: "db", target: "sub/dir/pw")),
        ("src=db", SecretGrant(source: "db", target: "db")),
        ("SRC=db,TARGET=x", SecretGrant(source: "db", target: "x")),
        ("db,mode=400", SecretGrant(source: "db", target: "db", mode: 0o400)),
        ("db,mode=0400", SecretGrant(source: "db", target: "db", mode: 0o400)),
        ("db,mode=0", SecretGrant(source: "db", target: "db", mode: 0)),
        ("db,mode=777", SecretGrant(source: "db", target: "db", mode: 0o777)),
        ("db,uid=1000,gid=2000", SecretGrant(source: "db", target: "db", uid: 1000, gid: 2000)),
        ("db,uid=4294967294,gid=0", SecretGrant(source: "db", target: "db", uid: 4_294_967_294)),
        ("db,target=/run/secrets/a/b", SecretGrant(source: "db", target: "a/b")),
        ("db,target=./a//b", SecretGrant(source: "db", target: "a/b")),
        // Outside the secrets dir: an absolute path of the workload's root, normalized.
        ("db,target=/etc/nginx/conf.d/site.conf", SecretGrant(source: "db", target: "/etc/nginx/conf.d/site.conf")),
        ("db,target=//etc/./x/", SecretGrant(source: "db", target: "/etc/x")),
        ("db,target=/run/secretsX/a", SecretGrant(source: "db", target: "/run/secretsX/a")),
        ("db,target=/run/secrets.d", SecretGrant(source: "db", target: "/run/secrets.d")),
        // Another spelling of the secrets dir is the secrets dir (a fresh-eyes finding).
        ("db,target=//run/secrets/x", SecretGrant(source: "db", target: "x")),
        ("db,target=/run/./secrets//a/./b", SecretGrant(source: "db", target: "a/b")),
        ("db,env=DB_PASSWORD_FILE", SecretGrant(source: "db", target: "db", environmentVariable: "DB_PASSWORD_FILE")),
        ("db,type=file", SecretGrant(source: "db", target: "db")),
        ("db,target=ключ,mode=400", SecretGrant(source: "db", target: "ключ", mode: 0o400)),
        ("db,target=e\u{301}/x,uid=1", SecretGrant(source: "db", target: "e\u{301}/x", uid: 1)),
        ("db,target=..a", SecretGrant(source: "db", target: "..a")),
        ("db,target=" + String(repeating: "x", count: 255), SecretGrant(source: "db", target: String(repeating: "x", count: 255))),
    ]

    @Test(arguments: accepted)
    func accepts(spec: String, expected: SecretGrant) throws {
        #expect(try SecretGrant.parse(spec, secretsDirectory: "/run/secrets") == expected)
    }

    static let refused: [(String, String)] = [
        ("", "empty"),
        ("db,mode=999", "invalid mode"),
        ("db,mode=1000", "invalid mode"),
        ("db,mode=04755", "invalid mode"),
        ("db,mode=0x1ff", "invalid mode"),
        ("db,mode=", "invalid mode"),
        ("db,mode=-1", "invalid mode"),
        ("db,uid=-1", "invalid uid"),
        ("db,uid=1root", "invalid uid"),
        ("db,gid=a b", "invalid gid"),
        ("db,uid=" + String(repeating: "u", count: 33), "invalid uid"),
        ("db,gid=99999999999", "invalid gid"),
        ("db,uid=4294967295", "invalid uid"),
        ("db,uid=18446744073709551626", "invalid uid"),
        ("db,uid=+5", "invalid uid"),
        ("db,uid= 5", "invalid uid"),
        ("db,uid=", "invalid uid"),
        ("db,mode=４００", "invalid mode"),
        ("db,mode=00400", "invalid mode"),
        ("db,", "must be a key=value pair"),
        ("db,,mode=400", "must be a key=value pair"),
        (",db", "must be a key=value pair"),
        ("db,target=../etc/passwd", "'..'"),
        ("db,target=a/../../b", "'..'"),
        ("db,target=/", "names no file"),
        ("db,target=//run/secrets/", "names no file"),
        ("db,target=/run/./secrets", "names no file"),
        ("db,target=//.", "names no file"),
        ("db,target=/etc/../passwd", "'..'"),
        ("db,target=/etc/" + String(repeating: "x", count: 256), "longer than 255 bytes"),
        ("db,target=" + String(repeating: "/x", count: 2048), "longer than a path can be"),
        ("db,target=/run/secrets", "names no file"),
        ("db,target=", "names no file"),
        ("db,target=.", "names no file"),
        ("db,target=..", "'..'"),
        ("db,target=" + String(repeating: "x", count: 256), "longer than 255 bytes"),
        ("db,\u{301}target=x", "unknown key"),
        ("db,type=env", "type=env is refused"),
        ("db,type=volume", "unknown type"),
        ("db,colour=red", "unknown key"),
        ("db,other", "must be a key=value pair"),
        ("target=x", "no source"),
        ("db,source=other", "given twice"),
        ("db,target=a,target=b", "given twice"),
        ("bad name", "invalid secret name"),
        ("db,env=1BAD", "invalid env"),
        ("db,env=A-B", "invalid env"),
    ]

    @Test(arguments: refused)
    func refuses(spec: String, message: String) {
        #expect {
            try SecretGrant.parse(spec, secretsDirectory: "/run/secrets")
        } throws: { error in
            "\(error)".contains(message)
        }
    }

    /// Docker reads a spec as one CSV record (Go's encoding/csv): a quoted field may hold
    /// commas, and `""` inside it is one quote.
    static let quoted: [(String, SecretGrant)] = [
        (#""source=v","target=x,y""#, SecretGrant(source: "v", target: "x,y")),
        (#"db,"target=a,b""#, SecretGrant(source: "db", target: "a,b")),
        (#""db""#, SecretGrant(source: "db", target: "db")),
        (#""db",target=t"#, SecretGrant(source: "db", target: "t")),
        (#"db,"target=sub/a,b/c",uid=5,"mode=0400""#, SecretGrant(source: "db", target: "sub/a,b/c", uid: 5, mode: 0o400)),
        (#"db,"target=say ""hi""""#, SecretGrant(source: "db", target: #"say "hi""#)),
        (#"db,"target=""""#, SecretGrant(source: "db", target: #"""#)),
        (#"db,"TARGET=ключ,x""#, SecretGrant(source: "db", target: "ключ,x")),
        (#""src=db","target=/run/secrets/a,b""#, SecretGrant(source: "db", target: "a,b")),
        (#""db","target=a;b""#, SecretGrant(source: "db", target: "a;b")),
    ]

    @Test(arguments: quoted)
    func acceptsDockersQuoting(spec: String, expected: SecretGrant) throws {
        #expect(try SecretGrant.parse(spec, secretsDirectory: "/run/secrets") == expected)
    }

    static let badlyQuoted: [(String, String)] = [
        // Go's ErrBareQuote: a quote in a field that does not start with one.
        (#"db,target="a,b""#, "bare quote in an unquoted field of 'db,target=\"a,b\"' (byte 11)"),
        (#"db,target=a"b"#, "bare quote"),
        (#"db, "target=a""#, "bare quote"),
        // Go's ErrQuote: a quoted field that does not end at its closing quote, or never closes.
        (#""db"x,target=y"#, "closes at byte 4 without ending there"),
        (#""db" ,target=y"#, "without ending there"),
        (#""db"#, "the quoted field opened at byte 1 of '\"db' is not closed"),
        (#"db,"target=a"""#, "is not closed"),
        (#"db,""#, "is not closed"),
        // Quoting changes how fields are cut, not what a field may say.
        (#""db,x""#, "invalid secret name 'db,x'"),
        (#"db,"""#, "must be a key=value pair"),
        (#""target=x",db"#, "must be a key=value pair"),
        (#"db,"target=a,b","target=c""#, "given twice"),
        (#"db,"target=../a,b""#, "'..'"),
        (#"db,"colour=a,b""#, "unknown key"),
        (#""",db"#, "must be a key=value pair"),
    ]

    @Test(arguments: badlyQuoted)
    func refusesMalformedQuoting(spec: String, message: String) {
        #expect {
            try SecretGrant.parse(spec, secretsDirectory: "/run/secrets")
        } throws: { error in
            "\(error)".contains(message) && !"\(error)".contains("\n")
        }
    }

    @Test func duplicateAndConflictingTargetsAreRefused() throws {
        let a = try SecretGrant.parse("x,target=a", secretsDirectory: "/run/secrets")
        let a2 = try SecretGrant.parse("y,target=/run/secrets/a", secretsDirectory: "/run/secrets")
        let ab = try SecretGrant.parse("y,target=a/b", secretsDirectory: "/run/secrets")
        #expect(throws: GrantError.self) { try SecretGrant.checkTargets([a, a2]) }
        #expect(throws: GrantError.self) { try SecretGrant.checkTargets([ab, a]) }
        try SecretGrant.checkTargets([a, try SecretGrant.parse("y,target=b/a", secretsDirectory: "/run/secrets")])
        // Hundreds of grants take the Set path, with the same rules.
        let many = try (0..<200).map { try SecretGrant.parse("s\($0),target=d/\($0)", secretsDirectory: "/run/secrets") }
        try SecretGrant.checkTargets(many)
        #expect(throws: GrantError.self) { try SecretGrant.checkTargets(many + [many[7]]) }
        #expect(throws: GrantError.self) { try SecretGrant.checkTargets(many + [try SecretGrant.parse("z,target=d", secretsDirectory: "/run/secrets")]) }
        #expect(throws: GrantError.self) { try SecretGrant.checkTargets(many + [try SecretGrant.parse("z,target=d/5/x", secretsDirectory: "/run/secrets")]) }
        // Outside the secrets dir: the same rules on absolute paths; a relative `etc/x` is
        // another file (under the secrets dir) than `/etc/x`.
        func parsed(_ spec: String) throws -> SecretGrant { try SecretGrant.parse(spec, secretsDirectory: "/run/secrets") }
        #expect(throws: GrantError.self) { try SecretGrant.checkTargets([try parsed("x,target=/etc/a"), try parsed("y,target=//etc/a")]) }
        #expect(throws: GrantError.self) { try SecretGrant.checkTargets([try parsed("x,target=/etc/a/b"), try parsed("y,target=/etc/a")]) }
        try SecretGrant.checkTargets([try parsed("x,target=/etc/a"), try parsed("y,target=etc/a"), try parsed("z,target=etc/a2")])
        #expect(try parsed("x,target=/etc/a").isOutside && !(try parsed("x,target=/run/secrets/etc/a").isOutside))
    }

    /// `uid=NAME`/`gid=NAME` (as Podman and Compose allow), looked up in the workload's root.
    @Test func ownerNamesAreLookedUpInTheRoot() throws {
        let grant = try SecretGrant.parse("db,uid=postgres,gid=ssl-cert,mode=0400", secretsDirectory: "/run/secrets")
        #expect(grant.uidName == "postgres" && grant.gidName == "ssl-cert" && grant.uid == 0 && grant.gid == 0)
        let root = "/tmp/secretshim-owner-names-\(getpid())"
        defer { _ = try? FileManager.default.removeItem(atPath: root) }
        try FileManager.default.createDirectory(atPath: root + "/etc", withIntermediateDirectories: true)
        try "root:x:0:0::/root:/bin/sh\npostgres:x:105:110::/var/lib/postgresql:/bin/bash\n".write(toFile: root + "/etc/passwd", atomically: true, encoding: .utf8)
        try "root:x:0:\nssl-cert:x:111:postgres\n".write(toFile: root + "/etc/group", atomically: true, encoding: .utf8)
        let resolved = try SecretGrant.resolvingOwners([grant, try SecretGrant.parse("b,uid=7", secretsDirectory: "/run/secrets")], root: root)
        #expect(resolved[0].uid == 105 && resolved[0].gid == 111 && resolved[0].uidName == nil && resolved[0].gidName == nil)
        #expect(resolved[1].uid == 7)
        let missing = try SecretGrant.parse("db,uid=mysql", secretsDirectory: "/run/secrets")
        let error = #expect(throws: GrantError.self) { try SecretGrant.resolvingOwners([missing], root: root) }
        #expect(error?.description.contains("unable to find user mysql") == true)
        // Without a name, the root's files are not read at all (a root without them is fine).
        #expect(try SecretGrant.resolvingOwners([resolved[1]], root: "/nonexistent") == [resolved[1]])
    }

    @Test func tmpfsSizeCoversTheSecretsAndIsAtLeastOneMiB() {
        #expect(LaunchPlan.tmpfsSize(forSecretSizes: [10]) == 1 << 20)
        let big = LaunchPlan.tmpfsSize(forSecretSizes: Array(repeating: 511_999, count: 10))
        #expect(big >= 10 * 512_000)
    }
}
