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
