import Glibc
import JSON
import OrderedCollections

/// What a `--format` template reads: the item as Docker's Go structs would show it to
/// text/template. Times are kept apart from strings because Go prints a `time.Time` with its
/// `String()` (`2016-11-09 20:44:56.108386178 +0000 UTC`) and `json` writes it as RFC 3339.
indirect enum TemplateValue: Equatable {
    case string(String)
    /// A number as its text.
    case number(String)
    case bool(Bool)
    case null
    /// Nanoseconds since the Unix epoch, UTC.
    case time(Int64)
    case list([TemplateValue])
    case map(OrderedDictionary<String, TemplateValue>)

    /// A JSON document as the same value (objects as maps, keys in order).
    init(_ json: JSONValue) {
        switch json {
        case .null: self = .null
        case .bool(let value): self = .bool(value)
        case .number(let text): self = .number(text)
        case .string(let text): self = .string(text)
        case .array(let items): self = .list(items.map(TemplateValue.init))
        case .object(let object): self = .map(object.members.mapValues(TemplateValue.init))
        }
    }

    var json: JSONValue {
        switch self {
        case .string(let text): return .string(text)
        case .number(let text): return .number(text)
        case .bool(let value): return .bool(value)
        case .null: return .null
        case .time(let nanoseconds): return .string(Formats.rfc3339(nanoseconds: nanoseconds))
        case .list(let items): return .array(items.map(\.json))
        case .map(let members): return .object(JSONObject(members.mapValues(\.json)))
        }
    }

    /// As Go's fmt prints a value with %v: maps as `map[k:v ...]` with sorted keys, slices as
    /// `[a b]`, nil as `<nil>`.
    var printed: String {
        switch self {
        case .string(let text): return text
        case .number(let text): return text
        case .bool(let value): return value ? "true" : "false"
        case .null: return "<nil>"
        case .time(let nanoseconds): return Self.goTime(nanoseconds)
        case .list(let items): return "[" + items.map(\.printed).joined(separator: " ") + "]"
        case .map(let members):
            return "map[" + members.keys.sorted().map { "\($0):\(members[$0]!.printed)" }.joined(separator: " ") + "]"
        }
    }

    /// Go's `time.Time.String()` for a UTC time: `2006-01-02 15:04:05.999999999 +0000 UTC`.
    static func goTime(_ nanoseconds: Int64) -> String {
        let rfc = Formats.rfc3339(nanoseconds: nanoseconds)  // 2016-11-09T20:44:56.108386178Z
        return String(rfc.dropLast()).replacing("T", with: " ") + " +0000 UTC"
    }
}

/// Docker's `--format` templates (docker/cli's `formatter` package on Go's text/template): the
/// part scripts use. `{{.Field}}` and nested fields (`{{.Spec.Name}}`), `{{.}}`, string literals,
/// the functions Docker adds (`json`, `join`, `split`, `upper`, `lower`, `title`, `println`),
/// pipes (`{{.Name | upper}}`), `{{- ` and ` -}}` trimming, and the `table` prefix, whose
/// header row Docker's column names fill. As Docker does, `\t` and `\n` written as two
/// characters become a tab and a newline. Control structures (`range`, `if`, `with`,
/// variables) are refused. Every error, of syntax or of a field the item does not have, is
/// one line starting `template: ` (exit 2).
struct Template: Equatable {
    struct Invalid: Error, CustomStringConvertible {
        let description: String
        init(_ why: String) { description = "template: " + why }
    }

    enum Operand: Equatable {
        /// `.` (empty path) or `.A.B`.
        case field([String])
        case literal(String)
        case function(String)
    }

    /// One pipeline: commands separated by `|`, each a function with arguments or a single
    /// operand; each command after the first gets the previous one's result as its last argument.
    typealias Pipeline = [[Operand]]

    enum Node: Equatable {
        case text(String)
        case action(Pipeline)
    }

    static let functions: Set<String> = ["json", "join", "split", "upper", "lower", "title", "println"]

    let isTable: Bool
    let nodes: [Node]

    init(_ format: String) throws(Invalid) {
        var text = format
        isTable = text.hasPrefix("table")
        if isTable { text = String(text.dropFirst("table".count)) }
        // docker/cli formatter.Context.preFormat: trimmed of spaces, `\t` and `\n` made real.
        if isTable { text = String(text.drop(while: { $0 == " " })) }
        text = text.replacing("\\t", with: "\t").replacing("\\n", with: "\n")
        nodes = try Self.parse(text)
    }

    // MARK: Parsing

    static func parse(_ text: String) throws(Invalid) -> [Node] {
        var nodes: [Node] = []
        var rest = Substring(text)
        while let open = rest.firstRange(of: "{{") {
            var literal = String(rest[..<open.lowerBound])
            var inside = rest[open.upperBound...]
            if inside.hasPrefix("- ") || inside.hasPrefix("-\t") || inside.hasPrefix("-\n") {
                literal = String(literal.reversed().drop(while: \.isWhitespace).reversed())
                inside = inside.dropFirst()
            }
            guard let close = inside.firstRange(of: "}}") else { throw Invalid("unclosed action (no '}}')") }
            var body = inside[..<close.lowerBound]
            rest = inside[close.upperBound...]
            if body.hasSuffix(" -") || body.hasSuffix("\t-") || body.hasSuffix("\n-") {
                body = body.dropLast()
                rest = rest.drop(while: \.isWhitespace)
            }
            if !literal.isEmpty { nodes.append(.text(literal)) }
            let pipeline = try parsePipeline(body)
            if !pipeline.isEmpty { nodes.append(.action(pipeline)) }
        }
        if !rest.isEmpty { nodes.append(.text(String(rest))) }
        return nodes
    }

    static func parsePipeline(_ body: Substring) throws(Invalid) -> Pipeline {
        let tokens = try tokenize(body)
        if tokens.isEmpty {
            // `{{}}` is Go's "missing value for command"; `{{/* */}}` a comment, not supported.
            throw Invalid("empty action '{{\(body)}}'")
        }
        var pipeline: Pipeline = []
        var command: [Operand] = []
        for token in tokens {
            if case .function("|") = token {
                guard !command.isEmpty else { throw Invalid("missing command before '|'") }
                pipeline.append(command)
                command = []
                continue
            }
            command.append(token)
        }
        guard !command.isEmpty else { throw Invalid("missing command after '|'") }
        pipeline.append(command)
        for (index, command) in pipeline.enumerated() {
            switch command[0] {
            case .function(let name):
                guard functions.contains(name) else {
                    if ["range", "if", "with", "else", "end", "define", "template", "block", "len", "index", "printf", "print"].contains(name) {
                        throw Invalid("'\(name)' is not supported (fields, pipes and the functions \(functions.sorted().joined(separator: ", ")) are)")
                    }
                    throw Invalid("function \"\(name)\" not defined")
                }
            default:
                if command.count > 1 { throw Invalid("\(describe(command[0])) is not a function: it takes no arguments") }
                if index > 0 { throw Invalid("\(describe(command[0])) is not a function: nothing can be piped into it") }
            }
        }
        return pipeline
    }

    static func describe(_ operand: Operand) -> String {
        switch operand {
        case .field(let path): return path.isEmpty ? "." : "." + path.joined(separator: ".")
        case .literal(let text): return "\"\(text)\""
        case .function(let name): return name
        }
    }

    /// Fields, identifiers, `|`, and Go's string literals ("..." with escapes, `raw`).
    static func tokenize(_ body: Substring) throws(Invalid) -> [Operand] {
        var tokens: [Operand] = []
        var index = body.startIndex
        while index < body.endIndex {
            let character = body[index]
            if character.isWhitespace {
                index = body.index(after: index)
            } else if character == "|" {
                tokens.append(.function("|"))
                index = body.index(after: index)
            } else if character == "\"" || character == "`" {
                var text = ""
                var cursor = body.index(after: index)
                var closed = false
                while cursor < body.endIndex {
                    let next = body[cursor]
                    if next == character {
                        closed = true
                        break
                    }
                    if next == "\\" && character == "\"" {
                        cursor = body.index(after: cursor)
                        guard cursor < body.endIndex else { break }
                        switch body[cursor] {
                        case "n": text += "\n"
                        case "t": text += "\t"
                        case "\\": text += "\\"
                        case "\"": text += "\""
                        default: throw Invalid("unknown escape sequence '\\\(body[cursor])' in a string")
                        }
                    } else {
                        text.append(next)
                    }
                    cursor = body.index(after: cursor)
                }
                guard closed else { throw Invalid("unterminated string in '{{\(body)}}'") }
                tokens.append(.literal(text))
                index = body.index(after: cursor)
            } else if character == "." {
                var end = body.index(after: index)
                while end < body.endIndex, body[end].isLetter || body[end].isNumber || body[end] == "_" || body[end] == "." { end = body.index(after: end) }
                let word = body[index..<end]
                var path: [String] = []
                if word != "." {
                    let parts = word.dropFirst().split(separator: ".", omittingEmptySubsequences: false)
                    guard !parts.contains(where: \.isEmpty) else { throw Invalid("bad field '\(word)'") }
                    path = parts.map(String.init)
                }
                tokens.append(.field(path))
                index = end
            } else if character.isLetter || character == "_" {
                var end = index
                while end < body.endIndex, body[end].isLetter || body[end].isNumber || body[end] == "_" { end = body.index(after: end) }
                tokens.append(.function(String(body[index..<end])))
                index = end
            } else if character == "$" || character == "(" || character == ")" {
                throw Invalid("'\(character)' is not supported (fields, pipes and the functions \(functions.sorted().joined(separator: ", ")) are)")
            } else {
                throw Invalid("unexpected '\(character)' in '{{\(body)}}'")
            }
        }
        return tokens
    }

    // MARK: Rendering

    /// The template applied to `item`; control bytes in what each action prints are escaped
    /// (`\x1b`, `\n`, as `Output.escapingControlBytes`).
    func render(_ item: TemplateValue) throws(Invalid) -> String {
        var out = ""
        for node in nodes {
            switch node {
            case .text(let text): out += text
            case .action(let pipeline):
                // What the item holds (a label, a name another etcd node wrote) is escaped as
                // every error is (a fresh-eyes finding: an ESC in a label reached the terminal);
                // the line `println` ends with is its own.
                let printed = try Self.evaluate(pipeline, on: item).printed
                if case .function("println") = pipeline.last![0], printed.hasSuffix("\n") {
                    out += Output.escapingControlBytes(String(printed.dropLast())) + "\n"
                } else {
                    out += Output.escapingControlBytes(printed)
                }
            }
        }
        return out
    }

    /// Docker's output for `items`: each rendered on its line; for `table`, a header row
    /// (`headers`: each field's column name, else the field's name upper-cased) and columns
    /// cut at tabs and padded as Docker's tabwriter pads them.
    func output(_ items: [TemplateValue], headers: [String: String]) throws(Invalid) -> String {
        let lines = try items.map { (item) throws(Invalid) in try render(item) }
        guard isTable else { return lines.map { $0 + "\n" }.joined() }
        // The header row: the same template with each field read as its column's name (Docker
        // executes it on a map of the names).
        var header = ""
        for node in nodes {
            switch node {
            case .text(let text): header += text
            case .action(let pipeline):
                var first: String?
                let named = pipeline.map { command in
                    command.map { (operand: Operand) -> Operand in
                        guard case .field(let path) = operand else { return operand }
                        guard let last = path.last else { return .literal("") }
                        let name = headers[path.joined(separator: ".")] ?? headers[last] ?? last.uppercased()
                        if first == nil { first = name }
                        return .literal(name)
                    }
                }
                // A function that wants a list (`join .Secrets ","`) gets a name: the column
                // is the field's.
                header += (try? Self.evaluate(named, on: .null).printed) ?? first ?? ""
            }
        }
        let rows = ([header] + lines).flatMap { $0.split(separator: "\n", omittingEmptySubsequences: false) }
            .map { $0.split(separator: "\t", omittingEmptySubsequences: false).map(String.init) }
        return Formats.table(rows)
    }

    static func evaluate(_ pipeline: Pipeline, on item: TemplateValue) throws(Invalid) -> TemplateValue {
        var piped: TemplateValue?
        for command in pipeline {
            var arguments: [TemplateValue] = []
            for operand in command.dropFirst() { arguments.append(try value(of: operand, on: item)) }
            if let piped { arguments.append(piped) }
            switch command[0] {
            case .function(let name): piped = try call(name, arguments)
            default: piped = try value(of: command[0], on: item)
            }
        }
        return piped ?? .null
    }

    static func value(of operand: Operand, on item: TemplateValue) throws(Invalid) -> TemplateValue {
        switch operand {
        case .literal(let text): return .string(text)
        case .function(let name): throw Invalid("\(name) is a function: write it first in its command, or in parentheses (not supported)")
        case .field(let path):
            var current = item
            for (depth, name) in path.enumerated() {
                guard case .map(let members) = current, let next = members[name] else {
                    let at = "." + path[...depth].joined(separator: ".")
                    throw Invalid("can't evaluate field \(name) (at <\(at)>): \(Self.kind(current)) has no field \(name)")
                }
                current = next
            }
            return current
        }
    }

    static func kind(_ value: TemplateValue) -> String {
        switch value {
        case .map: return "the item"
        case .list: return "a list"
        case .time: return "a time"
        default: return "a \(value.printed.isEmpty ? "empty value" : "value")"
        }
    }

    static func call(_ name: String, _ arguments: [TemplateValue]) throws(Invalid) -> TemplateValue {
        func count(_ wanted: Int) throws(Invalid) {
            guard arguments.count == wanted else {
                throw Invalid("wrong number of args for \(name): want \(wanted) got \(arguments.count)")
            }
        }
        func text(_ value: TemplateValue) throws(Invalid) -> String {
            switch value {
            case .string(let text): return text
            default: throw Invalid("\(name) wants a string, got \(value.printed)")
            }
        }
        switch name {
        case "json":
            try count(1)
            return .string(Formats.json(arguments[0].json))
        case "upper":
            try count(1)
            return .string(try text(arguments[0]).uppercased())
        case "lower":
            try count(1)
            return .string(try text(arguments[0]).lowercased())
        case "title":
            try count(1)
            var previous: Character = " "
            return .string(String(try text(arguments[0]).map { (character: Character) -> Character in
                defer { previous = character }
                return previous.isLetter || previous.isNumber || previous == "_" || previous == "'" ? character : Character(character.uppercased())
            }))
        case "split":
            try count(2)
            return .list(try text(arguments[0]).split(separator: try text(arguments[1]), omittingEmptySubsequences: false).map { .string(String($0)) })
        case "join":
            try count(2)
            guard case .list(let items) = arguments[0] else { throw Invalid("join wants a list, got \(arguments[0].printed)") }
            return .string(items.map(\.printed).joined(separator: try text(arguments[1])))
        default:  // println
            return .string(arguments.map(\.printed).joined(separator: " ") + "\n")
        }
    }
}
