/// Swarm's rules for what a secret may be called and hold (moby's
/// `validateConfigOrSecretAnnotations` and `MaxSecretSize`).
public enum SecretRules {
    public static let maxNameLength = 64
    /// Exclusive upper bound: content must be 0 < size < 512000 bytes.
    public static let maxSize = 500 * 1024

    /// `^[a-zA-Z0-9]+(?:[a-zA-Z0-9-_.]*[a-zA-Z0-9])?$`, at most 64 characters.
    public static func isValidName(_ name: String) -> Bool {
        let bytes = name.utf8
        guard let first = bytes.first, let last = bytes.last, bytes.count <= maxNameLength else { return false }
        guard isAlphanumeric(first), isAlphanumeric(last) else { return false }
        return bytes.allSatisfy(isNameCharacter)
    }

    /// `[a-zA-Z0-9-_.]`: what a secret's name, and Docker's container names, are made of.
    public static func isNameCharacter(_ c: UInt8) -> Bool {
        isAlphanumeric(c) || c == UInt8(ascii: "-") || c == UInt8(ascii: "_") || c == UInt8(ascii: ".")
    }

    public static func validateName(_ name: String) throws(StoreError) {
        if !isValidName(name) { throw .invalidName(name) }
    }

    public static func validateSize(_ size: Int) throws(StoreError) {
        if size <= 0 || size >= maxSize { throw .invalidSize(size) }
    }

    /// `KEY=VALUE` (a bare `KEY` means an empty value, as in Docker).
    public static func parseLabel(_ text: String) throws(StoreError) -> (key: String, value: String) {
        let parts = text.split(separator: "=", maxSplits: 1, omittingEmptySubsequences: false)
        let key = String(parts[0])
        guard !key.isEmpty, !key.contains(where: { $0.isWhitespace }) else { throw .invalidLabel(text) }
        return (key, parts.count > 1 ? String(parts[1]) : "")
    }

    static func isAlphanumeric(_ c: UInt8) -> Bool {
        (c >= 0x30 && c <= 0x39) || (c >= 0x41 && c <= 0x5A) || (c >= 0x61 && c <= 0x7A)
    }
}

extension SecretRules {
    public static func isLetter(_ c: UInt8) -> Bool { (c >= 0x41 && c <= 0x5A) || (c >= 0x61 && c <= 0x7A) }
}
