/// The plain decimal numbers of flags, specs and state files: ASCII digits only (no sign, no
/// spaces), parsed and written on bytes. What this saves `run` against Swift's integer
/// descriptions is part of the start-up budget that ./bench/run measures (bench/budget).
public enum ASCIIDecimal {
    /// ASCII digits only (no sign, no spaces, not empty), at most `max`; nil otherwise.
    /// Inlinable, so each caller gets it specialized for its own bytes.
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

    /// Appends the digits of `number`, as `String(number).utf8` would be.
    public static func append(_ number: UInt64, to bytes: inout [UInt8]) {
        var digits: (UInt64, UInt64, UInt64) = (0, 0, 0)  // 20 digits at most, written from the end
        var count = 0
        var rest = number
        withUnsafeMutableBytes(of: &digits) { buffer in
            repeat {
                count += 1
                buffer[24 - count] = UInt8(ascii: "0") + UInt8(rest % 10)
                rest /= 10
            } while rest > 0
            bytes.append(contentsOf: UnsafeRawBufferPointer(rebasing: buffer[(24 - count)...]))
        }
    }

    /// Appends the digits of `number`, after a '-' if it is negative, as `String(number).utf8`.
    public static func append(_ number: Int64, to bytes: inout [UInt8]) {
        if number < 0 { bytes.append(UInt8(ascii: "-")) }
        append(number.magnitude, to: &bytes)
    }

    /// `String(number)`, through `append`.
    public static func string(_ number: UInt64) -> String {
        var bytes: [UInt8] = []
        append(number, to: &bytes)
        return String(decoding: bytes, as: UTF8.self)
    }
}
