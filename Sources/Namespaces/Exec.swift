import CLinux
import Glibc

/// Replacing this process with the workload, with `docker run`'s exit codes for failures.
public enum Exec {
    public enum Failure: Error, CustomStringConvertible {
        case notFound(String)
        case notExecutable(String, SysError)

        /// 127 and 126, as a shell and `docker run` report them.
        public var exitCode: Int32 {
            switch self {
            case .notFound: return 127
            case .notExecutable: return 126
            }
        }

        public var description: String {
            switch self {
            case .notFound(let command): return "\(command): executable file not found in $PATH"
            case .notExecutable(_, let error): return error.description
            }
        }
    }

    public static let defaultPath = "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"

    /// Finds `command` as execvp does: as given if it contains a slash, else in each PATH entry.
    public static func resolve(_ command: String, searchPath: String?) -> String? {
        if command.containsUTF8(UInt8(ascii: "/")) { return command }
        guard !command.isEmpty else { return nil }
        for directory in (searchPath ?? defaultPath).split(separator: ":", omittingEmptySubsequences: false) {
            let candidate = (directory.isEmpty ? "." : String(directory)) + "/" + command
            if let st = try? Files.status(candidate), st.st_mode & S_IFMT == S_IFREG, Files.isAccessible(candidate, X_OK) {
                return candidate
            }
        }
        return nil
    }

    /// Execs, never returning on success. `environment` entries are `K=V`.
    public static func execute(_ arguments: [String], environment: [String], searchPath: String?) -> Failure {
        let command = arguments[0]
        guard let path = resolve(command, searchPath: searchPath) else { return .notFound(command) }
        let argv = cStrings(arguments)
        let envp = cStrings(environment)
        do { try sys("exec", path) { path.withCString { execve($0, argv, envp) } } } catch {
            if error.errno == ENOENT && command.containsUTF8(UInt8(ascii: "/")) { return .notFound(command) }
            return .notExecutable(command, error)
        }
        // execve returns only to fail.
        return .notExecutable(command, SysError("exec", path, errno: EIO))
    }

    /// A NULL-terminated vector of C strings for execve; deliberately leaked (exec replaces the
    /// process).
    static func cStrings(_ strings: [String]) -> UnsafeMutablePointer<UnsafeMutablePointer<CChar>?> {
        let pointers = UnsafeMutablePointer<UnsafeMutablePointer<CChar>?>.allocate(capacity: strings.count + 1)
        var slot = pointers
        for string in strings {
            slot.initialize(to: string.withCString { strdup($0) })
            slot += 1
        }
        slot.initialize(to: nil)
        return pointers
    }
}

extension Exec {
    /// The program `name` installed beside this one (in `/proc/self/exe`'s folder), as
    /// secretshim's helpers are (secretshim-etcd, secretshim-documents); nil if it is not
    /// there or not executable.
    public static func companion(_ name: String) -> String? {
        guard let own = try? Files.realPath("/proc/self/exe") else { return nil }
        let path = Files.parent(of: own) + "/" + name
        return Files.isAccessible(path, X_OK) ? path : nil
    }
}
