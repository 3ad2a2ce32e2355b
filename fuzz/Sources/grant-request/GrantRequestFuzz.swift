// Signed grant requests (`ssgrant1.<payload>.<tag>`): GrantRequest.verify and its base64url,
// with a forger that holds no key and a signer that does, and parseDuration (`grant --expires`).
import Crypto
import FuzzSupport
import Launcher

@testable import ContainerRuntime

/// The store's master key in these runs.
let masterKey: [UInt8] = (0..<32).map { UInt8($0) &* 7 &+ 3 }
let now: Int64 = 1_800_000_000

@_cdecl("LLVMFuzzerInitialize")
public func initializeGrantRequest(_ argc: UnsafeMutablePointer<Int32>, _ argv: UnsafeMutablePointer<UnsafeMutablePointer<UnsafeMutablePointer<CChar>?>?>) -> Int32 {
    writeSeedsIfAsked {
        let requests = [
            GrantRequest(entries: [.init(id: "es62ibgvpcp8gnq56m77m835d", spec: "db_pw")], expires: nil),
            GrantRequest(
                entries: [
                    .init(id: "0123456789abcdefghijklmno", spec: "source=tls_key,target=tls/key.pem,uid=999,gid=999,mode=0400"),
                    .init(id: "pqrstuvwxyz0123456789abcd", spec: "api_token,env=API_TOKEN_FILE"),
                ], expires: 1_900_000_000),
            GrantRequest(entries: [.init(id: "zzzzzzzzzzzzzzzzzzzzzzzzz", spec: "old")], expires: 1_700_000_000),
        ]
        var seeds: [(name: String, bytes: [UInt8])] = []
        for (index, request) in requests.enumerated() {
            // Mode 0: the signed text as an image or engine would hand it over.
            seeds.append(("signed-\(index)", [0] + Array(try! request.signed(masterKey: masterKey).utf8)))
            // Mode 1: the payload, which this target signs itself.
            seeds.append(("payload-\(index)", [1] + request.payload()))
        }
        seeds.append(("entries", [2, 0x80] + Array("es62ibgvpcp8gnq56m77m835d\0db_pw\0".utf8)))
        seeds.append(("duration", [3] + Array("1h30m".utf8)))
        return seeds
    }
    return 0
}

@_cdecl("LLVMFuzzerTestOneInput")
public func fuzzGrantRequest(_ data: UnsafePointer<UInt8>?, _ size: Int) -> Int32 {
    var input = FuzzInput(data, size)
    switch input.byte() % 4 {
    case 0: checkUnkeyed(input.rest())
    case 1: checkPayload(input.rest())
    case 2: checkRoundTrip(&input)
    default: checkDuration(String(decoding: input.rest(), as: UTF8.self))
    }
    return 0
}

/// Whatever the text, only the one canonical base64url spelling decodes, and nothing forged
/// verifies without the key.
func checkUnkeyed(_ bytes: [UInt8]) {
    if let decoded = GrantRequest.unbase64url(bytes) {
        require(Array(GrantRequest.base64url(decoded).utf8) == bytes, "a non-canonical base64url spelling decodes")
    }
    require(GrantRequest.unbase64url(Array(GrantRequest.base64url(bytes).utf8)) == bytes, "base64url does not round-trip")
    let text = String(decoding: bytes, as: UTF8.self)
    guard let request = try? GrantRequest.verify(text, masterKey: masterKey, now: now) else { return }
    // Only our seeds (made with the key) and texts that spell them get here.
    require((try? request.signed(masterKey: masterKey)) == text, "a request verifies that was not signed with the key: \(text.debugDescription)")
}

/// A payload signed with the key (what only `secretshim grant` can make): the decoder of the
/// payload text, and that what it reads signs and reads back the same.
func checkPayload(_ body: [UInt8]) {
    let tag = Array(HMAC<SHA256>.authenticationCode(for: body, using: GrantRequest.signingKey(masterKey)))
    let text = GrantRequest.prefix + GrantRequest.base64url(body) + "." + GrantRequest.base64url(tag)
    guard let request = try? GrantRequest.verify(text, masterKey: masterKey, now: now) else { return }
    require(request.expires.map { $0 > now } ?? true, "an expired request verifies")
    for entry in request.entries {
        require(!entry.id.contains(" ") && !entry.id.contains("\n") && !entry.spec.contains("\n"), "entry \(entry) spans fields")
    }
    // Re-signed as `grant` would: only specs it accepts.
    for entry in request.entries where (try? SecretGrant.parse(entry.spec, secretsDirectory: "/run/secrets")) == nil { return }
    guard let resigned = try? request.signed(masterKey: masterKey) else { return }
    require((try? GrantRequest.verify(resigned, masterKey: masterKey, now: now)) == request, "a verified request re-signed reads back differently")
}

/// Requests as `secretshim grant` makes them (specs it accepts, IDs of the store's shape) read
/// back as signed, and a request changed in any one byte is refused.
func checkRoundTrip(_ input: inout FuzzInput) {
    let flags = input.byte()
    let expires: Int64? = flags & 0x80 == 0 ? nil : now + 1 + Int64(input.byte())
    var entries: [GrantRequest.Entry] = []
    while !input.bytes.isEmpty && entries.count < 8 {
        let id = String(decoding: input.field(until: 0).map(idCharacter), as: UTF8.self)
        let spec = input.string(until: 0)
        guard !id.isEmpty, (try? SecretGrant.parse(spec, secretsDirectory: "/run/secrets")) != nil else { return }
        entries.append(.init(id: id, spec: spec))
    }
    let request = GrantRequest(entries: entries, expires: expires)
    guard let signed = try? request.signed(masterKey: masterKey) else { return }
    let verified = try? GrantRequest.verify(signed, masterKey: masterKey, now: now)
    require(verified == request, "\(request) signed reads back as \(String(describing: verified))")
    var altered = Array(signed.utf8)
    let position = Int(flags & 0x7F) % altered.count
    altered[position] = altered[position] == UInt8(ascii: "A") ? UInt8(ascii: "B") : UInt8(ascii: "A")
    let forged = try? GrantRequest.verify(String(decoding: altered, as: UTF8.self), masterKey: masterKey, now: now)
    require(forged == nil, "a request altered at byte \(position) still verifies")
}

func checkDuration(_ text: String) {
    guard let seconds = GrantRequest.parseDuration(text) else { return }
    require(seconds > 0, "duration \(text.debugDescription) is \(seconds)")
    // Each unit is a plain multiple: the same span in seconds reads the same.
    require(GrantRequest.parseDuration("\(seconds)s") == seconds, "\(seconds)s differs from \(text.debugDescription)")
}

/// A byte as a character of a secret's ID ([0-9a-z]).
func idCharacter(_ byte: UInt8) -> UInt8 {
    let alphabet = Array("0123456789abcdefghijklmnopqrstuvwxyz".utf8)
    return alphabet[Int(byte) % alphabet.count]
}
