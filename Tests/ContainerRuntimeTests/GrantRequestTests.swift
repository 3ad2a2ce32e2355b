import ContainerRuntime
import JSON
import Launcher
import Testing

/// The operator's signed request (`secretshim grant`) and how the runtime wrapper reads what an
/// engine hands it: nothing an image can write may pass for the operator's word.
@Suite struct GrantRequestTests {
    static let key = [UInt8](repeating: 7, count: 32)
    static let request = GrantRequest(
        entries: [.init(id: "es62ibgvpcp8gnq56m77m835d", spec: "db_pw,uid=999,mode=0400"), .init(id: "b1", spec: "tls.key")],
        expires: 2_000_000_000)

    @Test func aSignedRequestReadsBackWithoutCommas() throws {
        let text = try Self.request.signed(masterKey: Self.key)
        #expect(GrantRequest.isSigned(text))
        // Podman splits annotation values at commas; an environment variable takes anything.
        #expect(!text.contains(",") && !text.contains(";") && !text.contains(" ") && !text.contains("="))
        #expect(try GrantRequest.verify(text, masterKey: Self.key, now: 1_900_000_000) == Self.request)
        let forever = GrantRequest(entries: Self.request.entries, expires: nil)
        #expect(try GrantRequest.verify(try forever.signed(masterKey: Self.key), masterKey: Self.key, now: .max - 1) == forever)
    }

    /// A spec with Docker's quoting (a comma inside a target, a space, `""`) is signed as typed
    /// and reads back as the same grant: the request keeps it whole and free of commas.
    @Test func aQuotedSpecSurvivesSigning() throws {
        let spec = #"db_pw,"target=conf/a,b c ""x""",mode=0400"#
        let request = GrantRequest(entries: [.init(id: "es62ibgvpcp8gnq56m77m835d", spec: spec)], expires: nil)
        let text = try request.signed(masterKey: Self.key)
        #expect(!text.contains(","))
        let read = try GrantRequest.verify(text, masterKey: Self.key, now: 1)
        #expect(read.entries.map(\.spec) == [spec])
        let grant = try SecretGrant.parse(read.entries[0].spec, secretsDirectory: "/run/secrets")
        #expect(grant == SecretGrant(source: "db_pw", target: #"conf/a,b c "x""#, mode: 0o400))
    }

    @Test func everyAlteredCharacterIsRefused() throws {
        let text = Array(try Self.request.signed(masterKey: Self.key).utf8)
        for index in "ssgrant1.".utf8.count..<text.count {
            var altered = text
            altered[index] = altered[index] == UInt8(ascii: "A") ? UInt8(ascii: "B") : UInt8(ascii: "A")
            #expect(throws: GrantRequest.Failure.self) {
                try GrantRequest.verify(String(decoding: altered, as: UTF8.self), masterKey: Self.key, now: 1)
            }
        }
    }

    @Test func anotherStoresKeyAnExpiryAndJunkAreRefused() throws {
        let text = try Self.request.signed(masterKey: Self.key)
        #expect(throws: GrantRequest.Failure.forged) {
            try GrantRequest.verify(text, masterKey: [UInt8](repeating: 8, count: 32), now: 1)
        }
        #expect(throws: GrantRequest.Failure.expired(2_000_000_000)) {
            try GrantRequest.verify(text, masterKey: Self.key, now: 2_000_000_000)
        }
        for junk in ["db_pw", "ssgrant1.", "ssgrant1..", "ssgrant1.abc", "ssgrant1.!!.??", text + ".x", "ssgrant1" + text.dropFirst(9)] {
            #expect(throws: GrantRequest.Failure.self) { try GrantRequest.verify(junk, masterKey: Self.key, now: 1) }
        }
        let control = GrantRequest(entries: [.init(id: "a", spec: "x\ntarget=y")], expires: nil)
        #expect(throws: GrantRequest.Failure.self) { try control.signed(masterKey: Self.key) }
    }

    @Test(arguments: [("90s", Int64(90)), ("10m", 600), ("1h30m", 5400), ("7d", 604_800), ("1d2h3m4s", 93784)])
    func durationsParse(text: String, seconds: Int64) {
        #expect(GrantRequest.parseDuration(text) == seconds)
    }

    @Test(arguments: ["", "0s", "5", "m", "1x", "-1h", "1h-", "99999999999999999999s", "1.5h"])
    func badDurationsAreRefused(text: String) {
        #expect(GrantRequest.parseDuration(text) == nil)
    }

    // MARK: config.json as runc reads it

    func config(_ text: String) throws -> ContainerConfig { ContainerConfig(try JSONValue.parse(Array(text.utf8))) }

    @Test func structKeysMatchAsGoMatchesThemAndTheLastWins() throws {
        // encoding/json: "Process", "ENV" and "proceſs" (long s) are runc's process and env.
        let cased = try config(#"{"Process":{"ENV":["A=1","SECRETSHIM_SECRETS=x"]}}"#)
        #expect(cased.requestedSpecs == "x")
        let longS = try config(#"{"proce\u017fs":{"env":["SECRETSHIM_SECRETS=y"]}}"#)
        #expect(longS.requestedSpecs == "y")
        let twice = try config(#"{"process":{"env":["SECRETSHIM_SECRETS=first"]},"PROCESS":{"env":["SECRETSHIM_SECRETS=last"]}}"#)
        #expect(twice.requestedSpecs == "last")
        var removed = twice
        removed.removeRequestVariable()
        #expect(removed.requestedSpecs == nil)
        #expect(!String(decoding: removed.document.serialized(), as: UTF8.self).contains("SECRETSHIM_SECRETS"))
        // Map keys are exact: an annotation spelled otherwise is no request.
        #expect(try config(#"{"annotations":{"ORG.secretshim.secrets":"a"}}"#).requestedSpecs == nil)
        #expect(try config(#"{"Annotations":{"org.secretshim.secrets":"a"}}"#).requestedSpecs == "a")
    }

    @Test func aKeyRepeatedInOneObjectIsFound() throws {
        // Go merges {"linux":{A},"linux":{B}} field by field: reading only the last would miss A.
        #expect(try JSONValue.parse(Array(#"{"linux":{"rootfsPropagation":"rshared"},"linux":{}}"#.utf8)).repeatedKey == "linux")
        #expect(try JSONValue.parse(Array(#"{"a":[{"x":1,"X":2}]}"#.utf8)).repeatedKey == "X")
        #expect(try JSONValue.parse(Array(#"{"annotations":{"k":"1","k":"2"}}"#.utf8)).repeatedKey == "k")
        #expect(try JSONValue.parse(Array(#"{"process":{"env":[]},"linux":{"x":{"y":1}}}"#.utf8)).repeatedKey == nil)
    }

    @Test func detachIsReadAsRuncReadsABoolean() {
        for (flag, detached) in [("--detach", true), ("--detach=1", true), ("--detach=t", true), ("-d=TRUE", true),
                                 ("--detach=false", false), ("--detach=0", false), ("--detach=no", false)] {
            let call = RuntimeCommandLine(["run", flag, "--bundle", "b", "id"]).containerCall()
            #expect(call?.detach == detached, "\(flag)")
        }
    }

    @Test func aRawMentionOrAnEscapeMeansTheConfigIsRead() {
        #expect(ContainerConfig.mightRequestSecrets(Array(#"{"process":{"env":["SECRETSHIM_SECRETS=a"]}}"#.utf8)))
        #expect(ContainerConfig.mightRequestSecrets(Array(#"{"process":{"env":["SECRETSHIM\u005fSECRETS=a"]}}"#.utf8)))
        #expect(!ContainerConfig.mightRequestSecrets(Array(#"{"process":{"env":["PATH=/bin"]}}"#.utf8)))
    }

    @Test func podmansSplitAnnotationsAreSeen() throws {
        let split = try config(#"{"annotations":{"org.secretshim.secrets":"pw","uid":"999","Mode":"0400","io.podman.x":"1"}}"#)
        #expect(split.strayGrantFields == ["uid", "Mode"])
        #expect(try config(#"{"annotations":{"org.secretshim.secrets":"pw"}}"#).strayGrantFields == [])
    }

    @Test(arguments: [
        (#"{"linux":{"rootfsPropagation":"rshared"}}"#, true),
        (#"{"linux":{"rootfsPropagation":"rslave"}}"#, false),
        (#"{"linux":{"rootfsPropagation":"rprivate"}}"#, false),
        (#"{}"#, false),
        // Not recursive: mounts below the root stay the host's peers (a fresh-eyes finding).
        (#"{"linux":{"rootfsPropagation":"private"}}"#, true),
        (#"{"linux":{"rootfsPropagation":"slave"}}"#, true),
        (#"{"mounts":[{"destination":"/run","options":["rbind","rshared"]}]}"#, true),
        (#"{"mounts":[{"destination":"//run/","options":["shared"]}]}"#, true),
        (#"{"mounts":[{"destination":"/","options":["rshared"]}]}"#, true),
        (#"{"mounts":[{"destination":"/data","options":["rshared"]}]}"#, false),
        (#"{"mounts":[{"destination":"/run","options":["rprivate"]}]}"#, false),
    ])
    func sharedPropagationAboveTheSecretsIsSeen(text: String, shared: Bool) throws {
        #expect((try config(text).sharedPropagation() != nil) == shared)
    }

    /// Above a target outside /run/secrets too.
    @Test func sharedPropagationAboveAnOutsideTargetIsSeen() throws {
        let config = try config(#"{"mounts":[{"destination":"/etc/app","options":["rbind","rshared"]}]}"#)
        #expect(config.sharedPropagation() == nil)
        #expect(config.sharedPropagation(aboveSecretsAnd: ["/etc/app/site.conf"]) != nil)
        #expect(config.sharedPropagation(aboveSecretsAnd: ["/etc/application.conf"]) == nil)
    }

    @Test func secretshimsOwnRuntimeFlagsNeverReachRunc() throws {
        let (flags, rest) = try RuntimeCommandLine.peelSecretshimFlags([
            "--secretshim-grant", "pw,mode=0400", "--root", "/run/docker/runtime-runc/moby", "--secretshim-grant=tls.key",
            "--secretshim-root=/srv/s", "--log", "/x.log", "--secretshim-state-dir", "/run/s", "create", "--bundle", "b",
            "--secretshim-grant", "not-a-global-flag", "id",
        ])
        #expect(flags.grants == ["pw,mode=0400", "tls.key"])
        #expect(flags.root == "/srv/s" && flags.stateDirectory == "/run/s" && flags.keyFile == nil)
        #expect(rest == ["--root", "/run/docker/runtime-runc/moby", "--log", "/x.log", "create", "--bundle", "b", "--secretshim-grant", "not-a-global-flag", "id"])
        #expect(throws: RuntimeError.self) { try RuntimeCommandLine.peelSecretshimFlags(["--secretshim-grant"]) }
        // An etcd store, as Podman's --runtime-flag passes it (conmon passes no environment on).
        let (etcd, runc) = try RuntimeCommandLine.peelSecretshimFlags([
            "--secretshim-store=etcd://10.0.0.1:2379/p", "--secretshim-etcd-cacert=/e/ca.pem", "--secretshim-etcd-cert", "/e/n.pem",
            "--secretshim-etcd-key=/e/n-key.pem", "--root", "/r", "delete", "id",
        ])
        #expect(etcd.store == "etcd://10.0.0.1:2379/p" && etcd.etcdCACertificate == "/e/ca.pem")
        #expect(etcd.etcdCertificate == "/e/n.pem" && etcd.etcdKey == "/e/n-key.pem")
        #expect(runc == ["--root", "/r", "delete", "id"])
        #expect(throws: RuntimeError.self) { try RuntimeCommandLine.peelSecretshimFlags(["--secretshim-etcd-keys=/k", "delete", "id"]) }
    }
}
