import CLinux
import Glibc
import Launcher
import Namespaces
import SecretStore

/// Why the wrapper could not do what the engine asked; the runtime was not started, or was
/// started and failed (its own status is then passed on instead).
public struct RuntimeError: Error, CustomStringConvertible {
    public let description: String
    init(_ description: String) { self.description = description }
}

/// `secretshim runtime`: an OCI runtime in front of the real one. Every call is handed to it
/// unchanged (by exec, so a container without secrets costs one extra exec and one read of
/// its config) except `create`/`run` of a container that asks for secrets, whose tmpfs is
/// staged first, and `delete` of such a container, whose tmpfs and lease are removed after.
public enum RuntimeWrapper {
    /// Returns the status to exit with; never returns when it execs the runtime.
    public static func main(_ arguments: [String], location: StoreLocation) throws(RuntimeError) -> Int32 {
        let commandLine = RuntimeCommandLine(arguments)
        let runtime = try realRuntime()
        switch commandLine.command {
        case "create", "run":
            if let call = commandLine.containerCall() {
                return try create(call, commandLine, runtime: runtime, location: location)
            }
        case "delete":
            if let call = commandLine.containerCall(), ContainerSecrets.isValidID(call.id) {
                let secrets = ContainerSecrets(id: call.id, stateDirectory: location.stateDirectory)
                if secrets.isStaged { return delete(secrets, commandLine, runtime: runtime) }
            }
        case "exec":
            // Docker gives `exec` the container's environment again, request variable included.
            if let file = commandLine.containerCall()?.processFile { removeRequestVariable(fromProcessFile: file) }
        default: break
        }
        throw RuntimeError(execute(runtime, arguments).description)
    }

    /// `exec --process FILE`: the request variable is taken out of FILE's env, as on create.
    static func removeRequestVariable(fromProcessFile path: String) {
        guard let bytes = try? Files.read(path, limit: 16 << 20),
            ContainerConfig.contains(bytes, Array(ContainerConfig.environmentVariable.utf8)),
            let process = try? JSONValue.parse(bytes)
        else { return }
        var config = ContainerConfig(.object([("process", process)]))
        config.removeRequestVariable()
        if let cleaned = config.document["process"] { try? replace(path, with: cleaned.serialized()) }
    }

    /// `$SECRETSHIM_RUNTIME`, else runc, else crun, on PATH.
    static func realRuntime() throws(RuntimeError) -> String {
        let searchPath = System.environment("PATH")
        if let chosen = System.environment("SECRETSHIM_RUNTIME"), !chosen.isEmpty {
            guard let path = Exec.resolve(chosen, searchPath: searchPath) else {
                throw RuntimeError("SECRETSHIM_RUNTIME=\(chosen): executable file not found in $PATH")
            }
            return path
        }
        guard let path = Exec.resolve("runc", searchPath: searchPath) ?? Exec.resolve("crun", searchPath: searchPath) else {
            throw RuntimeError("no OCI runtime found: install runc or crun, or set SECRETSHIM_RUNTIME")
        }
        return path
    }

    static func execute(_ runtime: String, _ arguments: [String]) -> Exec.Failure {
        Exec.execute([runtime] + arguments, environment: Environment.inherited(), searchPath: nil)
    }

    /// Runs the runtime as a child (forwarding signals) and returns its status.
    static func spawn(_ runtime: String, _ arguments: [String]) throws(RuntimeError) -> Int32 {
        let child = cl_fork()
        if child < 0 { throw RuntimeError(SysError("fork", errno: errno).description) }
        if child == 0 {
            let failure = execute(runtime, arguments)
            let line = "secretshim: runtime: \(failure.description)\n"
            _ = line.withCString { write(STDERR_FILENO, $0, strlen($0)) }
            _exit(failure.exitCode)
        }
        return cl_supervise(child)
    }

    // MARK: - create

    static func create(
        _ call: RuntimeCommandLine.ContainerCall, _ commandLine: RuntimeCommandLine, runtime: String, location: StoreLocation
    ) throws(RuntimeError) -> Int32 {
        let configPath = (call.bundle ?? ".") + "/config.json"
        // Anything unreadable or malformed is the runtime's to report, in its own words.
        guard let original = try? Files.read(configPath, limit: 64 << 20), ContainerConfig.mightRequestSecrets(original),
            let document = try? JSONValue.parse(original)
        else { throw RuntimeError(execute(runtime, commandLine.arguments).description) }
        var config = ContainerConfig(document)
        guard let specs = config.requestedSpecs else {
            throw RuntimeError(execute(runtime, commandLine.arguments).description)
        }
        config.removeRequestVariable()
        guard ContainerSecrets.isValidID(call.id) else { throw RuntimeError("invalid container ID '\(call.id)'") }
        let grants: [SecretGrant]
        do { grants = try ContainerConfig.grants(specs) } catch {
            throw RuntimeError("\(ContainerConfig.annotation): \(error)")
        }
        let secrets = ContainerSecrets(id: call.id, stateDirectory: location.stateDirectory)

        // Held only until the tmpfs is written; no core dumps or ptrace meanwhile.
        cl_prctl_set_dumpable(0)
        var found: [(record: SecretRecord, value: [UInt8])]
        do { found = try SecretStore.openForReading(location).read(grants.map(\.source)) } catch {
            throw RuntimeError(error.description)
        }
        defer { for index in found.indices { wipe(&found[index].value) } }
        for secret in found {
            if let variable = Environment.leakingVariable(of: secret.value, in: config.environment) {
                throw RuntimeError(
                    "environment variable \(variable) of the container holds the value of secret '\(secret.record.name)'; remove it")
            }
        }
        var files = try ownedFiles(grants, found, mappings: config.idMappings)
        defer { for index in files.indices { wipe(&files[index].value) } }
        let root = try containerRoot(config.idMappings)

        do { try secrets.stage(files, root: root) } catch { throw RuntimeError(error.description) }
        for index in files.indices { wipe(&files[index].value) }
        config.addSecretsMount(source: secrets.directory)
        do { try replace(configPath, with: config.document.serialized()) } catch {
            secrets.remove()
            throw RuntimeError(error.description)
        }

        let held = found.map { Lease.Held(id: $0.record.id, name: $0.record.name) }
        let foreground = commandLine.command == "run" && !call.detach
        var arguments = commandLine.arguments
        if foreground {
            // This process lives as long as the container: it holds the lease itself.
            try? secrets.recordLease(pid: getpid(), held: held)
        } else if call.pidFile == nil {
            arguments = commandLine.addingPidFile(secrets.pidFile, before: call)
        }
        let status: Int32
        do { status = try spawn(runtime, arguments) } catch {
            try? replace(configPath, with: original)
            secrets.remove()
            throw error
        }
        if status != 0 || foreground {
            // Failed (nothing may be left behind, and the engine may retry with the same
            // bundle), or `run` in the foreground, whose container is gone.
            try? replace(configPath, with: original)
            secrets.remove()
            return status
        }
        let pid = (try? Files.read(call.pidFile ?? secrets.pidFile, limit: 64)).flatMap {
            pid_t(String(decoding: $0, as: UTF8.self)[...].trimmingWhitespace())
        }
        if let pid { try? secrets.recordLease(pid: pid, held: held) }
        return status
    }

    /// Each grant's file with its owner as the host must write it: through the container's user
    /// namespace mapping, if it has one.
    static func ownedFiles(
        _ grants: [SecretGrant], _ found: [(record: SecretRecord, value: [UInt8])], mappings: (uid: IDMapping, gid: IDMapping)
    ) throws(RuntimeError) -> [ContainerSecrets.File] {
        var files: [ContainerSecrets.File] = []
        for (grant, secret) in zip(grants, found) {
            guard let uid = mappings.uid.hostID(for: grant.uid) else {
                throw RuntimeError("secret '\(grant.source)': uid \(grant.uid) is not mapped in the container's user namespace")
            }
            guard let gid = mappings.gid.hostID(for: grant.gid) else {
                throw RuntimeError("secret '\(grant.source)': gid \(grant.gid) is not mapped in the container's user namespace")
            }
            files.append(ContainerSecrets.File(target: grant.target, value: secret.value, uid: uid, gid: gid, mode: mode_t(grant.mode)))
        }
        return files
    }

    static func containerRoot(_ mappings: (uid: IDMapping, gid: IDMapping)) throws(RuntimeError) -> (uid: uid_t, gid: gid_t) {
        guard let uid = mappings.uid.hostID(for: 0), let gid = mappings.gid.hostID(for: 0) else {
            throw RuntimeError("the container's user namespace maps no root (uid 0 and gid 0)")
        }
        return (uid, gid)
    }

    /// Rewrites the bundle's config.json atomically (a new file renamed over it), keeping its mode.
    static func replace(_ path: String, with bytes: [UInt8]) throws(SysError) {
        var st = stat()
        try sys("stat", path) { stat(path, &st) }
        let temporary = path + ".secretshim-\(getpid())"
        let fd = try FileDescriptor.open(temporary, O_WRONLY | O_CREAT | O_TRUNC | O_NOFOLLOW, mode: st.st_mode & 0o777)
        do {
            try fd.writeAll(bytes, path: temporary)
            fd.close()
            try sys("rename", path) { rename(temporary, path) }
        } catch {
            fd.close()
            unlink(temporary)
            throw error
        }
    }

    // MARK: - delete

    /// Deletes through the runtime, then removes the tmpfs and lease once the runtime no
    /// longer has the container (deleted now, or unknown to it already).
    static func delete(_ secrets: ContainerSecrets, _ commandLine: RuntimeCommandLine, runtime: String) -> Int32 {
        let status: Int32
        do { status = try spawn(runtime, commandLine.arguments) } catch { return 1 }
        let stateRoot = commandLine.root ?? (runtime.hasSuffix("crun") ? "/run/crun" : "/run/runc")
        if status == 0 || !Files.exists(stateRoot + "/" + secrets.id) { secrets.remove() }
        return status
    }
}
