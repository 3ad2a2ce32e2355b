import OrderedCollections

/// A JSON document kept as written: object members in their order, numbers as their text. The
/// runtime wrapper edits an engine's `config.json` (two fields) and must hand everything else
/// to the real runtime exactly as it came: a Codable round trip would drop unknown fields,
/// reorder keys, and turn 64-bit seccomp argument values into doubles. The commands build their
/// JSON output from it too (`JSONWriter`).
public enum JSONValue: Equatable, Sendable {
    case null
    case bool(Bool)
    /// The number's own text, e.g. `18446744073709551615` or `1e3`.
    case number(String)
    case string(String)
    case array([JSONValue])
    case object(JSONObject)

    /// An integer, written as its decimal text.
    public static func integer(_ value: some BinaryInteger) -> JSONValue { .number(String(value)) }

    /// The member `key` of an object, matched exactly (a map key, such as an annotation).
    public subscript(key: String) -> JSONValue? {
        guard case .object(let object) = self else { return nil }
        return object.members[key]
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
        guard case .object(let object) = self else { return nil }
        let folded = Self.fold(name)
        return object.members.elements.last { Self.fold($0.key) == folded }?.value
    }

    /// Sets the struct field `name` (`field`'s matching): the member runc would read is
    /// replaced and the others that match are dropped; added at the end if none matches.
    public mutating func setField(_ name: String, _ value: JSONValue) {
        guard case .object(var object) = self else { return }
        let folded = Self.fold(name)
        let matching = object.members.keys.indices.filter { Self.fold(object.members.keys[$0]) == folded }
        guard let last = matching.last else {
            object.members[name] = value
            self = .object(object)
            return
        }
        object.members.values[last] = value
        for index in matching.dropLast().reversed() { object.members.remove(at: index) }
        self = .object(object)
    }

    /// Sets (or adds, at the end) `key` of an object; no-op on anything else.
    public mutating func set(_ key: String, _ value: JSONValue) {
        guard case .object(var object) = self else { return }
        object.members[key] = value
        self = .object(object)
    }

    /// The first key that occurs twice in one object (after `fold`), anywhere in the document,
    /// in the order it was written. Go's decoder merges a repeated struct key into one struct,
    /// field by field, and keeps the last of a repeated map key: reading such a document as runc
    /// does is not worth the risk, and no engine writes one. (An object holds a key once: a key
    /// repeated exactly was seen by the parser, which keeps what it found.)
    public var repeatedKey: String? {
        switch self {
        case .object(let object):
            if let repeated = object.repeatedOnRead { return repeated }
            var seen = Set<String>()
            for member in object.members.elements {
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
    public static func fold(_ key: String) -> String {
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
}

/// A JSON object: its members by key, in the order they were written or added.
public struct JSONObject: Equatable, Sendable, RandomAccessCollection, ExpressibleByDictionaryLiteral {
    public var members: OrderedDictionary<String, JSONValue>
    /// Set by the parser: the first key, in document order, that this object or one inside it
    /// repeats (after `JSONValue.fold`). An exact repeat leaves one member (the last value,
    /// placed last), so only the parser saw it.
    var repeatedOnRead: String?

    public init(_ members: OrderedDictionary<String, JSONValue> = [:]) {
        self.members = members
    }

    public init(dictionaryLiteral elements: (String, JSONValue)...) {
        self.members = OrderedDictionary(uniqueKeysWithValues: elements)
    }

    /// The members alone: two objects read from texts that repeat keys differently are equal
    /// when they hold the same members in the same order.
    public static func == (lhs: JSONObject, rhs: JSONObject) -> Bool { lhs.members == rhs.members }

    public var startIndex: Int { members.elements.startIndex }
    public var endIndex: Int { members.elements.endIndex }
    public subscript(position: Int) -> (key: String, value: JSONValue) { members.elements[position] }
}
