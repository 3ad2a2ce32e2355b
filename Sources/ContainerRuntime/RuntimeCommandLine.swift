/// runc's command line, read only as far as the wrapper needs: the global flags it must know
/// (`--root`, `--log`, `--log-format`), which command it is, and for `create`, `run` and
/// `delete` the bundle, pid file and container ID. Everything is passed on unchanged, so flags
/// this does not know (a newer runc's) still reach the runtime.
public struct RuntimeCommandLine: Sendable, Equatable {
    public var arguments: [String]
    public var root: String?
    public var log: String?
    public var logFormat: String?
    /// The command word (`create`, `delete`, ...) and where it is; nil for `--version`, `--help`
    /// or no command at all.
    public var command: String?
    public var commandIndex: Int?

    /// runc's global flags that take a value (urfave/cli: `--flag value`, `--flag=value`, and
    /// the same with one dash). All others are booleans.
    static let globalValueFlags = ["log", "log-format", "root", "criu", "rootless"]

    public init(_ arguments: [String]) {
        self.arguments = arguments
        var index = 0
        while index < arguments.count {
            let argument = arguments[index]
            guard let flag = Self.flag(argument) else {
                command = argument
                commandIndex = index
                return
            }
            if argument == "--" { return }
            var value = flag.value
            if value == nil && Self.globalValueFlags.contains(flag.name) && index + 1 < arguments.count {
                index += 1
                value = arguments[index]
            }
            switch flag.name {
            case "root": root = value
            case "log": log = value
            case "log-format": logFormat = value
            default: break
            }
            index += 1
        }
    }

    /// secretshim's own global flags, which runc must not see: `--secretshim-grant SPEC`
    /// (repeatable), `--secretshim-root DIR`, `--secretshim-state-dir DIR`,
    /// `--secretshim-key-file PATH`, and for a store on etcd `--secretshim-store URL`,
    /// `--secretshim-etcd-cacert`, `--secretshim-etcd-cert`, `--secretshim-etcd-key PATH`, each
    /// also as `--flag=value` (Podman's `--runtime-flag secretshim-root=DIR` arrives so). Docker
    /// passes them through a runtime's `runtimeArgs`, before runc's own flags; conmon passes no
    /// environment on, so these are how Podman points the wrapper at a store.
    public struct SecretshimFlags: Sendable, Equatable {
        public var grants: [String] = []
        public var root: String?
        /// `--secretshim-config FILE`: conmon passes no environment, so no SECRETSHIM_CONFIG.
        public var config: String?
        public var stateDirectory: String?
        public var keyFile: String?
        public var store: String?
        public var etcdCACertificate: String?
        public var etcdCertificate: String?
        public var etcdKey: String?
    }

    static let secretshimFlags = [
        "secretshim-grant", "secretshim-config", "secretshim-root", "secretshim-state-dir", "secretshim-key-file", "secretshim-store",
        "secretshim-etcd-cacert", "secretshim-etcd-cert", "secretshim-etcd-key",
    ]

    /// Takes secretshim's own flags out of the global flags (those before the command word).
    /// Throws for one without a value, and for a `--secretshim-` flag it does not know (passed
    /// on, runc would refuse it in its own words, and a misspelt grant would go unnoticed).
    public static func peelSecretshimFlags(_ arguments: [String]) throws(RuntimeError) -> (SecretshimFlags, [String]) {
        var flags = SecretshimFlags()
        var rest: [String] = []
        var index = 0
        while index < arguments.count {
            let argument = arguments[index]
            guard let flag = flag(argument), argument != "--" else {
                rest += arguments[index...]
                break
            }
            if flag.name.hasPrefix("secretshim-") && !secretshimFlags.contains(flag.name) {
                throw RuntimeError("unknown option '--\(flag.name)'; \(seeHelp)")
            }
            guard secretshimFlags.contains(flag.name) else {
                rest.append(argument)
                if flag.value == nil && globalValueFlags.contains(flag.name) && index + 1 < arguments.count {
                    index += 1
                    rest.append(arguments[index])
                }
                index += 1
                continue
            }
            var value = flag.value
            if value == nil {
                guard index + 1 < arguments.count else { throw RuntimeError("option '--\(flag.name)' needs a value; \(seeHelp)") }
                index += 1
                value = arguments[index]
            }
            switch flag.name {
            case "secretshim-grant": flags.grants.append(value!)
            case "secretshim-root": flags.root = value
            case "secretshim-config": flags.config = value
            case "secretshim-state-dir": flags.stateDirectory = value
            case "secretshim-store": flags.store = value
            case "secretshim-etcd-cacert": flags.etcdCACertificate = value
            case "secretshim-etcd-cert": flags.etcdCertificate = value
            case "secretshim-etcd-key": flags.etcdKey = value
            default: flags.keyFile = value
            }
            index += 1
        }
        return (flags, rest)
    }

    /// Where a usage error points.
    public static var seeHelp: String { "see 'secretshim runtime --help'" }

    /// runc's global help (`--help`, `-h`, as urfave/cli takes them, before any command word):
    /// the wrapper shows its own, which points at runc's. A command's help (`create --help`)
    /// is runc's.
    public var asksForHelp: Bool {
        guard command == nil else { return false }
        for argument in arguments {
            if argument == "--" { return false }
            if let flag = Self.flag(argument), flag.name == "help" || flag.name == "h" { return true }
        }
        return false
    }

    /// `-x`, `--x`, `--x=v`: the name without dashes and the inline value. On bytes, as Go's
    /// flag package reads them: as Characters, a '-' or '=' with a combining mark on it was
    /// none, and such a flag was read as the command or as a flag of another name than runc's.
    static func flag(_ argument: String) -> (name: String, value: String?)? {
        let bytes = argument.utf8
        guard bytes.first == UInt8(ascii: "-"), bytes.count > 1 else { return nil }
        let body = bytes.dropFirst(bytes.starts(with: "--".utf8) ? 2 : 1)
        if let equals = body.firstIndex(of: UInt8(ascii: "=")) {
            return (String(decoding: body[..<equals], as: UTF8.self), String(decoding: body[body.index(after: equals)...], as: UTF8.self))
        }
        return (String(decoding: body, as: UTF8.self), nil)
    }

    /// The arguments of `create`, `run`, `delete` or `exec`: flags, then the container ID.
    public struct ContainerCall: Sendable, Equatable {
        public var id: String
        public var idIndex: Int
        public var bundle: String?
        public var pidFile: String?
        /// `run --detach`: the container outlives this call.
        public var detach = false
        /// `exec --process FILE`: the process to start, as JSON.
        public var processFile: String?
        /// Where the flags end: the `--` that ends them, or else the ID. A flag added here is
        /// still read as one (after a `--` it would be read as the ID).
        public var flagsEnd: Int
    }

    /// Flags of `create`, `run`, `delete` and `exec` that take a value (none of these commands
    /// uses one of these names as a boolean).
    static let containerValueFlags = [
        "bundle", "b", "console-socket", "pid-file", "preserve-fds",
        "process", "p", "cwd", "env", "e", "user", "u", "additional-gids", "g", "process-label", "apparmor", "cap", "c", "cgroup",
    ]

    /// Parses what follows the command word up to the container ID (what follows it, `exec`'s
    /// command, is not flags); nil if there is no ID, which the runtime itself will report.
    public func containerCall() -> ContainerCall? {
        guard let commandIndex else { return nil }
        var bundle: String?
        var pidFile: String?
        var processFile: String?
        var detach = false
        var index = commandIndex + 1
        while index < arguments.count {
            let argument = arguments[index]
            guard argument != "--", let flag = Self.flag(argument) else {
                let idIndex = argument == "--" ? index + 1 : index
                guard idIndex < arguments.count else { return nil }
                return ContainerCall(
                    id: arguments[idIndex], idIndex: idIndex, bundle: bundle, pidFile: pidFile, detach: detach, processFile: processFile,
                    flagsEnd: index)
            }
            var value = flag.value
            if value == nil && Self.containerValueFlags.contains(flag.name) && index + 1 < arguments.count {
                index += 1
                value = arguments[index]
            }
            switch flag.name {
            case "bundle", "b": bundle = value
            case "pid-file": pidFile = value
            case "process", "p": processFile = value
            case "detach", "d": detach = value.map(Self.goBool) ?? true
            default: break
            }
            index += 1
        }
        return nil
    }

    /// A boolean flag's value as runc reads it (Go's strconv.ParseBool): 1, t, T, TRUE, true,
    /// True are true; anything else is not.
    static func goBool(_ value: String) -> Bool { ["1", "t", "T", "TRUE", "true", "True"].contains(value) }

    /// The same command line with `--pid-file PATH` added last among the flags: before the
    /// container ID, or before the `--` that precedes it.
    public func addingPidFile(_ path: String, before call: ContainerCall) -> [String] {
        var changed = arguments
        changed.insert(contentsOf: ["--pid-file", path], at: call.flagsEnd)
        return changed
    }
}
