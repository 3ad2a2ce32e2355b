/// How JSON text is written: the escaping of strings and the layout.
public struct JSONWriter: Sendable {
    public var escaping: JSONEscaping.Style
    /// Spaces per level, Go's `MarshalIndent` layout (`"key": value`, one member a line, `{}` and
    /// `[]` when empty); 0 writes compact text.
    public var indent: Int

    public init(escaping: JSONEscaping.Style = .plain, indent: Int = 0) {
        self.escaping = escaping
        self.indent = indent
    }

    public func bytes(_ value: JSONValue) -> [UInt8] {
        var out: [UInt8] = []
        write(value, level: 0, to: &out)
        return out
    }

    public func text(_ value: JSONValue) -> String {
        String(decoding: bytes(value), as: UTF8.self)
    }

    /// A JSON string literal of `text`, quotes included.
    public func quoted(_ text: String) -> String {
        var out: [UInt8] = []
        writeString(text, to: &out)
        return String(decoding: out, as: UTF8.self)
    }

    func write(_ value: JSONValue, level: Int, to out: inout [UInt8]) {
        switch value {
        case .null: out.append(contentsOf: "null".utf8)
        case .bool(let value): out.append(contentsOf: (value ? "true" : "false").utf8)
        case .number(let text): out.append(contentsOf: text.utf8)
        case .string(let text): writeString(text, to: &out)
        case .array(let items):
            out.append(UInt8(ascii: "["))
            for (index, item) in items.enumerated() {
                if index > 0 { out.append(UInt8(ascii: ",")) }
                newline(level + 1, to: &out)
                write(item, level: level + 1, to: &out)
            }
            if !items.isEmpty { newline(level, to: &out) }
            out.append(UInt8(ascii: "]"))
        case .object(let object):
            out.append(UInt8(ascii: "{"))
            for (index, member) in object.enumerated() {
                if index > 0 { out.append(UInt8(ascii: ",")) }
                newline(level + 1, to: &out)
                writeString(member.key, to: &out)
                out.append(UInt8(ascii: ":"))
                if indent > 0 { out.append(UInt8(ascii: " ")) }
                write(member.value, level: level + 1, to: &out)
            }
            if !object.isEmpty { newline(level, to: &out) }
            out.append(UInt8(ascii: "}"))
        }
    }

    private func newline(_ level: Int, to out: inout [UInt8]) {
        guard indent > 0 else { return }
        out.append(0x0A)
        out.append(contentsOf: repeatElement(UInt8(ascii: " "), count: indent * level))
    }

    func writeString(_ text: String, to out: inout [UInt8]) {
        out.append(UInt8(ascii: "\""))
        var text = text
        text.withUTF8 { JSONEscaping.append($0, escaping, to: &out) }
        out.append(UInt8(ascii: "\""))
    }
}

extension JSONValue {
    /// Compact JSON text, members in their order, numbers as they were read, strings escaped
    /// `.plain` (what the runtime wrapper writes back for runc).
    public func serialized() -> [UInt8] { JSONWriter().bytes(self) }
}

/// How a string's bytes appear inside a JSON string, in the forms encoders write. The writer
/// uses one; `scan` looks for a value in each (an image config's `Env` holds a whole config
/// file with its newlines as `\n`).
public enum JSONEscaping {
    public enum Style: Sendable, CaseIterable {
        /// RFC 8259's short escapes \" \\ \n \r \t, other control bytes as \u00XX.
        case plain
        /// Also \b and \f as such: what the commands print.
        case short
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
    public static func escaped(_ value: [UInt8], _ style: Style) -> [UInt8] {
        // Most values need nothing escaped: one pass to say so.
        guard value.contains(where: { needsEscaping($0, style) }) else { return value }
        var out: [UInt8] = []
        out.reserveCapacity(value.count + 16)
        append(value, style, to: &out)
        return out
    }

    static func needsEscaping(_ byte: UInt8, _ style: Style) -> Bool {
        byte < 0x20 || byte == UInt8(ascii: "\"") || byte == UInt8(ascii: "\\")
            || (byte >= 0x80 && (style == .go || style == .ascii))
            || (style == .go && (byte == UInt8(ascii: "<") || byte == UInt8(ascii: ">") || byte == UInt8(ascii: "&")))
            || (style == .solidus && byte == UInt8(ascii: "/"))
    }

    /// `append` for a string's bytes, specialized here: called from another module, the
    /// generic one makes its collection's metadata at run time, by mangled name, which cost
    /// `run`'s audit event some 240,000 instructions (bench/budget).
    public static func append(_ value: UnsafeBufferPointer<UInt8>, _ style: Style, to out: inout [UInt8]) {
        // Most strings need nothing escaped: copied whole.
        if !value.contains(where: { needsEscaping($0, style) }) {
            out.append(contentsOf: value)
            return
        }
        appendGeneric(value, style, to: &out)
    }

    /// Appends `value`'s bytes escaped as `style` writes them (a byte that is no valid UTF-8
    /// as it is).
    public static func append<Bytes: Collection<UInt8>>(_ value: Bytes, _ style: Style, to out: inout [UInt8])
    where Bytes.Index == Int {
        appendGeneric(value, style, to: &out)
    }

    @inline(__always)
    static func appendGeneric<Bytes: Collection<UInt8>>(_ value: Bytes, _ style: Style, to out: inout [UInt8])
    where Bytes.Index == Int {
        let hex: [UInt8] = Array("0123456789abcdef".utf8)
        func unicode(_ unit: UInt16) {
            out += [UInt8(ascii: "\\"), UInt8(ascii: "u"), hex[Int(unit >> 12)], hex[Int((unit >> 8) & 0xF)],
                    hex[Int((unit >> 4) & 0xF)], hex[Int(unit & 0xF)]]
        }
        let shortBF = style != .plain && style != .solidus
        var index = value.startIndex
        while index < value.endIndex {
            let byte = value[index]
            switch byte {
            case UInt8(ascii: "\""), UInt8(ascii: "\\"): out += [UInt8(ascii: "\\"), byte]
            case 0x0A: out += [UInt8(ascii: "\\"), UInt8(ascii: "n")]
            case 0x0D: out += [UInt8(ascii: "\\"), UInt8(ascii: "r")]
            case 0x09: out += [UInt8(ascii: "\\"), UInt8(ascii: "t")]
            case 0x08 where shortBF: out += [UInt8(ascii: "\\"), UInt8(ascii: "b")]
            case 0x0C where shortBF: out += [UInt8(ascii: "\\"), UInt8(ascii: "f")]
            case 0..<0x20: unicode(UInt16(byte))
            case UInt8(ascii: "<") where style == .go: unicode(0x3C)
            case UInt8(ascii: ">") where style == .go: unicode(0x3E)
            case UInt8(ascii: "&") where style == .go: unicode(0x26)
            case UInt8(ascii: "/") where style == .solidus: out += [UInt8(ascii: "\\"), UInt8(ascii: "/")]
            case 0x80... where style == .go || style == .ascii:
                // One whole UTF-8 sequence, if valid; else the byte as it is.
                let length = byte >= 0xF0 ? 4 : byte >= 0xE0 ? 3 : byte >= 0xC0 ? 2 : 1
                guard length > 1, index + length <= value.endIndex,
                    let scalar = String(validating: value[index..<(index + length)], as: UTF8.self)?.unicodeScalars.first
                else {
                    out.append(byte)
                    break
                }
                if style == .go {
                    if scalar.value == 0x2028 || scalar.value == 0x2029 {
                        unicode(UInt16(scalar.value))
                    } else {
                        out += value[index..<(index + length)]
                    }
                } else {
                    for unit in String(scalar).utf16 { unicode(unit) }
                }
                index += length
                continue
            default: out.append(byte)
            }
            index += 1
        }
    }
}
