import Crypto
import Launcher
import Namespaces
import SecretStore
import Testing

/// The store seals through BoringSSL's C API; these check it against swift-crypto's AES.GCM,
/// which sealed every store written before, in both directions, and that nothing forged opens.
@Suite struct SealingTests {
    static let key = System.randomBytes(32)
    static let associatedData = Array("secretshim/v1\0id\0name\01".utf8)

    @Test(arguments: [0, 1, 15, 16, 17, 4096, 511_999])
    func agreesWithSwiftCrypto(size: Int) throws {
        let plaintext = System.randomBytes(size)
        let ours = try #require(AESGCM.seal(plaintext, key: Self.key, associatedData: Self.associatedData))
        #expect(ours.count == 12 + size + 16)
        let opened = try AES.GCM.open(
            AES.GCM.SealedBox(combined: ours), using: SymmetricKey(data: Self.key), authenticating: Self.associatedData)
        #expect(Array(opened) == plaintext)

        let theirs = try #require(
            AES.GCM.seal(plaintext, using: SymmetricKey(data: Self.key), authenticating: Self.associatedData).combined)
        #expect(AESGCM.open(Array(theirs), key: Self.key, associatedData: Self.associatedData) == plaintext)
    }

    @Test func freshNonceEachTime() throws {
        let a = try #require(AESGCM.seal([1, 2, 3], key: Self.key, associatedData: []))
        let b = try #require(AESGCM.seal([1, 2, 3], key: Self.key, associatedData: []))
        #expect(a[..<12] != b[..<12])
        #expect(a != b)
    }

    @Test func nothingForgedOpens() throws {
        let sealed = try #require(AESGCM.seal(Array("s3cret".utf8), key: Self.key, associatedData: Self.associatedData))
        for index in sealed.indices {
            var flipped = sealed
            flipped[index] ^= 0x01
            #expect(AESGCM.open(flipped, key: Self.key, associatedData: Self.associatedData) == nil, "byte \(index)")
        }
        var otherKey = Self.key
        otherKey[0] ^= 0x80
        #expect(AESGCM.open(sealed, key: otherKey, associatedData: Self.associatedData) == nil)
        #expect(AESGCM.open(sealed, key: Self.key, associatedData: Self.associatedData + [0]) == nil)
        #expect(AESGCM.open(Array(sealed.dropLast()), key: Self.key, associatedData: Self.associatedData) == nil)
        #expect(AESGCM.open(Array(sealed.prefix(27)), key: Self.key, associatedData: Self.associatedData) == nil)
        #expect(AESGCM.open([], key: Self.key, associatedData: []) == nil)
        #expect(AESGCM.open(sealed, key: Array(Self.key.prefix(16)), associatedData: Self.associatedData) == nil)
        #expect(AESGCM.seal([1], key: [], associatedData: []) == nil)
    }
}

/// `ps` and `secret rm` name a workload after its command when `--name` is not given.
@Suite struct WorkloadNameTests {
    @Test(arguments: [
        ("/usr/bin/redis-server", "redis-server"), ("nginx", "nginx"), ("/usr/bin/", "bin"), ("./a b", "ab"),
        ("", "workload"), ("/", "workload"), ("ünïcode", "ncode"), ("python3.11", "python3.11"), ("x/$%", "workload"),
    ])
    func namedAfterTheCommand(command: String, expected: String) {
        var plan = LaunchPlan()
        plan.command = [command]
        #expect(plan.workloadName == expected)
    }
}

/// `run` refuses a secret whose value some environment variable already holds.
@Suite struct EnvironmentLeakTests {
    @Test func findsTheVariableHoldingTheValue() {
        let secret = Array("hunter2\n".utf8)
        let longName = String(repeating: "N", count: 300)
        #expect(Environment.leakingVariable(of: secret, in: ["A=1", "PW=hunter2"]) == "PW")
        #expect(Environment.leakingVariable(of: secret, in: ["PW=hunter2\n"]) == "PW")
        #expect(Environment.leakingVariable(of: secret, in: ["\(longName)=hunter2"]) == longName)
        #expect(Environment.leakingVariable(of: secret, in: ["X=a=hunter2", "Y=hunter2"]) == "Y")
        #expect(Environment.leakingVariable(of: secret, in: ["PW=hunter22", "PW=hunter", "hunter2", "=hunter2x"]) == nil)
        #expect(Environment.leakingVariable(of: Array("\n".utf8), in: ["E=", "F=\n"]) == nil)
        #expect(Environment.leakingVariable(of: Array("ü=é".utf8), in: ["K=ü=é"]) == "K")
    }
}

/// `--env` and `env=VAR` replace a variable by its name: the bytes before the first '=', as
/// the kernel and getenv read them (the byte-level class of bugs fuzz/ found in the parsers).
@Suite struct EnvironmentSetTests {
    @Test func aVariableIsReplacedByItsName() {
        var environment = ["PATH=/bin", "X=\u{301}old", "XY=1", "NOEQUALS"]
        Environment.set("X=new", in: &environment)
        #expect(environment == ["PATH=/bin", "XY=1", "NOEQUALS", "X=new"])
        Environment.set("NOEQUALS", in: &environment)
        Environment.set("PATH=/usr/bin", in: &environment)
        #expect(environment == ["XY=1", "X=new", "NOEQUALS", "PATH=/usr/bin"])
    }
}
