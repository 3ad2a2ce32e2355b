import Glibc
import Namespaces

/// Where the store, its key and the leases live, resolved from flags, then the environment,
/// then SPEC.md's defaults.
public struct StoreLocation: Sendable, Equatable {
    public var root: String
    public var keyFile: String
    public var stateDirectory: String

    public var databasePath: String { root + "/secrets.db" }

    public init(root: String, keyFile: String? = nil, stateDirectory: String? = nil) {
        self.root = root
        self.keyFile = keyFile ?? root + "/master.key"
        self.stateDirectory = stateDirectory ?? Self.defaultStateDirectory()
    }

    /// `--root` beats `SECRETSHIM_ROOT` beats the per-user default; likewise for the key file.
    public static func resolve(root: String?, keyFile: String?) -> StoreLocation {
        let root = nonEmpty(root) ?? nonEmpty(System.environment("SECRETSHIM_ROOT")) ?? defaultRoot()
        let keyFile = nonEmpty(keyFile) ?? nonEmpty(System.environment("SECRETSHIM_KEY_FILE"))
        return StoreLocation(root: root, keyFile: keyFile)
    }

    public static func defaultRoot() -> String {
        if geteuid() == 0 { return "/var/lib/secretshim" }
        if let data = nonEmpty(System.environment("XDG_DATA_HOME")) { return data + "/secretshim" }
        return home() + "/.local/share/secretshim"
    }

    /// Leases describe running processes, so they live with them on a runtime dir, not in the
    /// store: that keeps `run` working from a read-only store.
    public static func defaultStateDirectory() -> String {
        if let explicit = nonEmpty(System.environment("SECRETSHIM_STATE_DIR")) { return explicit }
        if geteuid() == 0 { return "/run/secretshim" }
        if let runtime = nonEmpty(System.environment("XDG_RUNTIME_DIR")) { return runtime + "/secretshim" }
        let perUser = "/run/user/\(geteuid())"
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
    public func trusted() throws(StoreError) -> StoreLocation {
        guard geteuid() == 0 else { return self }
        var checked = self
        checked.root = try Self.trustedPath(root)
        checked.keyFile = try Self.trustedPath(Files.parent(of: keyFile)) + "/" + (Files.components(keyFile).last ?? "")
        checked.stateDirectory = try Self.trustedPath(stateDirectory)
        return checked
    }

    /// The real path of `path` (of its deepest existing ancestor, with the rest appended),
    /// every existing directory on it owned by root and not writable by group or others unless
    /// sticky.
    static func trustedPath(_ path: String) throws(StoreError) -> String {
        var existing = path.hasUTF8Prefix("/") ? path : (currentDirectory() + "/" + path)
        var missing: [String] = []
        var resolved: String?
        while resolved == nil {
            if let real = realpath(existing, nil) {
                resolved = String(cString: real)
                free(real)
            } else {
                guard errno == ENOENT, existing != "/" else { throw .untrusted(path: path, why: String(cString: strerror(errno))) }
                if let last = Files.components(existing).last { missing.insert(last, at: 0) }
                existing = Files.parent(of: existing)
            }
        }
        var prefix = ""
        for component in [""] + Files.components(resolved!) {
            prefix += component.isEmpty ? "/" : (prefix == "/" ? "" : "/") + component
            var st = stat()
            guard lstat(prefix, &st) == 0 else { throw .untrusted(path: path, why: "\(prefix): \(String(cString: strerror(errno)))") }
            guard st.st_mode & S_IFMT == S_IFDIR else { throw .untrusted(path: path, why: "\(prefix) is not a directory") }
            guard st.st_uid == 0 else {
                throw .untrusted(path: path, why: "\(prefix) belongs to uid \(st.st_uid), not root; as root, secretshim keeps its store, key and state only under root's own directories")
            }
            guard st.st_mode & 0o022 == 0 || st.st_mode & S_ISVTX != 0 else {
                throw .untrusted(path: path, why: "\(prefix) is writable by group or others (mode \(String(st.st_mode & 0o7777, radix: 8)))")
            }
        }
        var result = resolved!
        for component in missing { result += (result == "/" ? "" : "/") + component }
        return result
    }

    static func currentDirectory() -> String {
        guard let cwd = getcwd(nil, 0) else { return "/" }
        defer { free(cwd) }
        return String(cString: cwd)
    }

    static func home() -> String {
        if let home = nonEmpty(System.environment("HOME")) { return home }
        if let entry = getpwuid(geteuid()), let dir = entry.pointee.pw_dir { return String(cString: dir) }
        return "/"
    }

    static func nonEmpty(_ value: String?) -> String? {
        guard let value, !value.isEmpty else { return nil }
        return value
    }
}
