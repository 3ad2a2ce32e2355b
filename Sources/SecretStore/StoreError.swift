import Namespaces

/// Everything the store and the lease book can refuse or fail at. The description is the
/// `<why>` of a CLI error line; none of them ever carries a secret's value.
public enum StoreError: Error, CustomStringConvertible, Equatable {
    case invalidName(String)
    case invalidSize(Int)
    case invalidLabel(String)
    case duplicateName(String)
    /// A reference that names no secret, and the root of the store searched.
    case notFound(String, store: String)
    case ambiguous(String)
    case inUse(secret: String, holders: [String])
    case keyFile(path: String, why: String)
    /// The store holds secrets and its key file is not there.
    case keyMissing(store: String, keyFile: String)
    /// The key file is not the store's own (`KeyCheck`).
    case keyMismatch(store: String, keyFile: String)
    /// A command that reads was pointed at a store root that does not exist.
    case noStore(String)
    case undecryptable(name: String)
    case corrupt(String)
    case database(String)
    /// A store, key or state path that others than root (or the caller) could change.
    case untrusted(path: String, why: String)
    case system(SysError)
    /// A cluster store that could not answer (no member reachable, no quorum, a refused
    /// certificate): its URL and why. Nothing was changed.
    case unavailable(store: String, why: String)
    /// A cluster store's workload cannot be held without this node's agent (`secretshim node`).
    case noNodeAgent(store: String, stateDirectory: String)
    /// A backup file that cannot be written, read or restored: its path and why.
    case backupFile(path: String, why: String)
    /// `store restore` without `--force` onto a store that holds secrets.
    case storeNotEmpty(store: String, secrets: Int)

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
        case .notFound(let reference, let store):
            return "no such secret: \(reference) (in the store at \(store))"
        case .ambiguous(let reference):
            return "secret reference '\(reference)' is ambiguous: it is the prefix of several IDs"
        case .inUse(let secret, let holders):
            let noun = holders.count == 1 ? "workload" : "workloads"
            return "secret '\(secret)' is in use by the following \(noun): \(holders.joined(separator: ", "))"
        case .keyFile(let path, let why):
            return "key file \(path): \(why)"
        case .keyMissing(let store, let keyFile):
            return "the store at \(store) holds secrets, but its key file \(keyFile) is missing: restore the key from its backup, or give its path with --key-file (a new key could not decrypt them)"
        case .keyMismatch(let store, let keyFile):
            return "the key file \(keyFile) is not the key of the store at \(store): its secrets cannot be decrypted with it; use the store's own key (restore it from its backup, or give its path with --key-file)"
        case .noStore(let root):
            return "no store at \(root): the folder does not exist (check --root or SECRETSHIM_ROOT; 'secret create' makes a store)"
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
        case .unavailable(let store, let why):
            return "the store at \(store) is unavailable: \(why)"
        case .backupFile(let path, let why):
            return "backup \(path): \(why)"
        case .storeNotEmpty(let store, let secrets):
            return "the store at \(store) already holds \(secrets) secret\(secrets == 1 ? "" : "s"): restore replaces a store only with --force (every secret not in the backup is then removed)"
        case .noNodeAgent(let store, let stateDirectory):
            return "the store at \(store) is shared by several nodes, and this node's agent is not running (no live 'secretshim node' for the state dir \(stateDirectory)): start it, so that no node can remove a secret this workload holds"
        }
    }
}
