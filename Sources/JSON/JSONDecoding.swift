/// A value read from a document into a Go struct's field, as runc reads `config.json` and Docker a
/// seccomp profile (encoding/json): keys matched with `JSONValue.field`'s folding, unknown keys
/// ignored, a missing or null optional field nil. Its errors name where the document went wrong
/// (`wrong type at 'process.user.uid'`), a path built from the fields' names as the reader asks
/// for them, array items as `Index N`.
public protocol JSONDecodable {
    init(from json: JSONCursor) throws(JSONDecodingError)
}

public struct JSONDecodingError: Error, CustomStringConvertible, Equatable {
    public enum Reason: Equatable, Sendable {
        /// A required field is absent.
        case missingKey(String)
        /// A value of another JSON type (a null for a required field included).
        case wrongType
        /// A number that is no integer, or one outside the field's type (named).
        case notRepresentable(String)
    }

    public let reason: Reason
    /// The fields and items leading to the value, e.g. `["syscalls", "Index 0", "action"]`.
    public let path: [String]

    public var description: String {
        let at = path.joined(separator: ".")
        switch reason {
        case .missingKey(let key): return "missing key '\(key)'"
        case .wrongType: return "wrong type at '\(at)'"
        case .notRepresentable(let type): return "not an integer of type \(type) at '\(at)'"
        }
    }
}

/// A value of a document and the path to it.
public struct JSONCursor {
    public let value: JSONValue
    public let path: [String]

    public init(_ value: JSONValue, path: [String] = []) {
        self.value = value
        self.path = path
    }

    func failure(_ reason: JSONDecodingError.Reason) -> JSONDecodingError {
        JSONDecodingError(reason: reason, path: path)
    }

    /// The struct field `name` (`JSONValue.field`'s matching), required: absent is an error, a
    /// null is the wrong type.
    public func decode<T: JSONDecodable>(_ name: String, as type: T.Type = T.self) throws(JSONDecodingError) -> T {
        guard case .object = value else { throw failure(.wrongType) }
        guard let member = value.field(name) else { throw failure(.missingKey(name)) }
        return try T(from: JSONCursor(member, path: path + [name]))
    }

    /// The struct field `name`, nil when absent or null.
    public func decodeIfPresent<T: JSONDecodable>(_ name: String, as type: T.Type = T.self) throws(JSONDecodingError) -> T? {
        guard case .object = value else { throw failure(.wrongType) }
        guard let member = value.field(name), member != .null else { return nil }
        return try T(from: JSONCursor(member, path: path + [name]))
    }
}

extension String: JSONDecodable {
    public init(from json: JSONCursor) throws(JSONDecodingError) {
        guard case .string(let text) = json.value else { throw json.failure(.wrongType) }
        self = text
    }
}

extension Bool: JSONDecodable {
    public init(from json: JSONCursor) throws(JSONDecodingError) {
        guard case .bool(let flag) = json.value else { throw json.failure(.wrongType) }
        self = flag
    }
}

/// An integer as Go's decoder takes one: the number's text a whole decimal the type holds
/// (`1.0`, `1e3` and a `-` before an unsigned one refused).
extension JSONDecodable where Self: FixedWidthInteger {
    public init(from json: JSONCursor) throws(JSONDecodingError) {
        guard case .number(let text) = json.value else { throw json.failure(.wrongType) }
        guard Self.isSigned || !text.hasPrefix("-"), let number = Self(text, radix: 10) else {
            throw json.failure(.notRepresentable(String(describing: Self.self)))
        }
        self = number
    }
}

extension Int32: JSONDecodable {}
extension UInt32: JSONDecodable {}
extension UInt64: JSONDecodable {}

extension Array: JSONDecodable where Element: JSONDecodable {
    public init(from json: JSONCursor) throws(JSONDecodingError) {
        guard case .array(let items) = json.value else { throw json.failure(.wrongType) }
        self = []
        reserveCapacity(items.count)
        for (index, item) in items.enumerated() {
            append(try Element(from: JSONCursor(item, path: json.path + ["Index \(index)"])))
        }
    }
}

/// Why a document could not be read into a `JSONDecodable`.
public enum JSONDocumentError: Error, CustomStringConvertible {
    case malformed(JSONSyntaxError)
    /// A key repeated in one object (`JSONValue.repeatedKey`).
    case repeatedKey(String)
    case shape(JSONDecodingError)

    public var description: String {
        switch self {
        case .malformed(let error): return "malformed JSON at byte \(error.offset): \(error.why)"
        case .repeatedKey(let key): return "the key '\(key)' is repeated in one object, which Go's decoder would merge: refused"
        case .shape(let error): return error.description
        }
    }
}

extension JSONDecodable {
    /// A whole document, read as Go's encoding/json reads it into a struct, except that a key
    /// repeated in one object (after folding) is refused rather than merged.
    public init(document bytes: [UInt8]) throws(JSONDocumentError) {
        let value: JSONValue
        do { value = try JSONValue.parse(bytes) } catch { throw .malformed(error) }
        if let repeated = value.repeatedKey { throw .repeatedKey(repeated) }
        do { try self.init(from: JSONCursor(value)) } catch { throw .shape(error) }
    }
}
