import SecretStore

/// Everything `run` was asked to do, parsed and validated, before any kernel work.
public struct LaunchPlan: Sendable {
    public var grants: [SecretGrant] = []
    public var secretsDirectory = "/run/secrets"
    /// Nil: sized to the granted secrets, at least 1 MiB.
    public var tmpfsSize: UInt64?
    public var name: String?
    /// `K=V` entries added to (or replacing in) the inherited environment.
    public var extraEnvironment: [String] = []
    public var allowEnvironmentLeak = false
    public var command: [String] = []
    public var hardening = Hardening()
    /// `--rootfs` or `--bundle`: the workload's own root filesystem; nil runs in the host's.
    public var root: RootPlan? { didSet { hasRoot = root != nil } }
    /// Whether `root` is set, kept aside: the first look at the optional itself builds
    /// `Optional<RootPlan>`'s metadata, about 36,000 instructions of `run`'s budget
    /// (bench/budget) even when it is nil (the common case).
    public private(set) var hasRoot = false
    /// Replaces the inherited environment (an OCI bundle's `process.env`).
    public var environment: [String]?
    public var workingDirectory: String?
    public var resourceLimits: [ResourceLimit] = []

    public struct ResourceLimit: Sendable, Equatable {
        public var name: String
        public var soft: UInt64
        public var hard: UInt64
    }

    public init() {}

    public static let minimumTmpfsSize: UInt64 = 1 << 20

    /// What the files take on a tmpfs: each rounded up to whole pages, plus a page for its
    /// inode and folder entries.
    public static func bytesNeeded(forSecretSizes sizes: [Int]) -> UInt64 {
        let page: UInt64 = 4096
        return sizes.reduce(page) { $0 + (UInt64($1) + page - 1) / page * page + page }
    }

    /// The default size: what the files need with headroom, at least 1 MiB.
    public static func tmpfsSize(forSecretSizes sizes: [Int]) -> UInt64 {
        max(bytesNeeded(forSecretSizes: sizes) + 64 * 1024, minimumTmpfsSize)
    }

    /// The workload's name for `ps` and `secret rm`: `--name`, else the command's base name.
    public var workloadName: String {
        if let name { return name }
        guard let command = command.first else { return "workload" }
        // The base name (trailing slashes aside), keeping only the bytes of Docker's name rule.
        var bytes = command.utf8[...]
        while bytes.last == UInt8(ascii: "/") { bytes = bytes.dropLast() }
        if let slash = bytes.lastIndex(of: UInt8(ascii: "/")) { bytes = bytes[bytes.index(after: slash)...] }
        var cleaned: [UInt8] = []
        for byte in bytes where SecretRules.isNameCharacter(byte) { cleaned.append(byte) }
        return cleaned.isEmpty ? "workload" : String(decoding: cleaned, as: UTF8.self)
    }

    /// Docker's container-name rule: `[a-zA-Z0-9][a-zA-Z0-9_.-]*`.
    public static func isValidWorkloadName(_ name: String) -> Bool {
        let bytes = name.utf8
        guard let first = bytes.first, SecretRules.isLetter(first) || (first >= 0x30 && first <= 0x39) else { return false }
        return bytes.count <= 128 && bytes.allSatisfy(SecretRules.isNameCharacter)
    }
}
