import Launcher
import Namespaces
import SecretStore

/// `run`'s command line, parsed by hand: ArgumentParser's start-up cost would land on every
/// workload's start. Options end at `--` or at the first argument that is not an option.
struct RunArguments {
    var plan = LaunchPlan()
    var root: String?
    var keyFile: String?
    var showHelp = false
    var bundle: String?

    struct Invalid: Error, CustomStringConvertible {
        let description: String
        init(_ description: String) { self.description = description }
    }

    /// Plain switches rather than sets: no generic metadata to instantiate at start-up.
    static func isFlag(_ option: String) -> Bool {
        switch option {
        case "--allow-env-leak", "--help", "-h", "--no-new-privileges", "--privileged": return true
        default: return false
        }
    }

    static func takesValue(_ option: String) -> Bool {
        switch option {
        case "--secret", "--secrets-dir", "--tmpfs-size", "--name", "--env", "-e", "--root", "--key-file", "--user", "-u",
            "--cap-add", "--cap-drop", "--seccomp", "--rootfs", "--bundle":
            return true
        default: return false
        }
    }

    static func parse(_ arguments: ArraySlice<String>) throws(Invalid) -> RunArguments {
        var parsed = RunArguments()
        var specs: [String] = []
        var index = arguments.startIndex
        while index < arguments.endIndex {
            let argument = arguments[index]
            if argument == "--" {
                index += 1
                break
            }
            guard argument.hasUTF8Prefix("-"), argument != "-" else { break }
            var (option, inline) = LeadingGlobals.splitFlag(argument)
            if isFlag(option) {
                guard inline == nil else { throw Invalid("option '\(option)' takes no value; \(seeHelp)") }
                switch option {
                case "--allow-env-leak": parsed.plan.allowEnvironmentLeak = true
                case "--no-new-privileges": parsed.plan.hardening.noNewPrivileges = true
                case "--privileged": parsed.plan.hardening.privileged = true
                default: parsed.showHelp = true
                }
                index += 1
                continue
            }
            guard takesValue(option) else { throw Invalid("unknown option '\(option)'; \(seeHelp)") }
            if inline == nil {
                guard index + 1 < arguments.endIndex else { throw Invalid("option '\(option)' needs a value; \(seeHelp)") }
                inline = arguments[index + 1]
                index += 1
            }
            index += 1
            let value = inline!
            switch option {
            case "--secret": specs.append(value)
            case "--secrets-dir":
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
            case "--tmpfs-size": parsed.plan.tmpfsSize = try parseSize(value)
            case "--name":
                guard LaunchPlan.isValidWorkloadName(value) else {
                    throw Invalid("invalid name '\(value)': only [a-zA-Z0-9][a-zA-Z0-9_.-] allowed")
                }
                parsed.plan.name = value
            case "--env", "-e":
                // Cut at the first '=' byte, as the kernel's environment is read: as
                // Characters, an '=' with a combining mark on it is none.
                let equals = value.utf8.firstIndex(of: UInt8(ascii: "="))
                let key = String(decoding: value.utf8[..<(equals ?? value.utf8.endIndex)], as: UTF8.self)
                guard equals != nil, SecretGrant.isEnvironmentName(key) else {
                    throw Invalid("invalid --env '\(key)': expected VAR=VALUE")
                }
                parsed.plan.extraEnvironment.append(value)
            case "--user", "-u": parsed.plan.hardening.user = value
            case "--cap-add": parsed.plan.hardening.capAdd.append(value)
            case "--cap-drop": parsed.plan.hardening.capDrop.append(value)
            case "--seccomp":
                switch value {
                case "default": parsed.plan.hardening.seccomp = .default
                case "unconfined": parsed.plan.hardening.seccomp = .unconfined
                case "": throw Invalid("--seccomp needs default, unconfined or a profile file")
                default: parsed.plan.hardening.seccomp = .profile(value)
                }
            case "--rootfs":
                guard value.hasUTF8Prefix("/") else { throw Invalid("--rootfs must be an absolute path: \(value)") }
                parsed.plan.root = RootPlan.minimal(path: value)
            case "--bundle":
                guard !value.isEmpty else { throw Invalid("--bundle needs a directory") }
                parsed.bundle = value
            case "--root": parsed.root = value
            case "--key-file": parsed.keyFile = value
            default: break
            }
        }
        // Grants are parsed once the secrets dir is known, whatever the order of the flags.
        for spec in specs {
            do {
                parsed.plan.grants.append(try SecretGrant.parse(spec, secretsDirectory: parsed.plan.secretsDirectory))
            } catch {
                throw Invalid("--secret: \(error)")
            }
        }
        do { try SecretGrant.checkTargets(parsed.plan.grants) } catch { throw Invalid("--secret: \(error)") }
        parsed.plan.command = Array(arguments[index...])
        if parsed.bundle != nil && parsed.plan.root != nil { throw Invalid("--rootfs and --bundle cannot be combined") }
        if parsed.plan.command.isEmpty && !parsed.showHelp && parsed.bundle == nil { throw Invalid("no command given (secretshim run [OPTIONS] [--] COMMAND [ARG...])") }
        return parsed
    }

    /// Where a usage error points (every command points at its own help).
    static var seeHelp: String { "see 'secretshim run --help'" }

    /// Bytes, with an optional k/m/g suffix (powers of 1024), as `docker run --tmpfs size=`.
    static func parseSize(_ text: String) throws(Invalid) -> UInt64 {
        let invalid = Invalid("invalid --tmpfs-size '\(text)': expected bytes (optionally with k, m or g), at most 1 TiB")
        var digits = text.utf8[...]
        var multiplier: UInt64 = 1
        switch digits.last {
        case UInt8(ascii: "k"), UInt8(ascii: "K"): multiplier = 1 << 10
        case UInt8(ascii: "m"), UInt8(ascii: "M"): multiplier = 1 << 20
        case UInt8(ascii: "g"), UInt8(ascii: "G"): multiplier = 1 << 30
        default: break
        }
        if multiplier > 1 { digits = digits.dropLast() }
        guard let number = ASCIIDecimal.value(digits, max: (1 << 40) / multiplier), number > 0 else { throw invalid }
        return number * multiplier
    }

    static let help = """
        Usage: secretshim run [OPTIONS] [--] COMMAND [ARG...]

        Run COMMAND with secrets on a private, read-only tmpfs at /run/secrets.

        Options:
          --secret SPEC          Grant a secret: NAME, or source=NAME[,target=PATH][,uid=N][,gid=N]
                                 [,mode=OCTAL][,env=VAR] (repeatable); as Docker, a field in
                                 double quotes may hold commas, "" a quote: '"target=a,b"'
          --secrets-dir DIR      Where the secrets tmpfs is mounted (default /run/secrets)
          --tmpfs-size BYTES     Size of the tmpfs (default: enough for the secrets, at least 1 MiB)
          --name NAME            Name of the workload, for 'ps' and 'secret rm'
          -e, --env K=V          Add K=V to the environment (repeatable)
          --allow-env-leak       Start even if an environment variable holds a secret's value
          -u, --user UID[:GID]   Run as this user (names from the root's /etc/passwd, /etc/group)
          --cap-drop CAP|ALL     Drop a capability from Docker's default set (repeatable)
          --cap-add CAP|ALL      Add a capability (repeatable)
          --no-new-privileges    Set no_new_privs: setuid binaries and file caps grant nothing
          --seccomp PROFILE      default, unconfined, or a Docker/OCI JSON profile
          --privileged           All capabilities and no seccomp filter
          --rootfs DIR           Run in DIR as the root filesystem (pivot_root; fresh /proc, minimal /dev)
          --bundle DIR           Run an OCI bundle (DIR/config.json); a COMMAND replaces its args
          --root DIR             Store root (env SECRETSHIM_ROOT)
          --key-file PATH        Master key file (env SECRETSHIM_KEY_FILE)

        Exit status: the workload's own; 125 shim error; 126 not executable; 127 not found.

        """
}
