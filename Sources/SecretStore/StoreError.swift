import Namespaces

/// Everything the store and the lease book can refuse or fail at. The description is the
/// `<why>` of a CLI error line; none of them ever carries a secret's value.
public enum StoreError: Error, CustomStringConvertible, Equatable {
    case invalidName(String)
    case invalidSize(Int)
    case invalidLabel(String)
    case duplicateName(String)
    case notFound(String)
    case ambiguous(String)
    case inUse(secret: String, holders: [String])
    case keyFile(path: String, why: String)
    case undecryptable(name: String)
    case corrupt(String)
    case database(String)
    /// A store, key or state path that others than root (or the caller) could change.
    case untrusted(path: String, why: String)
    case system(SysError)

    public var description: String {
        switch self {
        case .invalidName(let name):
            return "invalid name '\(name)': only 64 [a-zA-Z0-9-_.] characters allowed, and the start and end character must be [a-zA-Z0-9]"
        case .invalidSize(let size):
            let got = size >= SecretRules.maxSize ? "512000 bytes or more" : "\(size) bytes"
            return "secret data must be larger than 0 and less than 500 KB (512000 bytes), got \(got)"
        case .invalidLabel(let label):
            return "invalid label '\(label)': expected KEY=VALUE with a non-empty KEY"
        case .duplicateName(let name):
            return "secret '\(name)' already exists"
        case .notFound(let reference):
            return "no such secret: \(reference)"
        case .ambiguous(let reference):
            return "secret reference '\(reference)' is ambiguous: it is the prefix of several IDs"
        case .inUse(let secret, let holders):
            let noun = holders.count == 1 ? "workload" : "workloads"
            return "secret '\(secret)' is in use by the following \(noun): \(holders.joined(separator: ", "))"
        case .keyFile(let path, let why):
            return "key file \(path): \(why)"
        case .undecryptable(let name):
            return "secret '\(name)' cannot be decrypted: the record was altered or the master key is not the one it was sealed with"
        case .corrupt(let why):
            return "store is corrupt: \(why)"
        case .database(let why):
            return "store database: \(why)"
        case .untrusted(let path, let why):
            return "refusing \(path): \(why)"
        case .system(let error):
            return error.description
        }
    }
}
