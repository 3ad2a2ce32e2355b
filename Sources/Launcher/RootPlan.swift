/// The root filesystem a workload runs in (`--rootfs`, or an OCI bundle's `root` and `mounts`),
/// and the namespaces around it.
public struct RootPlan: Sendable {
    public struct Mount: Sendable, Equatable {
        public var destination: String
        public var type: String
        public var source: String
        public var options: [String]

        public init(destination: String, type: String, source: String, options: [String] = []) {
            self.destination = destination
            self.type = type
            self.source = source
            self.options = options
        }

        public var isBind: Bool { type == "bind" || options.contains("bind") || options.contains("rbind") }
    }

    /// The host directory that becomes "/".
    public var path: String
    public var readOnly = false
    public var hostname: String?
    /// In order: a later mount may sit inside an earlier one (/dev, then /dev/pts).
    public var mounts: [Mount]
    /// Hidden from the workload: /dev/null bound over files, an empty read-only tmpfs over folders.
    public var maskedPaths: [String] = []
    public var readOnlyPaths: [String] = []
    /// Namespaces besides mount, as `Namespace.unshare` letters: u, i, n, p.
    public var namespaces = ""

    public init(path: String, mounts: [Mount]) {
        self.path = path
        self.mounts = mounts
    }

    /// `--rootfs DIR`: what a container gets at least: a fresh /proc and a minimal /dev, with
    /// Docker's (and `runc spec`'s) masked and read-only paths of /proc.
    public static func minimal(path: String) -> RootPlan {
        var plan = RootPlan(path: path, mounts: [
            Mount(destination: "/proc", type: "proc", source: "proc", options: ["nosuid", "noexec", "nodev"]),
            Mount(destination: "/dev", type: "tmpfs", source: "tmpfs", options: ["nosuid", "strictatime", "mode=755", "size=65536k"]),
        ])
        plan.maskedPaths = [
            "/proc/acpi", "/proc/asound", "/proc/kcore", "/proc/keys", "/proc/latency_stats", "/proc/timer_list",
            "/proc/timer_stats", "/proc/sched_debug", "/proc/scsi", "/sys/firmware",
        ]
        plan.readOnlyPaths = ["/proc/bus", "/proc/fs", "/proc/irq", "/proc/sys", "/proc/sysrq-trigger"]
        return plan
    }

    /// The device nodes every container gets in /dev (runc's list), bound from the host's.
    public static let devices = ["null", "zero", "full", "random", "urandom", "tty"]

    /// The pid namespace needs a process to be its init: the shim forks and waits.
    public var needsPIDNamespace: Bool { namespaces.contains("p") }
}
