/// How a value appears inside a JSON string, in the forms encoders write: an image config's
/// `Env` holds a whole config file with its newlines as `\n`.
enum JSONEscaping {
    enum Style: CaseIterable {
        /// RFC 8259's short escapes (\" \\ \n \r \t), other control bytes as \u00XX.
        case plain
        /// Go's `encoding/json` (Docker's and Podman's configs): also <, >, & as \u003c,
        /// \u003e, \u0026, and U+2028/U+2029; since Go 1.22 \b and \f as such.
        case go
        /// Python's `json.dumps` with `ensure_ascii` (its default): every non-ASCII character
        /// as \uXXXX (UTF-16, surrogate pairs above U+FFFF), and \b, \f.
        case ascii
        /// Encoders that escape the solidus (PHP's json_encode, some Java ones): \/.
        case solidus
    }

    /// `value` as `style` writes it inside a string (itself, when nothing in it is escaped).
    static func escaped(_ value: [UInt8], _ style: Style) -> [UInt8] {
        // Most values need nothing escaped: one pass to say so.
        guard value.contains(where: { $0 < 0x20 || $0 == UInt8(ascii: "\"") || $0 == UInt8(ascii: "\\") || $0 >= 0x80
            || (style == .go && ($0 == UInt8(ascii: "<") || $0 == UInt8(ascii: ">") || $0 == UInt8(ascii: "&")))
            || (style == .solidus && $0 == UInt8(ascii: "/")) })
        else { return value }
        let hex = Array("0123456789abcdef".utf8)
        func unicode(_ unit: UInt16) -> [UInt8] {
            Array("\\u".utf8) + [hex[Int(unit >> 12)], hex[Int((unit >> 8) & 0xF)], hex[Int((unit >> 4) & 0xF)], hex[Int(unit & 0xF)]]
        }
        var out: [UInt8] = []
        out.reserveCapacity(value.count + 16)
        var index = 0
        while index < value.count {
            let byte = value[index]
            switch byte {
            case UInt8(ascii: "\""), UInt8(ascii: "\\"): out += [UInt8(ascii: "\\"), byte]
            case 0x0A: out += Array("\\n".utf8)
            case 0x0D: out += Array("\\r".utf8)
            case 0x09: out += Array("\\t".utf8)
            case 0x08 where style != .plain && style != .solidus: out += Array("\\b".utf8)
            case 0x0C where style != .plain && style != .solidus: out += Array("\\f".utf8)
            case 0..<0x20: out += unicode(UInt16(byte))
            case UInt8(ascii: "<") where style == .go: out += unicode(0x3C)
            case UInt8(ascii: ">") where style == .go: out += unicode(0x3E)
            case UInt8(ascii: "&") where style == .go: out += unicode(0x26)
            case UInt8(ascii: "/") where style == .solidus: out += Array("\\/".utf8)
            case 0x80... where style == .go || style == .ascii:
                // One whole UTF-8 sequence, if valid; else the byte as it is.
                let length = byte >= 0xF0 ? 4 : byte >= 0xE0 ? 3 : byte >= 0xC0 ? 2 : 1
                guard length > 1, index + length <= value.count,
                      let scalar = String(validating: value[index..<(index + length)], as: UTF8.self)?.unicodeScalars.first
                else {
                    out.append(byte)
                    break
                }
                if style == .go {
                    if scalar.value == 0x2028 || scalar.value == 0x2029 { out += unicode(UInt16(scalar.value)) } else { out += value[index..<(index + length)] }
                } else {
                    for unit in String(scalar).utf16 { out += unicode(unit) }
                }
                index += length
                continue
            default: out.append(byte)
            }
            index += 1
        }
        return out
    }
}
