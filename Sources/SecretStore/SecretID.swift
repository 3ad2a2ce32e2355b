import Namespaces

/// Swarm-style object IDs: 128 random bits written in base 36, zero-padded to 25 lowercase
/// characters (swarmkit's `identity.NewID`).
public enum SecretID {
    public static let length = 25

    public static func generate() -> String {
        let bytes = System.randomBytes(16)
        var value: UInt128 = 0
        for byte in bytes { value = value << 8 | UInt128(byte) }
        let text = String(value, radix: 36)
        return String(repeating: "0", count: length - text.count) + text
    }

    public static func isWellFormed(_ text: String) -> Bool {
        text.utf8.count == length && text.utf8.allSatisfy(isIDCharacter)
    }

    /// A base-36 digit as IDs write them: 0-9 or a-z.
    static func isIDCharacter(_ byte: UInt8) -> Bool {
        (byte >= 0x30 && byte <= 0x39) || (byte >= 0x61 && byte <= 0x7A)
    }
}
