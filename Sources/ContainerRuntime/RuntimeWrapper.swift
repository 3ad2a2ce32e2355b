import Glibc
import JSON
import Launcher
import Namespaces
import SecretStore

/// Why the wrapper could not do what the engine asked; the runtime was not started, or was
/// started and failed (its own status is then passed on instead).
public struct RuntimeError: Error, CustomStringConvertible {
    public let description: String
    init(_ description: String, passedThrough: Bool = false) {
        self.description = description
        self.passedThrough = passedThrough
    }
    /// Whether the wrapper refused (its own check failed), not just passed runc's failure on.
    public var isRefusal: Bool { !passedThrough }
    let passedThrough: Bool
}

/// `secretshim runtime`: an OCI runtime in front of the real one. Every call is handed to it
/// unchanged (by exec, so a container without secrets costs one extra exec and one read of
/// its config) except `create`/`run` of a container that asks for secrets, whose tmpfs is
/// staged first, and `delete` of such a container, whose tmpfs and lease are removed after.
public enum RuntimeWrapper {
    /// Returns the status to exit with; never returns when it execs the runtime.
    /// `operatorGrants`: specs from the runtime's own `--secretshim-grant` flags (Docker's
    /// `runtimeArgs`, Podman's `--runtime-flag`), which no image can set.
    public static func main(
        _ arguments: [String], location: StoreLocation, operatorGrants: [String] = []
    ) throws(RuntimeError) -> Int32 {
        let commandLine = RuntimeCommandLine(arguments)
        let runtime = try realRuntime()
        switch commandLine.command {
        case "create", "run":
            if let call = commandLine.containerCall() {
                do {
                    return try create(call, commandLine, runtime: runtime, location: location, operatorGrants: operatorGrants)
                } catch {
                    // The audit log's `refuse` when secrets were asked for (a plain pass-through
                    // failure of runc is runc's).
                    if error.isRefusal {
                        EventLog.of(location).append(AuditEvent(
                            type: "workload", action: "refuse", id: call.id,
                            keys: ["name", "reason"], values: [String(call.id.prefix(12)), error.description]))
                    }
                    throw error
                }
            }
        case "delete":
            if let call = commandLine.containerCall(), ContainerSecrets.isValidID(call.id) {
                var secrets = ContainerSecrets(id: call.id, stateDirectory: location.stateDirectory)
                if !secrets.isStaged, let elsewhere = stagedElsewhere(call.id) { secrets = elsewhere }
                secrets.sweepInterrupted(runtimeState: runtimeStateRoot(commandLine, runtime))
                if secrets.isStaged {
                    let status = delete(secrets, commandLine, runtime: runtime)
                    if status == 0 {
                        audit("revoke", call.id, pid: 0, reason: "container deleted", location)
                    }
                    return status
                }
            }
        case "start":
            // A create that never finished (its wrapper was killed while runc made the
            // container) holds secrets without a lease: it is not started, only deleted.
            if let call = commandLine.containerCall(), ContainerSecrets.isValidID(call.id),
                ContainerSecrets(id: call.id, stateDirectory: location.stateDirectory).wasInterrupted
            {
                throw RuntimeError("container \(call.id) was not created completely (its create was interrupted): delete it")
            }
        case "exec":
            // Docker gives `exec` the container's environment again, request variable included.
            if let file = commandLine.containerCall()?.processFile { removeRequestVariable(fromProcessFile: file) }
        default: break
        }
        throw RuntimeError(execute(runtime, arguments).description, passedThrough: true)
    }

    /// `exec --process FILE`: the request variable is taken out of FILE's env, as on create.
    static func removeRequestVariable(fromProcessFile path: String) {
        guard let bytes = try? Files.read(path, limit: 16 << 20),
            ContainerConfig.contains(bytes, Array(ContainerConfig.environmentVariable.utf8)),
            let process = try? JSONValue.parse(bytes)
        else { return }
        var config = ContainerConfig(.object(["process": process]))
        config.removeRequestVariable()
        if let cleaned = config.document.field("process") { try? replace(path, with: cleaned.serialized()) }
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
        let child: pid_t
        do { child = try ChildProcess.fork() } catch { throw RuntimeError(error.description) }
        if child == 0 {
            let failure = execute(runtime, arguments)
            try? FileDescriptor(rawValue: STDERR_FILENO).writeAll(Array("secretshim: runtime: \(failure.description)\n".utf8))
            _exit(failure.exitCode)
        }
        return ChildProcess.supervise(child)
    }

    // MARK: - create

    /// The container's secrets under the state dir its create was told (`ContainerSecrets.pointer`),
    /// if that dir is still root's alone.
    static func stagedElsewhere(_ id: String) -> ContainerSecrets? {
        guard let bytes = try? Files.read(ContainerSecrets.pointer(id: id), limit: 4096) else { return nil }
        let directory = String(decoding: bytes, as: UTF8.self)
        guard directory.hasUTF8Prefix("/"), let trusted = try? StoreLocation(root: "/", stateDirectory: directory).trusted() else {
            return nil
        }
        let secrets = ContainerSecrets(id: id, stateDirectory: trusted.stateDirectory)
        return secrets.isStaged ? secrets : nil
    }

    /// Whether the runtime made the container: it has written its state (runc's state.json,
    /// crun's status). A runtime killed with the wrapper (its parent-death signal) may leave
    /// just the folder.
    static func runtimeHas(_ id: String, stateRoot: String) -> Bool {
        let folder = stateRoot + "/" + id
        return Files.exists(folder + "/state.json") || Files.exists(folder + "/status")
    }

    static func runtimeStateRoot(_ commandLine: RuntimeCommandLine, _ runtime: String) -> String {
        commandLine.root ?? (runtime.hasSuffix("crun") ? "/run/crun" : "/run/runc")
    }

    /// The grants a container is given: those of a request in its config only when the
    /// operator signed it (`GrantRequest`), and those of the runtime's own flags. Anything an
    /// image could have written, unsigned, is refused.
    static func grants(
        _ config: ContainerConfig, operatorGrants: [String], masterKey: () throws(StoreError) -> [UInt8]
    ) throws(RuntimeError) -> (grants: [SecretGrant], signedIDs: [String?]) {
        var grants: [SecretGrant] = []
        var signedIDs: [String?] = []
        if let requested = config.requestedSpecs {
            let stray = config.strayGrantFields
            if !stray.isEmpty {
                throw RuntimeError(
                    "\(ContainerConfig.annotation) arrived split at its commas, with the stray annotations \(stray.joined(separator: ", ")) "
                        + "(Podman splits --annotation values): granting the rest would grant more than was asked; "
                        + "pass the request that 'secretshim grant SPEC' prints (it has no commas)")
            }
            let trimmed = Substring(requested).trimmingWhitespace()
            guard GrantRequest.isSigned(trimmed) else {
                throw RuntimeError(
                    "the container asks for secrets in an unsigned request (\(ContainerConfig.annotation) or \(ContainerConfig.environmentVariable)), "
                        + "which an image can set: refused; give it the request that 'secretshim grant SPEC...' prints, "
                        + "or grant through the runtime's --secretshim-grant")
            }
            let key: [UInt8]
            do { key = try masterKey() } catch { throw RuntimeError(error.description) }
            let request: GrantRequest
            do { request = try GrantRequest.verify(trimmed, masterKey: key, now: System.nowNanoseconds() / 1_000_000_000) } catch {
                throw RuntimeError(error.description)
            }
            for entry in request.entries {
                do { grants.append(try SecretGrant.parse(entry.spec, secretsDirectory: ContainerConfig.secretsDirectory)) } catch {
                    throw RuntimeError("signed request: \(error)")
                }
                signedIDs.append(entry.id)
            }
        }
        for spec in operatorGrants {
            do { grants.append(try SecretGrant.parse(spec, secretsDirectory: ContainerConfig.secretsDirectory)) } catch {
                throw RuntimeError("--secretshim-grant: \(error)")
            }
            signedIDs.append(nil)
        }
        do { try SecretGrant.checkTargets(grants) } catch { throw RuntimeError("\(error)") }
        return (grants, signedIDs)
    }

    static func create(
        _ call: RuntimeCommandLine.ContainerCall, _ commandLine: RuntimeCommandLine, runtime: String, location: StoreLocation,
        operatorGrants: [String]
    ) throws(RuntimeError) -> Int32 {
        // What a killed create left for this ID goes first, before the config is read: it may
        // still be that create's rewritten one (nothing left: a no-op).
        if ContainerSecrets.isValidID(call.id) {
            ContainerSecrets(id: call.id, stateDirectory: location.stateDirectory)
                .sweepInterrupted(runtimeState: runtimeStateRoot(commandLine, runtime))
        }
        // Absolute: the intent records it, and a later call (a sweep) may run elsewhere.
        let bundle = call.bundle ?? "."
        guard let realBundle = try? Files.realPath(bundle) else { throw RuntimeError(execute(runtime, commandLine.arguments).description, passedThrough: true) }
        let configPath = realBundle + "/config.json"
        // Unreadable is the runtime's to report, in its own words.
        guard let original = try? Files.read(configPath, limit: configLimit) else {
            throw RuntimeError(execute(runtime, commandLine.arguments).description, passedThrough: true)
        }
        let mentionsRequest = ContainerConfig.mightRequestSecrets(original)
        guard mentionsRequest || !operatorGrants.isEmpty else {
            throw RuntimeError(execute(runtime, commandLine.arguments).description, passedThrough: true)
        }
        // A config that may hold a request but that this cannot read is refused: passed on, it
        // would start the container with the request in its environment and nothing checked.
        let document: JSONValue
        do { document = try JSONValue.parse(original) } catch {
            throw RuntimeError("\(configPath) may ask for secrets but cannot be read: \(error)")
        }
        if let repeated = document.repeatedKey {
            throw RuntimeError("\(configPath) may ask for secrets but repeats the key '\(repeated)' in one object, which runc would merge: refused")
        }
        var config = ContainerConfig(document)
        guard config.requestedSpecs != nil || !operatorGrants.isEmpty else {
            throw RuntimeError(execute(runtime, commandLine.arguments).description, passedThrough: true)
        }
        guard ContainerSecrets.isValidID(call.id) else { throw RuntimeError("invalid container ID '\(call.id)'") }
        if let shared = config.sharedPropagation() {
            throw RuntimeError(
                "\(shared): the secrets mount at \(ContainerConfig.secretsDirectory) would propagate to the host; refused (use rprivate or rslave)")
        }
        // Held only until the tmpfs is written; no core dumps or ptrace meanwhile.
        System.setDumpable(false)
        let store: any SecretSource
        // A store that lost its key, or another key, is refused here in one line, before a
        // signed request is checked against that key.
        do {
            store = try location.openForReading()
            try store.checkKey()
        } catch {
            throw RuntimeError(error.description)
        }
        let (named, signedIDs) = try grants(config, operatorGrants: operatorGrants) { () throws(StoreError) in
            try MasterKey.load(location.keyFile, createIfMissing: false)
        }
        // `uid=NAME`/`gid=NAME` from the container's root (its image's passwd and group, read
        // inside it), as Podman resolves them.
        let grants: [SecretGrant]
        do { grants = try SecretGrant.resolvingOwners(named, root: config.rootPath(bundle: Files.parent(of: configPath))) } catch {
            throw RuntimeError("\(error)")
        }
        // Targets outside /run/secrets: bound by the runtime over a file of the container's
        // root, in a folder the image has, through no mount that propagates to the host.
        let outsideTargets = grants.filter(\.isOutside).map(\.target)
        if !outsideTargets.isEmpty {
            if let shared = config.sharedPropagation(aboveSecretsAnd: outsideTargets) {
                throw RuntimeError("\(shared): the secrets bound outside \(ContainerConfig.secretsDirectory) would propagate to the host; refused (use rprivate or rslave)")
            }
            let root = config.rootPath(bundle: Files.parent(of: configPath))
            for target in outsideTargets {
                if let missing = config.missingFolder(of: target, root: root) { throw RuntimeError(missing) }
            }
        }
        config.removeRequestVariable()
        let secrets = ContainerSecrets(id: call.id, stateDirectory: location.stateDirectory)
        // What the sweep could not undo (its container exists, or its create still runs) is
        // refused untouched.
        if secrets.wasInterrupted {
            throw RuntimeError("container \(call.id) was not created completely (an earlier create did not finish): delete it first")
        }
        if secrets.isStaged { throw RuntimeError("container \(call.id) already exists with its secrets: delete it first") }
        // The intent keeps the path on a line of its own (a fresh-eyes attack: a bundle path
        // with a newline sent the sweep's restore to another file).
        if configPath.utf8.contains(UInt8(ascii: "\n")) {
            throw RuntimeError("the bundle path \(configPath) holds a newline: refused")
        }

        var found = SecretValues()
        defer { found.wipe() }
        // The intent (who is creating, and the config as it was) and a lease on this process
        // come before any secret is read: a kill -9 from here on leaves what the next call of
        // the wrapper sweeps, and no moment where `secret rm` could pull a secret unseen.
        do {
            try secrets.recordIntent(configPath: configPath, original: original)
            if location.stateDirectory != StoreLocation.defaultStateDirectory() { try secrets.recordPointer() }
            try secrets.recordLease(pid: System.processID, held: [], wants: grants.map(\.source))
            found = try store.read(grants.map(\.source))
            // A store shared with other nodes learns of it before any secret is used.
            try store.hold(try secrets.recordLease(pid: System.processID, held: found.held, wants: grants.map(\.source)))
            store.close()
        } catch {
            secrets.remove()
            throw RuntimeError("\(error)")
        }
        for (index, id) in signedIDs.enumerated() where id != nil && found[grants[index].source]?.record.id != id {
            secrets.remove()
            throw RuntimeError(
                "the signed request for '\(grants[index].source)' was issued for another secret (it was removed and created again since): sign a new one")
        }
        let held = found.held
        let leaseGrants = Launcher.leaseGrants(grants, found)
        for secret in found.secrets {
            if let variable = Environment.leakingVariable(of: secret.value, in: config.environment) {
                secrets.remove()
                throw RuntimeError(
                    "environment variable \(variable) of the container holds the value of secret '\(secret.record.name)'; remove it")
            }
        }
        var files: [SecretsMount.File]
        let root: (uid: uid_t, gid: gid_t)
        do {
            let mappings = config.idMappings
            files = try Launcher.ownedFiles(grants, found, uids: mappings.uid, gids: mappings.gid)
            root = try Launcher.containerRoot(uids: mappings.uid, gids: mappings.gid)
        } catch {
            secrets.remove()
            throw RuntimeError(error.description)
        }
        defer { files.wipeValues() }

        do { try secrets.stage(files, root: root) } catch {
            secrets.remove()
            throw RuntimeError(error.description)
        }
        files.wipeValues()
        // A foreground `run` lives as long as its container: nothing plaintext may stay here.
        found.wipe()
        config.addSecretsMount(source: secrets.directory, outside: secrets.outsideSources(outsideTargets))
        do { try replace(configPath, with: config.document.serialized()) } catch {
            secrets.remove()
            throw RuntimeError(error.description)
        }

        let foreground = commandLine.command == "run" && !call.detach
        var arguments = commandLine.arguments
        if foreground {
            // This process lives as long as the container: it holds the lease itself.
            _ = try? secrets.recordLease(pid: System.processID, held: held)
            audit("grant", call.id, pid: System.processID, secrets: held, location)
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
            if foreground {
                audit("revoke", call.id, pid: System.processID, secrets: held, reason: "container exited", location)
            }
            return status
        }
        let pid = (try? Files.read(call.pidFile ?? secrets.pidFile, limit: 64)).flatMap {
            pid_t(String(decoding: $0, as: UTF8.self)[...].trimmingWhitespace())
        }
        // The container holds the secrets now; without its pid, this (finished) process's lease
        // would let `secret rm` through, so the create fails instead.
        do {
            guard let pid else { throw StoreError.system(SysError("read the container's pid file", errno: ENOENT)) }
            try secrets.recordLease(pid: pid, held: held, grants: leaseGrants)
            audit("grant", call.id, pid: pid, secrets: held, location)
        } catch {
            _ = try? spawn(runtime, Array(commandLine.arguments[..<(commandLine.commandIndex ?? 0)]) + ["delete", "--force", call.id])
            try? replace(configPath, with: original)
            secrets.remove()
            throw RuntimeError("cannot record the container's lease: \(error)")
        }
        secrets.dropIntent()
        return status
    }

    /// The largest config.json the wrapper reads (bytes); a larger one is the runtime's to read.
    static let configLimit = 64 << 20

    /// The audit log's entry for container `id`, named by its short ID as `docker ps` shows it.
    static func audit(_ action: String, _ id: String, pid: pid_t, secrets: [Lease.Held] = [], reason: String? = nil, _ location: StoreLocation) {
        EventLog.of(location).append(.workload(action, id: id, name: String(id.prefix(12)), pid: pid, secrets: secrets, reason: reason))
    }

    static func replacement(of path: String) -> String { path + ".secretshim-new" }

    /// Rewrites the bundle's config.json atomically (a new file renamed over it), keeping its mode.
    static func replace(_ path: String, with bytes: [UInt8]) throws(SysError) {
        let st = try Files.status(path)
        // One name per config: a create killed between this write and the rename leaves a file
        // that the next call replaces, or its sweep removes.
        let temporary = replacement(of: path)
        try? Files.remove(temporary)
        let fd = try FileDescriptor.open(temporary, O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW, mode: st.st_mode & 0o777)
        do {
            try fd.writeAll(bytes, path: temporary)
            fd.close()
            try Files.rename(temporary, to: path)
        } catch {
            fd.close()
            try? Files.remove(temporary)
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
        if status == 0 || !runtimeHas(secrets.id, stateRoot: stateRoot) {
            // A create that never finished left the bundle's config rewritten: put it back.
            if secrets.wasInterrupted { secrets.restoreConfig() }
            secrets.remove()
        }
        return status
    }
}
