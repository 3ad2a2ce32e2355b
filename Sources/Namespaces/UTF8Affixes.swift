/// Prefix and suffix tests on UTF-8 bytes, as getopt and execvp test flags, slashes and
/// separators (`String.hasPrefix` and `hasSuffix` compare Characters).
extension StringProtocol {
    @inlinable
    public func hasUTF8Prefix(_ prefix: String) -> Bool { utf8.starts(with: prefix.utf8) }

    @inlinable
    public func hasUTF8Suffix(_ suffix: String) -> Bool {
        let count = suffix.utf8.count
        return utf8.count >= count && utf8.suffix(count).elementsEqual(suffix.utf8)
    }

    @inlinable
    public func containsUTF8(_ byte: UInt8) -> Bool { utf8.contains(byte) }
}
