/// Prefix and suffix tests on UTF-8 bytes. `String.hasPrefix` and `hasSuffix` also check that
/// the match ends on a Character boundary, which pages Unicode grapheme breaking into `run`'s
/// path; for the flags, slashes and separators tested there, the bytes say the same (as they do
/// to getopt and execvp).
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
