import OrderedCollections

public struct JSONSyntaxError: Error, CustomStringConvertible {
    public let offset: Int
    public let why: String
    public var description: String { "invalid JSON at byte \(offset): \(why)" }
}

extension JSONValue {
    /// Parses one JSON document (RFC 8259), nested at most 512 deep. A key repeated in one
    /// object keeps its last value, placed last (as Go's decoder reads a map), and is reported
    /// by `repeatedKey`, for those that refuse it.
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
            var object = JSONObject()
            skipSpace()
            if current == UInt8(ascii: "}") {
                offset += 1
                return .object(object)
            }
            // The keys as Go folds them, for `repeatedKey`: the first repeat in document order,
            // a member's key before what its value holds.
            var folded = Set<String>()
            while true {
                skipSpace()
                guard current == UInt8(ascii: "\"") else { throw error("expected a member name") }
                let key = try string()
                skipSpace()
                guard current == UInt8(ascii: ":") else { throw error("expected ':'") }
                offset += 1
                skipSpace()
                if !folded.insert(JSONValue.fold(key)).inserted && object.repeatedOnRead == nil { object.repeatedOnRead = key }
                let member = try value(depth: depth + 1)
                if object.repeatedOnRead == nil, let inner = Self.repeatedOnRead(member) { object.repeatedOnRead = inner }
                // An exact repeat (already seen folded): its last value, placed last.
                _ = object.members.removeValue(forKey: key)
                object.members[key] = member
                skipSpace()
                switch current {
                case UInt8(ascii: ","): offset += 1
                case UInt8(ascii: "}"):
                    offset += 1
                    return .object(object)
                default: throw error("expected ',' or '}'")
                }
            }
        }

        /// What the parser recorded for a value just read: objects carry it, arrays hold objects.
        static func repeatedOnRead(_ value: JSONValue) -> String? {
            switch value {
            case .object(let object): return object.repeatedOnRead
            case .array(let items):
                for item in items { if let inner = repeatedOnRead(item) { return inner } }
                return nil
            default: return nil
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
            // Most strings hold no escape (etcd's base64 keys and values, names, paths): taken
            // whole, not byte by byte (`secret ls` of 10,000 on etcd spent most of its parse here).
            var end = offset
            while end < bytes.count, bytes[end] != UInt8(ascii: "\""), bytes[end] != UInt8(ascii: "\\"), bytes[end] >= 0x20 {
                end += 1
            }
            if end < bytes.count, bytes[end] == UInt8(ascii: "\"") {
                let start = offset
                offset = end + 1
                guard let decoded = String(validating: bytes[start..<end], as: UTF8.self) else {
                    throw error("string is not valid UTF-8")
                }
                return decoded
            }
            var text: [UInt8] = Array(bytes[offset..<end])
            offset = end
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
