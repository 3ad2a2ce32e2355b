import Glibc
import Namespaces

/// Where the store, its key and the leases live, resolved from flags, then the environment,
/// then SPEC.md's defaults.
public struct StoreLocation: Sendable, Equatable {
    public var root: String
    public var keyFile: String
    public var stateDirectory: String
    /// Where the secrets are kept when not in `root`'s database: a store shared by several
    /// nodes (etcd), which the commands layer links in. The root still holds the key file and
    /// the state dir (this node's leases).
    public var remote = RemoteStore()

    /// Whether the secrets are kept in a `remote` store rather than in the root's database.
    public var isRemote: Bool { !remote.url.isEmpty }

    public var databasePath: String { root + "/secrets.db" }

    /// How the store is named in messages: its URL for a remote store, else its root.
    public var storeName: String { isRemote ? remote.url : root }

    public init(root: String, keyFile: String? = nil, stateDirectory: String? = nil) {
        self.root = root
        self.keyFile = keyFile ?? root + "/master.key"
        self.stateDirectory = stateDirectory ?? Self.defaultStateDirectory()
    }

    public static func defaultRoot() -> String {
        if System.effectiveUserID == 0 { return "/var/lib/secretshim" }
        if let data = nonEmpty(System.environment("XDG_DATA_HOME")) { return data + "/secretshim" }
        return home() + "/.local/share/secretshim"
    }

    /// Leases describe running processes, so they live with them on a runtime dir, not in the
    /// store: that keeps `run` working from a read-only store.
    public static func defaultStateDirectory() -> String {
        if let explicit = nonEmpty(System.environment("SECRETSHIM_STATE_DIR")) { return explicit }
        if System.effectiveUserID == 0 { return "/run/secretshim" }
        if let runtime = nonEmpty(System.environment("XDG_RUNTIME_DIR")) { return runtime + "/secretshim" }
        let perUser = "/run/user/\(System.effectiveUserID)"
        if Files.exists(perUser) { return perUser + "/secretshim" }
        return defaultRoot() + "/state"
    }

    /// Run as root, the store, its key and the state dir must be out of reach of every other
    /// user: root may have been started from a user's shell (`su` without `-`, `sudo -E`) with
    /// `SECRETSHIM_ROOT` pointing into that user's files, where a planted symlink or a rename
    /// would make root write (or read) where the user chose. So, as root, each of these paths is
    /// resolved to its real path, and every directory on it must belong to root and be writable
    /// by no one else (a sticky one such as /tmp is fine: others cannot rename what root owns
    /// in it); the paths returned are the real ones, which no one but root can change. As ssh's
    /// StrictModes checks a key's directories. An ordinary user's own files are the user's.
    /// A remote store's TLS files too (`trustedFile`).
    public func trusted() throws(StoreError) -> StoreLocation {
        guard System.effectiveUserID == 0 else { return self }
        var checked = self
        checked.root = try Self.trustedPath(root)
        // The key's folder is most often the store's own: resolved once.
        let keyFolder = Files.parent(of: keyFile)
        checked.keyFile = (keyFolder == root ? checked.root : try Self.trustedPath(keyFolder)) + "/" + (Files.components(keyFile).last ?? "")
        checked.stateDirectory = try Self.trustedPath(stateDirectory)
        // Whoever could replace the CA file could stand in for etcd (a fresh-eyes finding: root
        // used TLS files in another user's directory).
        // Their real paths are used from here on, as for the paths above: a symlink checked
        // once could be pointed elsewhere by whoever owns its folder before the client reads it.
        func real(_ file: String) throws(StoreError) -> String { file.isEmpty ? "" : try Self.trustedFile(file) }
        if remote.url != "" {
            checked.remote = RemoteStore(
                url: remote.url, caCertificate: try real(remote.caCertificate), certificate: try real(remote.certificate),
                key: try real(remote.key))
        }
        return checked
    }

    /// A file root may trust: its real path (returned) under root's own directories
    /// (`trustedPath`), a regular file of root's that no group or other user can write.
    public static func trustedFile(_ path: String) throws(StoreError) -> String {
        let absolute = path.hasUTF8Prefix("/") ? path : (currentDirectory() + "/" + path)
        let real: String
        do { real = try Files.realPath(absolute) } catch { throw .untrusted(path: path, why: error.description) }
        _ = try trustedPath(Files.parent(of: real))
        let st: stat
        do { st = try Files.status(real) } catch { throw .untrusted(path: path, why: error.description) }
        guard st.st_mode & S_IFMT == S_IFREG else { throw .untrusted(path: path, why: "not a regular file") }
        guard st.st_uid == 0 else { throw .untrusted(path: path, why: "it belongs to uid \(st.st_uid), not root") }
        guard st.st_mode & 0o022 == 0 else {
            throw .untrusted(path: path, why: "it is writable by group or others (mode \(String(st.st_mode & 0o7777, radix: 8)))")
        }
        return real
    }

    /// The real path of `path` (of its deepest existing ancestor, with the rest appended),
    /// every existing directory on it owned by root and not writable by group or others unless
    /// sticky (`Files.rootOwnedRealPath`).
    public static func trustedPath(_ path: String) throws(StoreError) -> String {
        let absolute = path.hasUTF8Prefix("/") ? path : (currentDirectory() + "/" + path)
        switch Files.rootOwnedRealPath(absolute) {
        case .trusted(let real): return real
        case .unresolved(let error): throw .untrusted(path: path, why: error.description)
        case .notADirectory(let directory): throw .untrusted(path: path, why: "\(directory) is not a directory")
        case .ownedBy(let directory, let uid):
            throw .untrusted(path: path, why: "\(directory) belongs to uid \(uid), not root; as root, secretshim keeps its store, key and state only under root's own directories")
        case .writableByOthers(let directory, let mode):
            throw .untrusted(path: path, why: "\(directory) is writable by group or others (mode \(String(mode & 0o7777, radix: 8)))")
        }
    }

    static func currentDirectory() -> String { (try? Files.currentDirectory()) ?? "/" }

    public static func home() -> String {
        if let home = nonEmpty(System.environment("HOME")) { return home }
        if let directory = System.homeDirectory(of: System.effectiveUserID) { return directory }
        return "/"
    }

    static func nonEmpty(_ value: String?) -> String? {
        guard let value, !value.isEmpty else { return nil }
        return value
    }
}

/// A store kept elsewhere than the local database: its URL and client TLS files, plain data
/// (an empty URL: the local store; an empty path: not given). No optionals: `run` copies and
/// destroys locations, and an optional here cost it about 35,000 instructions of metadata.
/// The layer that links its client (the commands, for etcd) opens it (`StoreLocation.opener`),
/// so that the domain and `run`'s path with the local store never touch that client.
public struct RemoteStore: Sendable, Equatable {
    /// The store's URL as given (`etcd://...`), without credentials: what messages name.
    public let url: String
    /// The client's TLS files: CA, certificate, key (PEM paths; empty when not given).
    public let caCertificate: String
    public let certificate: String
    public let key: String

    public init(url: String = "", caCertificate: String = "", certificate: String = "", key: String = "") {
        self.url = url
        self.caCertificate = caCertificate
        self.certificate = certificate
        self.key = key
    }
}

extension StoreLocation {
    /// Opens a `RemoteStore`: set once, at start, by the layer that links the client, before a
    /// location with a remote store is opened (`openForReading`, `openForWriting`).
    nonisolated(unsafe) public static var opener: ((StoreLocation) throws(StoreError) -> any SecretSource)?
}
