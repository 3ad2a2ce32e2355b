/// Parses the plain decimal numbers of flags, specs and state files: ASCII digits only.
public enum ASCIIDecimal {
    /// ASCII digits only (no sign, no spaces, not empty), at most `max`; nil otherwise.
    /// Inlinable, so each caller gets it specialized for its own bytes: no generic code, and no
    /// runtime type metadata, on `run`'s path.
    @inlinable
    public static func value<Digits: Collection>(_ digits: Digits, max: UInt64) -> UInt64? where Digits.Element == UInt8 {
        guard !digits.isEmpty else { return nil }
        var value: UInt64 = 0
        for byte in digits {
            guard byte >= UInt8(ascii: "0"), byte <= UInt8(ascii: "9") else { return nil }
            let (shifted, overflow) = value.multipliedReportingOverflow(by: 10)
            let (sum, carry) = shifted.addingReportingOverflow(UInt64(byte - UInt8(ascii: "0")))
            guard !overflow, !carry, sum <= max else { return nil }
            value = sum
        }
        return value
    }
}
