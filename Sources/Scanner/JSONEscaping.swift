/// How a value appears inside a JSON string: an image config's `Env` holds a whole config
/// file with its newlines as `\n`, and Go's `encoding/json` (Docker's and Podman's configs)
/// also escapes <, > and & as \u003c, \u003e, \u0026, and U+2028/U+2029.
enum JSONEscaping {
    /// `value` as every encoder writes it inside a string; with `html`, as Go's does.
    static func escaped(_ value: [UInt8], html: Bool) -> [UInt8] {
        // Most values need nothing escaped: one pass to say so.
        let special: (UInt8) -> Bool = html
            ? { $0 < 0x20 || $0 == UInt8(ascii: "\"") || $0 == UInt8(ascii: "\\") || $0 == UInt8(ascii: "<") || $0 == UInt8(ascii: ">") || $0 == UInt8(ascii: "&") || $0 == 0xE2 }
            : { $0 < 0x20 || $0 == UInt8(ascii: "\"") || $0 == UInt8(ascii: "\\") }
        guard value.contains(where: special) else { return value }
        let hex = Array("0123456789abcdef".utf8)
        var out: [UInt8] = []
        out.reserveCapacity(value.count)
        var index = 0
        while index < value.count {
            let byte = value[index]
            index += 1
            switch byte {
            case UInt8(ascii: "\""), UInt8(ascii: "\\"): out += [UInt8(ascii: "\\"), byte]
            case 0x0A: out += Array("\\n".utf8)
            case 0x0D: out += Array("\\r".utf8)
            case 0x09: out += Array("\\t".utf8)
            case 0..<0x20: out += Array("\\u00".utf8) + [hex[Int(byte >> 4)], hex[Int(byte & 0xF)]]
            case UInt8(ascii: "<") where html: out += Array("\\u003c".utf8)
            case UInt8(ascii: ">") where html: out += Array("\\u003e".utf8)
            case UInt8(ascii: "&") where html: out += Array("\\u0026".utf8)
            case 0xE2 where html && index + 1 < value.count && value[index] == 0x80 && (value[index + 1] == 0xA8 || value[index + 1] == 0xA9):
                out += Array((value[index + 1] == 0xA8 ? "\\u2028" : "\\u2029").utf8)
                index += 2
            default: out.append(byte)
            }
        }
        return out
    }
}
