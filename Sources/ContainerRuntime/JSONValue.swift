/// A JSON document kept as written: object members in their order, numbers as their text. The
/// wrapper edits an engine's `config.json` (two fields) and must hand everything else to the
/// real runtime exactly as it came: a Codable round trip would drop unknown fields, reorder
/// keys, and turn 64-bit seccomp argument values into doubles.
public indirect enum JSONValue: Equatable, Sendable {
    case null
    case bool(Bool)
    /// The number's own text, e.g. `18446744073709551615` or `1e3`.
    case number(String)
    case string(String)
    case array([JSONValue])
    case object([(key: String, value: JSONValue)])

    public static func == (lhs: JSONValue, rhs: JSONValue) -> Bool {
        switch (lhs, rhs) {
        case (.null, .null): return true
        case (.bool(let a), .bool(let b)): return a == b
        case (.number(let a), .number(let b)): return a == b
        case (.string(let a), .string(let b)): return a == b
        case (.array(let a), .array(let b)): return a == b
        case (.object(let a), .object(let b)):
            return a.count == b.count && zip(a, b).allSatisfy { $0.key == $1.key && $0.value == $1.value }
        default: return false
        }
    }

    public subscript(key: String) -> JSONValue? {
        guard case .object(let members) = self else { return nil }
        return members.last { $0.key == key }?.value
    }

    public var stringValue: String? {
        if case .string(let text) = self { return text }
        return nil
    }

    public var arrayValue: [JSONValue]? {
        if case .array(let items) = self { return items }
        return nil
    }

    /// The number as an unsigned integer, if it is one.
    public var unsignedValue: UInt64? {
        if case .number(let text) = self { return UInt64(text) }
        return nil
    }

    /// A member of a JSON object decoded into a Go struct, as runc reads its config.json with
    /// encoding/json: a key matches the field case-insensitively (Unicode simple folding, so
    /// "Process", "PROCESS" and "proceſs" are `process`), and of several that match, the last
    /// one wins. (Map keys, such as annotations, are matched exactly: use the subscript.)
    public func field(_ name: String) -> JSONValue? {
        guard case .object(let members) = self else { return nil }
        let folded = Self.fold(name)
        return members.last { Self.fold($0.key) == folded }?.value
    }

    /// Sets the struct field `name` (`field`'s matching): the member runc would read is
    /// replaced and the others that match are dropped; added at the end if none matches.
    public mutating func setField(_ name: String, _ value: JSONValue) {
        guard case .object(var members) = self else { return }
        let folded = Self.fold(name)
        guard let last = members.lastIndex(where: { Self.fold($0.key) == folded }) else {
            members.append((name, value))
            self = .object(members)
            return
        }
        members[last].value = value
        var index = 0
        members.removeAll { member in
            defer { index += 1 }
            return index != last && Self.fold(member.key) == folded
        }
        self = .object(members)
    }

    /// The first key that occurs twice in one object (after `fold`), anywhere in the document.
    /// Go's decoder merges a repeated struct key into one struct, field by field, and keeps the
    /// last of a repeated map key: reading such a document as runc does is not worth the risk,
    /// and no engine writes one.
    public var repeatedKey: String? {
        switch self {
        case .object(let members):
            var seen = Set<String>()
            for member in members {
                if !seen.insert(Self.fold(member.key)).inserted { return member.key }
                if let inner = member.value.repeatedKey { return inner }
            }
            return nil
        case .array(let items):
            for item in items { if let inner = item.repeatedKey { return inner } }
            return nil
        default: return nil
        }
    }

    /// Go's simple case folding for the keys of OCI's config: ASCII letters, and the two
    /// characters that fold into ASCII ones (U+017F long s, U+212A Kelvin sign).
    static func fold(_ key: String) -> String {
        var out = ""
        out.reserveCapacity(key.utf8.count)
        for scalar in key.unicodeScalars {
            switch scalar.value {
            case 0x41...0x5A: out.unicodeScalars.append(Unicode.Scalar(scalar.value + 0x20)!)
            case 0x17F: out += "s"
            case 0x212A: out += "k"
            default: out.unicodeScalars.append(scalar)
            }
        }
        return out
    }

    /// Sets (or adds, at the end) `key` of an object; no-op on anything else.
    public mutating func set(_ key: String, _ value: JSONValue) {
        guard case .object(var members) = self else { return }
        if let index = members.lastIndex(where: { $0.key == key }) {
            members[index].value = value
        } else {
            members.append((key, value))
        }
        self = .object(members)
    }
}

public struct JSONSyntaxError: Error, CustomStringConvertible {
    public let offset: Int
    public let why: String
    public var description: String { "invalid JSON at byte \(offset): \(why)" }
}

// MARK: - Parsing

extension JSONValue {
    /// Parses one JSON document (RFC 8259), nested at most 512 deep.
    public static func parse(_ bytes: [UInt8]) throws(JSONSyntaxError) -> JSONValue {
        var parser = Parser(bytes: bytes)
        parser.skipSpace()
        let value = try parser.value(depth: 0)
        parser.skipSpace()
        guard parser.offset == bytes.count else { throw parser.error("trailing characters after the document") }
        return value
    }

    struct Parser {
        let bytes: [UInt8]
        var offset = 0

        func error(_ why: String) -> JSONSyntaxError { JSONSyntaxError(offset: offset, why: why) }

        var current: UInt8? { offset < bytes.count ? bytes[offset] : nil }

        mutating func skipSpace() {
            while let byte = current, byte == 0x20 || byte == 0x0A || byte == 0x0D || byte == 0x09 { offset += 1 }
        }

        mutating func expect(_ literal: StaticString, _ value: JSONValue) throws(JSONSyntaxError) -> JSONValue {
            let count = literal.utf8CodeUnitCount
            guard offset + count <= bytes.count else { throw error("unexpected end") }
            for index in 0..<count where bytes[offset + index] != literal.utf8Start[index] {
                throw error("unexpected character")
            }
            offset += count
            return value
        }

        mutating func value(depth: Int) throws(JSONSyntaxError) -> JSONValue {
            guard depth < 512 else { throw error("nested too deep") }
            guard let byte = current else { throw error("unexpected end") }
            switch byte {
            case UInt8(ascii: "{"): return try object(depth: depth)
            case UInt8(ascii: "["): return try array(depth: depth)
            case UInt8(ascii: "\""): return .string(try string())
            case UInt8(ascii: "t"): return try expect("true", .bool(true))
            case UInt8(ascii: "f"): return try expect("false", .bool(false))
            case UInt8(ascii: "n"): return try expect("null", .null)
            case UInt8(ascii: "-"), UInt8(ascii: "0")...UInt8(ascii: "9"): return .number(try number())
            default: throw error("unexpected character")
            }
        }

        mutating func object(depth: Int) throws(JSONSyntaxError) -> JSONValue {
            offset += 1
            var members: [(key: String, value: JSONValue)] = []
            skipSpace()
            if current == UInt8(ascii: "}") {
                offset += 1
                return .object(members)
            }
            while true {
                skipSpace()
                guard current == UInt8(ascii: "\"") else { throw error("expected a member name") }
                let key = try string()
                skipSpace()
                guard current == UInt8(ascii: ":") else { throw error("expected ':'") }
                offset += 1
                skipSpace()
                members.append((key, try value(depth: depth + 1)))
                skipSpace()
                switch current {
                case UInt8(ascii: ","): offset += 1
                case UInt8(ascii: "}"):
                    offset += 1
                    return .object(members)
                default: throw error("expected ',' or '}'")
                }
            }
        }

        mutating func array(depth: Int) throws(JSONSyntaxError) -> JSONValue {
            offset += 1
            var items: [JSONValue] = []
            skipSpace()
            if current == UInt8(ascii: "]") {
                offset += 1
                return .array(items)
            }
            while true {
                skipSpace()
                items.append(try value(depth: depth + 1))
                skipSpace()
                switch current {
                case UInt8(ascii: ","): offset += 1
                case UInt8(ascii: "]"):
                    offset += 1
                    return .array(items)
                default: throw error("expected ',' or ']'")
                }
            }
        }

        mutating func digits() -> Int {
            let start = offset
            while let byte = current, byte >= 0x30 && byte <= 0x39 { offset += 1 }
            return offset - start
        }

        mutating func number() throws(JSONSyntaxError) -> String {
            let start = offset
            if current == UInt8(ascii: "-") { offset += 1 }
            if current == UInt8(ascii: "0") {
                offset += 1
            } else if digits() == 0 {
                throw error("expected a digit")
            }
            if current == UInt8(ascii: ".") {
                offset += 1
                guard digits() > 0 else { throw error("expected a digit after '.'") }
            }
            if current == UInt8(ascii: "e") || current == UInt8(ascii: "E") {
                offset += 1
                if current == UInt8(ascii: "+") || current == UInt8(ascii: "-") { offset += 1 }
                guard digits() > 0 else { throw error("expected a digit in the exponent") }
            }
            return String(decoding: bytes[start..<offset], as: UTF8.self)
        }

        mutating func hex4() throws(JSONSyntaxError) -> UInt32 {
            guard offset + 4 <= bytes.count else { throw error("unexpected end in \\u escape") }
            var value: UInt32 = 0
            for _ in 0..<4 {
                let byte = bytes[offset]
                let digit: UInt8
                switch byte {
                case 0x30...0x39: digit = byte - 0x30
                case 0x41...0x46: digit = byte - 0x41 + 10
                case 0x61...0x66: digit = byte - 0x61 + 10
                default: throw error("invalid \\u escape")
                }
                value = value << 4 | UInt32(digit)
                offset += 1
            }
            return value
        }

        mutating func string() throws(JSONSyntaxError) -> String {
            offset += 1
            var text: [UInt8] = []
            while true {
                guard let byte = current else { throw error("unterminated string") }
                offset += 1
                switch byte {
                case UInt8(ascii: "\""):
                    guard let decoded = String(validating: text, as: UTF8.self) else {
                        throw error("string is not valid UTF-8")
                    }
                    return decoded
                case UInt8(ascii: "\\"):
                    guard let escaped = current else { throw error("unterminated string") }
                    offset += 1
                    switch escaped {
                    case UInt8(ascii: "\""), UInt8(ascii: "\\"), UInt8(ascii: "/"): text.append(escaped)
                    case UInt8(ascii: "b"): text.append(0x08)
                    case UInt8(ascii: "f"): text.append(0x0C)
                    case UInt8(ascii: "n"): text.append(0x0A)
                    case UInt8(ascii: "r"): text.append(0x0D)
                    case UInt8(ascii: "t"): text.append(0x09)
                    case UInt8(ascii: "u"):
                        var scalar = try hex4()
                        if scalar >= 0xD800 && scalar < 0xDC00 {
                            guard current == UInt8(ascii: "\\"), offset + 1 < bytes.count, bytes[offset + 1] == UInt8(ascii: "u")
                            else { throw error("lone surrogate in \\u escape") }
                            offset += 2
                            let low = try hex4()
                            guard low >= 0xDC00 && low < 0xE000 else { throw error("lone surrogate in \\u escape") }
                            scalar = 0x10000 + ((scalar - 0xD800) << 10) + (low - 0xDC00)
                        } else if scalar >= 0xDC00 && scalar < 0xE000 {
                            throw error("lone surrogate in \\u escape")
                        }
                        text.append(contentsOf: String(Unicode.Scalar(scalar)!).utf8)
                    default: throw error("invalid escape")
                    }
                case 0..<0x20: throw error("control character in string")
                default: text.append(byte)
                }
            }
        }
    }
}

// MARK: - Writing

extension JSONValue {
    /// Compact JSON text, members in their order, numbers as they were read.
    public func serialized() -> [UInt8] {
        var out: [UInt8] = []
        write(to: &out)
        return out
    }

    func write(to out: inout [UInt8]) {
        switch self {
        case .null: out.append(contentsOf: "null".utf8)
        case .bool(let value): out.append(contentsOf: (value ? "true" : "false").utf8)
        case .number(let text): out.append(contentsOf: text.utf8)
        case .string(let text): Self.writeString(text, to: &out)
        case .array(let items):
            out.append(UInt8(ascii: "["))
            for (index, item) in items.enumerated() {
                if index > 0 { out.append(UInt8(ascii: ",")) }
                item.write(to: &out)
            }
            out.append(UInt8(ascii: "]"))
        case .object(let members):
            out.append(UInt8(ascii: "{"))
            for (index, member) in members.enumerated() {
                if index > 0 { out.append(UInt8(ascii: ",")) }
                Self.writeString(member.key, to: &out)
                out.append(UInt8(ascii: ":"))
                member.value.write(to: &out)
            }
            out.append(UInt8(ascii: "}"))
        }
    }

    static func writeString(_ text: String, to out: inout [UInt8]) {
        let hex: [UInt8] = Array("0123456789abcdef".utf8)
        out.append(UInt8(ascii: "\""))
        for byte in text.utf8 {
            switch byte {
            case UInt8(ascii: "\""): out.append(contentsOf: [UInt8(ascii: "\\"), UInt8(ascii: "\"")])
            case UInt8(ascii: "\\"): out.append(contentsOf: [UInt8(ascii: "\\"), UInt8(ascii: "\\")])
            case 0x0A: out.append(contentsOf: [UInt8(ascii: "\\"), UInt8(ascii: "n")])
            case 0x09: out.append(contentsOf: [UInt8(ascii: "\\"), UInt8(ascii: "t")])
            case 0x0D: out.append(contentsOf: [UInt8(ascii: "\\"), UInt8(ascii: "r")])
            case 0..<0x20:
                out.append(contentsOf: Array("\\u00".utf8))
                out.append(hex[Int(byte >> 4)])
                out.append(hex[Int(byte & 0xF)])
            default: out.append(byte)
            }
        }
        out.append(UInt8(ascii: "\""))
    }
}
