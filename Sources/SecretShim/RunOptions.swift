import Launcher
import Namespaces

// A file of its own, without ArgumentParser: fuzz/ compiles it with RunArguments.swift (symlinks).

/// One of `run`'s options: its names, whether it takes a value, whether it may be given again,
/// its help, and what it does to the command line being parsed. `RunOption.all` is the one
/// table that `RunArguments.parse` reads and `RunArguments.help` prints.
struct RunOption: Sendable {
    typealias Invalid = RunArguments.Invalid

    enum Action: Sendable {
        /// A switch: `--privileged`.
        case flag(@Sendable (inout RunArguments) -> Void)
        /// Takes one value, `--name X` or `--name=X`; the help shows it as `valueName`.
        case value(valueName: String, @Sendable (inout RunArguments, String) throws(Invalid) -> Void)
    }

    let name: String
    let short: String?
    /// Given again, a repeatable option adds; any other keeps its last value (as `docker run`).
    let repeatable: Bool
    /// Its text in `run --help`, lines split at "\n"; empty: not listed (`--help` itself).
    let help: String
    let action: Action

    init(_ name: String, short: String? = nil, repeatable: Bool = false, help: String, _ action: Action) {
        self.name = name
        self.short = short
        self.repeatable = repeatable
        self.help = help
        self.action = action
    }

    /// `-e, --env K=V`: the option as the help's left column shows it.
    var synopsis: String {
        var text = short.map { $0 + ", " } ?? ""
        text += name
        if case .value(let valueName, _) = action { text += " " + valueName }
        return text
    }

    /// The option's place in `all`. An index, not a `RunOption?`: instantiating that optional's
    /// metadata cost `run` some 37,000 instructions (bench/budget).
    static func index(named name: String) -> Int? {
        all.firstIndex { $0.name == name || $0.short == name }
    }

    /// In the order `run --help` lists them.
    static let all: [RunOption] = [
        RunOption(
            "--secret", repeatable: true,
            help: """
                Grant a secret: NAME, or source=NAME[,target=PATH][,uid=N][,gid=N]
                [,mode=OCTAL][,env=VAR] (repeatable); as Docker, a field in
                double quotes may hold commas, "" a quote: '"target=a,b"'
                """,
            // Parsed once the secrets dir is known, whatever the order of the flags.
            .value(valueName: "SPEC") { parsed, value throws(Invalid) in parsed.secretSpecs.append(value) }),
        RunOption(
            "--secrets-dir", help: "Where the secrets tmpfs is mounted (default /run/secrets)",
            .value(valueName: "DIR") { parsed, value throws(Invalid) in
                // On bytes, as the kernel reads the path: as Characters, `//` passed as other
                // than / (and was then cleaned to /), and a '..' before a '/' with a combining
                // mark on it was no component.
                let components = Files.components(value)
                guard value.hasUTF8Prefix("/"), !components.isEmpty, !components.contains("..") else {
                    throw Invalid("--secrets-dir must be an absolute path other than / without '..': \(value)")
                }
                var cleaned = value.utf8[...]
                while cleaned.last == UInt8(ascii: "/") { cleaned = cleaned.dropLast() }
                parsed.plan.secretsDirectory = String(decoding: cleaned, as: UTF8.self)
            }),
        RunOption(
            "--tmpfs-size", help: "Size of the tmpfs (default: enough for the secrets, at least 1 MiB)",
            .value(valueName: "BYTES") { parsed, value throws(Invalid) in parsed.plan.tmpfsSize = try RunArguments.parseSize(value) }),
        RunOption(
            "--name", help: "Name of the workload, for 'ps' and 'secret rm'",
            .value(valueName: "NAME") { parsed, value throws(Invalid) in
                guard LaunchPlan.isValidWorkloadName(value) else {
                    throw Invalid("invalid name '\(value)': only [a-zA-Z0-9][a-zA-Z0-9_.-] allowed")
                }
                parsed.plan.name = value
            }),
        RunOption(
            "--env", short: "-e", repeatable: true, help: "Add K=V to the environment (repeatable)",
            .value(valueName: "K=V") { parsed, value throws(Invalid) in
                // Cut at the first '=' byte, as the kernel's environment is read: as
                // Characters, an '=' with a combining mark on it is none.
                let equals = value.utf8.firstIndex(of: UInt8(ascii: "="))
                let key = String(decoding: value.utf8[..<(equals ?? value.utf8.endIndex)], as: UTF8.self)
                guard equals != nil, SecretGrant.isEnvironmentName(key) else {
                    throw Invalid("invalid --env '\(key)': expected VAR=VALUE")
                }
                parsed.plan.extraEnvironment.append(value)
            }),
        RunOption(
            "--allow-env-leak", help: "Start even if an environment variable holds a secret's value",
            .flag { $0.plan.allowEnvironmentLeak = true }),
        RunOption(
            "--user", short: "-u", help: "Run as this user (names from the root's /etc/passwd, /etc/group)",
            .value(valueName: "UID[:GID]") { parsed, value throws(Invalid) in parsed.plan.hardening.user = value }),
        RunOption(
            "--cap-drop", repeatable: true, help: "Drop a capability from Docker's default set (repeatable)",
            .value(valueName: "CAP|ALL") { parsed, value throws(Invalid) in parsed.plan.hardening.capDrop.append(value) }),
        RunOption(
            "--cap-add", repeatable: true, help: "Add a capability (repeatable)",
            .value(valueName: "CAP|ALL") { parsed, value throws(Invalid) in parsed.plan.hardening.capAdd.append(value) }),
        RunOption(
            "--no-new-privileges", help: "Set no_new_privs: setuid binaries and file caps grant nothing",
            .flag { $0.plan.hardening.noNewPrivileges = true }),
        RunOption(
            "--seccomp", help: "default, unconfined, or a Docker/OCI JSON profile",
            .value(valueName: "PROFILE") { parsed, value throws(Invalid) in
                switch value {
                case "default": parsed.plan.hardening.seccomp = .default
                case "unconfined": parsed.plan.hardening.seccomp = .unconfined
                case "": throw Invalid("--seccomp needs default, unconfined or a profile file")
                default: parsed.plan.hardening.seccomp = .profile(value)
                }
            }),
        RunOption(
            "--privileged", help: "All capabilities and no seccomp filter",
            .flag { $0.plan.hardening.privileged = true }),
        RunOption(
            "--rootfs", help: "Run in DIR as the root filesystem (pivot_root; fresh /proc, minimal /dev)",
            .value(valueName: "DIR") { parsed, value throws(Invalid) in
                guard value.hasUTF8Prefix("/") else { throw Invalid("--rootfs must be an absolute path: \(value)") }
                parsed.plan.root = RootPlan.minimal(path: value)
            }),
        RunOption(
            "--bundle", help: "Run an OCI bundle (DIR/config.json); a COMMAND replaces its args",
            .value(valueName: "DIR") { parsed, value throws(Invalid) in
                guard !value.isEmpty else { throw Invalid("--bundle needs a directory") }
                parsed.bundle = value
            }),
        RunOption(
            "--config", help: "Configuration file (env SECRETSHIM_CONFIG)",
            .value(valueName: "FILE") { _, value throws(Invalid) in LeadingGlobals.config = value }),
        RunOption(
            "--root", help: "Store root (env SECRETSHIM_ROOT)",
            .value(valueName: "DIR") { parsed, value throws(Invalid) in parsed.root = value }),
        RunOption(
            "--key-file", help: "Master key file (env SECRETSHIM_KEY_FILE)",
            .value(valueName: "PATH") { parsed, value throws(Invalid) in parsed.keyFile = value }),
        RunOption("--help", short: "-h", help: "", .flag { $0.showHelp = true }),
    ]
}
