import Glibc
import JSON
import TOMLKit
import Yams

/// TOML and YAML to `JSONValue`, keys in their document order.
enum DocumentReader {
    /// What a document may hold: a Compose file or a configuration is a few kilobytes.
    static let maximumSize = 4 << 20

    struct Malformed: Error, CustomStringConvertible {
        var description: String
    }

    /// A TOML document (TOML 1.0, toml++ through TOMLKit). Dates and times become their TOML text.
    static func toml(_ text: String) throws -> JSONValue {
        // TOMLKit hands strings over as C strings: a `\u0000` escape would cut the value there
        // silently (a fresh-eyes finding: "/a\u0000b" read as "/a").
        if text.lowercased().contains("\\u0000") || text.lowercased().contains("\\u00000000") {
            throw Malformed(description: "a string holds a NUL (\\u0000), which is refused")
        }
        let table: TOMLTable
        do {
            table = try TOMLTable(string: text)
        } catch let error as TOMLParseError {
            throw Malformed(description: "line \(error.source.begin.line), column \(error.source.begin.column): \(oneLine(error.description))")
        }
        return value(table)
    }

    static func value(_ table: TOMLTable) -> JSONValue {
        var object = JSONObject()
        for (key, member) in table { object.members[key] = value(member) }
        return .object(object)
    }

    static func value(_ member: TOMLValueConvertible) -> JSONValue {
        switch member.type {
        case .table: return member.table.map(value) ?? .null
        case .array: return .array((member.array ?? []).map(value))
        case .string: return .string(member.string ?? "")
        case .int: return .integer(member.int ?? 0)
        case .double: return .number(String(member.double ?? 0))
        case .bool: return .bool(member.bool ?? false)
        // Dates and times are no strings: kept apart, so that a reader wanting a string refuses them.
        default: return .object(["toml-\(member.type)": .string("\(member)")])
        }
    }

    /// A YAML document (Yams on libyaml): one document, aliases expanded, `<<` merge keys
    /// applied as YAML 1.1 and PyYAML do (docker-compose reads the file with PyYAML); scalars
    /// typed by Yams' default resolver (`0400` is octal, as PyYAML reads it).
    static func yaml(_ text: String) throws -> JSONValue {
        let node: Node?
        do {
            node = try Yams.compose(yaml: text)
        } catch let error as YamlError {
            throw Malformed(description: oneLine("\(error)"))
        }
        guard let node else { throw Malformed(description: "the document is empty") }
        var budget = maximumNodes
        return try value(node, depth: 0, budget: &budget)
    }

    /// Aliases are expanded, so a small document could otherwise grow to billions of nodes
    /// ("billion laughs"): a Compose file has a few thousand.
    static let maximumNodes = 1_000_000

    static func value(_ node: Node, depth: Int, budget: inout Int) throws -> JSONValue {
        guard depth < 64 else { throw Malformed(description: "nested deeper than 64 levels") }
        budget -= 1
        guard budget >= 0 else { throw Malformed(description: "the document expands to over \(maximumNodes) nodes (aliases)") }
        switch node {
        case .scalar(let scalar):
            switch Tag.Name(rawValue: node.tag.rawValue) {
            case .null: return .null
            case .bool: return node.bool.map(JSONValue.bool) ?? .string(scalar.string)
            case .int:
                if let number = node.int { return .integer(number) }
                if let number = Int(scalar.string) { return .integer(number) }
                return .string(scalar.string)
            case .float: return node.float.map { .number(String($0)) } ?? .string(scalar.string)
            default: return .string(scalar.string)
            }
        case .sequence(let sequence):
            return .array(try sequence.map { try value($0, depth: depth + 1, budget: &budget) })
        case .mapping(let mapping):
            var object = JSONObject()
            var merged: [JSONObject] = []
            for (key, member) in mapping {
                guard case .scalar(let name) = key else { throw Malformed(description: "a mapping key that is not a scalar") }
                if Tag.Name(rawValue: key.tag.rawValue) == .merge {
                    switch try value(member, depth: depth + 1, budget: &budget) {
                    case .object(let source): merged.append(source)
                    case .array(let sources):
                        for case .object(let source) in sources { merged.append(source) }
                    default: throw Malformed(description: "'<<' merges a mapping or a list of mappings")
                    }
                    continue
                }
                guard object.members[name.string] == nil else {
                    throw Malformed(description: "the key '\(escaped(name.string))' appears twice in one mapping")
                }
                object.members[name.string] = try value(member, depth: depth + 1, budget: &budget)
            }
            // Keys of the mapping itself win, then the first merged mapping that has the key.
            for source in merged {
                for (key, member) in source where object.members[key] == nil { object.members[key] = member }
            }
            return .object(object)
        case .alias:
            throw Malformed(description: "an unresolved alias")
        }
    }

    static func oneLine(_ text: String) -> String {
        escaped(text.split(whereSeparator: \.isNewline).first.map(String.init) ?? text)
    }

    /// Control bytes as `\xNN`, so that a hostile file cannot write to the terminal.
    static func escaped(_ text: String) -> String {
        var out = ""
        for scalar in text.unicodeScalars {
            if scalar.value < 0x20 || scalar.value == 0x7F {
                out += "\\x" + String(scalar.value, radix: 16).leftPadded(2)
            } else {
                out.unicodeScalars.append(scalar)
            }
        }
        return out
    }

    static func readStandardInput() -> String {
        var bytes: [UInt8] = []
        var buffer = [UInt8](repeating: 0, count: 65536)
        while true {
            let count = buffer.withUnsafeMutableBytes { read(0, $0.baseAddress, $0.count) }
            if count < 0 && errno == EINTR { continue }
            guard count >= 0 else { fail("cannot read the document: \(String(cString: strerror(errno)))", status: 1) }
            if count == 0 { break }
            bytes += buffer[..<count]
            guard bytes.count <= maximumSize else { fail("the document is over \(maximumSize >> 20) MiB", status: 1) }
        }
        guard let text = String(validating: bytes, as: UTF8.self) else { fail("the document is not UTF-8", status: 1) }
        return text
    }

    static func write(_ bytes: [UInt8]) {
        var written = 0
        while written < bytes.count {
            let count = bytes.withUnsafeBytes { Glibc.write(1, $0.baseAddress! + written, $0.count - written) }
            if count < 0 && errno == EINTR { continue }
            guard count > 0 else { exit(1) }
            written += count
        }
    }

    static func fail(_ message: String, status: Int32) -> Never {
        let line = "secretshim-documents: \(escaped(message))\n"
        _ = line.withCString { Glibc.write(2, $0, strlen($0)) }
        exit(status)
    }
}

extension String {
    func leftPadded(_ width: Int) -> String {
        count >= width ? self : String(repeating: "0", count: width - count) + self
    }
}
