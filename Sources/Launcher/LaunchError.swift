import Namespaces
import SecretStore

/// Why `run` did not exec the workload. Every case is a shim error (125) except `exec`,
/// which carries 126 or 127.
public enum LaunchError: Error, CustomStringConvertible {
    case store(StoreError)
    case system(SysError)
    case environmentLeak(variable: String, secret: String)
    case argumentLeak(index: Int, secret: String)
    case noIsolation(directory: String, why: String)
    case tmpfsTooSmall(needed: UInt64, given: UInt64)
    case exec(Exec.Failure)
    case hardening(String)
    case tooManyGrants(Int)
    case mount(SecretsMount.Error)
    /// A container's id that its user namespace does not map.
    case unmapped(String)

    public var exitCode: Int32 {
        if case .exec(let failure) = self { return failure.exitCode }
        return 125
    }

    public var description: String {
        switch self {
        case .store(let error): return error.description
        case .system(let error): return error.description
        case .environmentLeak(let variable, let secret):
            return "environment variable \(variable) holds the value of secret '\(secret)'; remove it (or pass --allow-env-leak)"
        case .argumentLeak(let index, let secret):
            return "argument \(index) of the command holds the value of secret '\(secret)' (argv is readable by every process); read it from the file instead (or pass --allow-env-leak)"
        case .noIsolation(let directory, let why):
            return "cannot make a private tmpfs, and \(directory) is not a tmpfs or ramfs mounted there (\(why)); give the container one (docker run --tmpfs \(directory))"
        case .tmpfsTooSmall(let needed, let given):
            return "--tmpfs-size \(given) is too small for the granted secrets: they need \(needed) bytes"
        case .exec(let failure): return failure.description
        case .hardening(let why): return why
        case .tooManyGrants(let count): return "\(count) grants: at most \(Lease.maximumGrants) secrets per workload"
        case .mount(let failure): return failure.description
        case .unmapped(let why): return why
        }
    }

    /// Whether the workload was refused for a reason the audit log keeps (`refuse`): every
    /// case but an exec that failed after the secrets were in place.
    public var isRefusal: Bool {
        if case .exec = self { return false }
        return true
    }
}
