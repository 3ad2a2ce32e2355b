import Crypto
import FoundationEssentials
import Launcher
import Namespaces
import SecretStore

/// A request for secrets that the operator signed (`secretshim grant`), to put where an engine
/// passes it to the runtime (`SECRETSHIM_SECRETS`, or the `org.secretshim.secrets`
/// annotation). Those places are also written by images (`ENV` in a Dockerfile, image
/// annotations that Podman copies), so the wrapper honours only what carries the operator's
/// tag: an HMAC-SHA256 under a key derived from the master key (HKDF-SHA256), over the grants,
/// each bound to the ID its secret had when it was signed, and an expiry. A secret removed and
/// created again (a new ID) invalidates the old requests for it.
///
/// Shape: `ssgrant1.<payload>.<tag>`, both base64url without padding, so it survives an
/// environment variable and Podman's comma-splitting of annotations. The payload is text:
/// `expires <unix seconds, 0 for never>` then one `grant <secret ID> <spec>` line per grant.
/// A signed request is a bearer token: keep it out of images, and give it an expiry.
public struct GrantRequest: Sendable, Equatable {
    public struct Entry: Sendable, Equatable {
        public var id: String
        public var spec: String

        public init(id: String, spec: String) {
            self.id = id
            self.spec = spec
        }
    }

    public var entries: [Entry]
    /// Unix seconds; nil: never expires.
    public var expires: Int64?

    public init(entries: [Entry], expires: Int64?) {
        self.entries = entries
        self.expires = expires
    }

    static let prefix = "ssgrant1."

    public enum Failure: Error, CustomStringConvertible, Equatable {
        case malformed
        case forged
        case expired(Int64)
        case invalidSpec(String)

        public var description: String {
            switch self {
            case .malformed: return "the signed request is malformed (not one printed by 'secretshim grant')"
            case .forged: return "the signed request's tag does not match: it was altered, or signed with another store's key"
            case .expired(let when): return "the signed request expired at \(when) (Unix time): sign a new one with 'secretshim grant'"
            case .invalidSpec(let why): return "cannot sign: \(why)"
            }
        }
    }

    public static func isSigned(_ text: String) -> Bool { text.hasUTF8Prefix(prefix) }

    /// The key that signs requests: derived from the master key, never the master key itself.
    static func signingKey(_ masterKey: [UInt8]) -> SymmetricKey {
        HKDF<SHA256>.deriveKey(
            inputKeyMaterial: SymmetricKey(data: masterKey), salt: Array("secretshim".utf8),
            info: Array("grant request v1".utf8), outputByteCount: 32)
    }

    func payload() -> [UInt8] {
        var text = "expires \(expires ?? 0)\n"
        for entry in entries { text += "grant \(entry.id) \(entry.spec)\n" }
        return Array(text.utf8)
    }

    /// The printable request.
    public func signed(masterKey: [UInt8]) throws(Failure) -> String {
        for entry in entries where entry.spec.utf8.contains(where: { $0 < 0x20 || $0 == 0x7F }) {
            throw .invalidSpec("a spec holds a control character")
        }
        let body = payload()
        let tag = HMAC<SHA256>.authenticationCode(for: body, using: Self.signingKey(masterKey))
        return Self.prefix + Self.base64url(body) + "." + Self.base64url(Array(tag))
    }

    /// Checks the tag (in constant time) and the expiry; the IDs are the caller's to check.
    public static func verify(_ text: String, masterKey: [UInt8], now: Int64) throws(Failure) -> GrantRequest {
        guard isSigned(text) else { throw .malformed }
        let parts = text.utf8.dropFirst(prefix.utf8.count).split(separator: UInt8(ascii: "."), omittingEmptySubsequences: false)
        guard parts.count == 2, let body = unbase64url(Array(parts[0])), let tag = unbase64url(Array(parts[1])) else {
            throw .malformed
        }
        guard HMAC<SHA256>.isValidAuthenticationCode(tag, authenticating: body, using: signingKey(masterKey)) else {
            throw .forged
        }
        // Signed by us: what follows was written by `payload()`.
        let lines = String(decoding: body, as: UTF8.self).split(separator: "\n")
        guard let first = lines.first, first.hasPrefix("expires "), let expires = Int64(first.dropFirst(8)) else { throw .malformed }
        var entries: [Entry] = []
        for line in lines.dropFirst() {
            let fields = line.split(separator: " ", maxSplits: 2)
            guard fields.count == 3, fields[0] == "grant" else { throw .malformed }
            entries.append(Entry(id: String(fields[1]), spec: String(fields[2])))
        }
        if expires != 0 && now >= expires { throw .expired(expires) }
        return GrantRequest(entries: entries, expires: expires == 0 ? nil : expires)
    }

    static func base64url(_ bytes: [UInt8]) -> String {
        var text = Data(bytes).base64EncodedString()
        text = String(text.map { $0 == "+" ? "-" : $0 == "/" ? "_" : $0 })
        while text.hasSuffix("=") { text.removeLast() }
        return text
    }

    static func unbase64url(_ bytes: [UInt8]) -> [UInt8]? {
        guard bytes.allSatisfy({ SecretRules.isLetter($0) || ($0 >= 0x30 && $0 <= 0x39) || $0 == UInt8(ascii: "-") || $0 == UInt8(ascii: "_") })
        else { return nil }
        var text = String(decoding: bytes.map { $0 == UInt8(ascii: "-") ? UInt8(ascii: "+") : $0 == UInt8(ascii: "_") ? UInt8(ascii: "/") : $0 }, as: UTF8.self)
        while text.utf8.count % 4 != 0 { text += "=" }
        guard let decoded = Data(base64Encoded: text).map({ Array($0) }) else { return nil }
        // Only the one canonical spelling: a last character whose unused bits differ would
        // decode to the same bytes, and an altered request must never pass.
        guard base64url(decoded).utf8.elementsEqual(bytes) else { return nil }
        return decoded
    }

    /// Durations as Docker's `--since`/`--until` and Go take them, plus days: `90s`, `10m`,
    /// `1h30m`, `7d`. Seconds; nil for anything else.
    public static func parseDuration(_ text: String) -> Int64? {
        var total: Int64 = 0
        var number: Int64?
        for byte in text.utf8 {
            if byte >= 0x30 && byte <= 0x39 {
                let (times, overflow1) = (number ?? 0).multipliedReportingOverflow(by: 10)
                let (sum, overflow2) = times.addingReportingOverflow(Int64(byte - 0x30))
                guard !overflow1 && !overflow2 else { return nil }
                number = sum
                continue
            }
            guard let value = number else { return nil }
            let unit: Int64
            switch byte {
            case UInt8(ascii: "s"): unit = 1
            case UInt8(ascii: "m"): unit = 60
            case UInt8(ascii: "h"): unit = 3600
            case UInt8(ascii: "d"): unit = 86400
            default: return nil
            }
            let (scaled, overflow1) = value.multipliedReportingOverflow(by: unit)
            let (sum, overflow2) = total.addingReportingOverflow(scaled)
            guard !overflow1 && !overflow2 else { return nil }
            total = sum
            number = nil
        }
        guard number == nil, total > 0 else { return nil }
        return total
    }
}
