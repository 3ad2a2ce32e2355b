/// What `scan` found: a secret's value inside a file (at a byte offset), a value in a path
/// name, or an entry under `run/secrets/` (an engine's empty stub counts). Never the value.
public struct Finding: Sendable, Equatable {
    public enum Kind: String, Sendable {
        case value
        /// The value is (part of) a file or folder name on the path, or a link's target.
        case pathName = "path-name"
        /// The value is in an extended attribute of the file (`user.*`, `trusted.*`, ...).
        case attribute = "xattr"
        case secretsEntry = "secrets-entry"
        case secretsStub = "secrets-stub"
        /// More values in the same file than `Scanner.valuesReportedPerFile`: `count` of them.
        case moreValues = "more-values"
    }
    /// The file: inside archives "archive.tar!layer.tar!etc/app.conf" (entry paths
    /// normalized). Every stored value in it is replaced by `<secret NAME>`: a path is
    /// printed, a value never. Not escaped: the printer escapes control bytes.
    public var path: String
    public var kind: Kind
    /// The secret's name; nil for entries under run/secrets and for `moreValues`.
    public var secret: String?
    /// The value's first byte in the file (or the archive entry), for `value`.
    public var offset: UInt64?
    /// How many values were not listed, for `moreValues`.
    public var count: UInt64?
}

/// What a scan tells its caller as it goes: findings are streamed, never held.
public enum ScanReport: Sendable {
    case finding(Finding)
    /// Nothing was missed: a short secret, a FIFO or device skipped (they hold no content).
    case warning(String)
    /// Something could not be read (a folder the user cannot open, a damaged archive, a
    /// decompression bomb): the scan cannot prove the tree clean.
    case unreadable(String)
}

public struct ScanError: Error, CustomStringConvertible {
    public let description: String
}
