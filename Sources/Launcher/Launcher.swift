import CLinux
import Glibc
import Namespaces
import SecretStore

/// The `run` sequence, in bubblewrap's order: secrets read and checked first; then a private
/// mount namespace, a fresh tmpfs, files written through descriptors, remounted read-only; a
/// lease; the buffers wiped; exec.
public enum Launcher {
    /// Never returns on success: the process becomes the workload.
    public static func launch(_ plan: LaunchPlan, location: StoreLocation) -> LaunchError {
        do {
            // Rootless: a user namespace that maps only the caller, in which it may mount. First,
            // while nothing secret is in memory: a non-dumpable process cannot write its own maps.
            // Where that is not permitted either (an unprivileged container), `stage` falls back
            // to a tmpfs the engine mounted.
            let rootless = try geteuid() != 0 && Namespace.enterUserNamespace(uid: getuid(), gid: getgid())
            if rootless { try MountNamespace.makeMountsPrivate() }
            // While it holds plaintext, the shim cannot be ptraced or have /proc/PID/mem read by
            // other processes of the same user, nor dump core. exec restores the default.
            cl_prctl_set_dumpable(0)

            let hardening: Hardening.Resolved
            let hasRoot = plan.hasRoot
            do { hardening = try plan.hardening.resolve(root: hasRoot ? plan.root!.path : "/") } catch {
                throw LaunchError.hardening(error.description)
            }

            var secrets = try readSecrets(plan.grants, location: location)
            defer { for index in secrets.indices { wipe(&secrets[index].value) } }
            let environment = try workloadEnvironment(plan, secrets: secrets)

            if rootless { try ownSecretsAsCaller(&secrets) }
            if hasRoot, var root = plan.root {
                if !rootless { try MountNamespace.enterPrivate() }
                // /proc can only be mounted by a user namespace's owner of the PID namespace.
                if rootless && !root.needsPIDNamespace { root.namespaces += "p" }
                if !root.namespaces.isEmpty { try Namespace.unshare(root.namespaces) }
                if root.needsPIDNamespace {
                    try forkIntoPIDNamespace(plan, secrets: &secrets, stateDirectory: location.stateDirectory)
                }
                let sizes = sizes(of: secrets)
                try RootBuilder.build(
                    root, secrets: secrets, secretsDirectory: plan.secretsDirectory,
                    tmpfsSize: plan.tmpfsSize ?? LaunchPlan.tmpfsSize(forSecretSizes: sizes))
                if let hostname = root.hostname { try Namespace.setHostname(hostname) }
                if !root.needsPIDNamespace { recordLease(plan, secrets: secrets, stateDirectory: location.stateDirectory) }
            } else {
                var engineTmpfs = false
                if !plan.grants.isEmpty || plan.tmpfsSize != nil {
                    engineTmpfs = try !stage(secrets, plan: plan, alreadyPrivate: rootless)
                }
                // In an unprivileged container (the engine's tmpfs) the state dir is the image's
                // own /run: a lease there would only end up in a `commit`, and no `secret rm`
                // can reach it through the read-only store.
                if !engineTmpfs { recordLease(plan, secrets: secrets, stateDirectory: location.stateDirectory) }
            }
            for index in secrets.indices { wipe(&secrets[index].value) }

            for limit in plan.resourceLimits { try ResourceLimits.set(limit.name, soft: limit.soft, hard: limit.hard) }
            if let directory = plan.workingDirectory { try sys("chdir", directory) { chdir(directory) } }
            // Last before exec: the files are written as root; the workload gets only what it is granted.
            do { try hardening.apply() } catch { throw LaunchError.hardening("\(error)") }
            return .exec(Exec.execute(plan.command, environment: environment, searchPath: Environment.value(of: "PATH", in: environment)))
        } catch let error as LaunchError {
            return error
        } catch let error as StoreError {
            return .store(error)
        } catch let error as SysError {
            return .system(error)
        } catch {
            return .system(SysError("\(error)", errno: EIO))
        }
    }

    /// The inherited (or the bundle's) environment, `--env`, and the grants' `env=VAR` paths;
    /// refused if a variable already holds a granted secret's value.
    static func workloadEnvironment(_ plan: LaunchPlan, secrets: [GrantedSecret]) throws -> [String] {
        var environment = plan.environment ?? Environment.inherited()
        for entry in plan.extraEnvironment { Environment.set(entry, in: &environment) }
        if !plan.allowEnvironmentLeak {
            for secret in secrets {
                if let variable = Environment.leakingVariable(of: secret.value, in: environment) {
                    throw LaunchError.environmentLeak(variable: variable, secret: secret.record.name)
                }
            }
        }
        for grant in plan.grants {
            if let variable = grant.environmentVariable {
                Environment.set("\(variable)=\(plan.secretsDirectory)/\(grant.target)", in: &environment)
            }
        }
        return environment
    }

    /// Rootless, only the caller's own ids exist: uid/gid 0 (the defaults) mean the caller, as
    /// root inside a rootless Podman container is the caller; other ids cannot be represented.
    static func ownSecretsAsCaller(_ secrets: inout [GrantedSecret]) throws {
        let uid = getuid(), gid = getgid()
        for index in secrets.indices {
            var grant = secrets[index].grant
            if grant.uid == 0 { grant.uid = uid }
            if grant.gid == 0 { grant.gid = gid }
            guard grant.uid == uid, grant.gid == gid else {
                throw LaunchError.hardening(
                    "rootless: secret '\(grant.source)' can only be owned by you (uid \(uid), gid \(gid)), not uid \(grant.uid) gid \(grant.gid)")
            }
            secrets[index].grant = grant
        }
    }

    /// A new PID namespace takes effect for children only: the workload is forked to be its
    /// init, and the shim stays as its parent, holding the lease and forwarding signals, and
    /// exits with its status. Returns in the child.
    static func forkIntoPIDNamespace(_ plan: LaunchPlan, secrets: inout [GrantedSecret], stateDirectory: String) throws {
        let child = try sys("fork") { cl_fork() }
        if child == 0 {
            _ = cl_set_parent_death_signal(SIGKILL)
            return
        }
        for index in secrets.indices { wipe(&secrets[index].value) }
        recordLease(plan, secrets: secrets, stateDirectory: stateDirectory)
        exit(cl_supervise(child))
    }

    struct GrantedSecret {
        var grant: SecretGrant
        let record: SecretRecord
        var value: [UInt8]
    }

    static func readSecrets(_ grants: [SecretGrant], location: StoreLocation) throws -> [GrantedSecret] {
        guard !grants.isEmpty else { return [] }
        var sources: [String] = []
        for grant in grants { sources.append(grant.source) }
        var secrets: [GrantedSecret] = []
        secrets.reserveCapacity(grants.count)
        try SecretStore.openForReading(location).read(sources) { record, value in
            secrets.append(GrantedSecret(grant: grants[secrets.count], record: record, value: value))
        }
        return secrets
    }

    /// Mounts the private tmpfs and writes the files; where unshare is not permitted (an
    /// unprivileged container), writes into the tmpfs the engine already mounted there.
    /// Returns whether the tmpfs is its own.
    static func stage(_ secrets: [GrantedSecret], plan: LaunchPlan, alreadyPrivate: Bool) throws -> Bool {
        let directory = plan.secretsDirectory
        let sizes = sizes(of: secrets)
        let needed = LaunchPlan.bytesNeeded(forSecretSizes: sizes)
        if let given = plan.tmpfsSize, given < needed {
            throw LaunchError.tmpfsTooSmall(needed: needed, given: given)
        }
        let ownTmpfs = alreadyPrivate ? true : try enterPrivateMountNamespace(orReuse: directory)
        if ownTmpfs {
            do { try Files.makeDirectories(directory, mode: 0o755) } catch {
                // Rootless, the host's /run is not ours to write: shadow it in this namespace.
                guard alreadyPrivate, error.errno == EACCES || error.errno == EPERM || error.errno == EROFS else { throw error }
                try MountNamespace.makeDirectoryByShadowingParent(directory)
            }
            try Tmpfs.mount(at: directory, size: plan.tmpfsSize ?? LaunchPlan.tmpfsSize(forSecretSizes: sizes))
        }
        let writer = try SecretFileWriter.openMemoryBacked(directory)
        defer { writer.close() }
        for secret in secrets {
            let grant = secret.grant
            try writer.write(grant.target, secret.value, uid: grant.uid, gid: grant.gid, mode: mode_t(grant.mode), replace: !ownTmpfs)
        }
        if ownTmpfs {
            try Tmpfs.remountReadOnly(directory)
        }
        return ownTmpfs
    }

    /// A loop rather than `map(\.value.count)`: a key path costs `run`'s start-up some 80,000
    /// instructions of runtime set-up.
    static func sizes(of secrets: [GrantedSecret]) -> [Int] {
        var sizes: [Int] = []
        sizes.reserveCapacity(secrets.count)
        for secret in secrets { sizes.append(secret.value.count) }
        return sizes
    }

    static func heldSecrets(_ secrets: [GrantedSecret]) -> [Lease.Held] {
        var held: [Lease.Held] = []
        for secret in secrets { held.append(Lease.Held(id: secret.record.id, name: secret.record.name)) }
        return held
    }

    /// True once in a private mount namespace; false where unshare is not permitted but the
    /// secrets dir already is a memory-backed filesystem the engine gave us.
    static func enterPrivateMountNamespace(orReuse directory: String) throws -> Bool {
        let refusal: SysError
        do {
            try MountNamespace.enterPrivate()
            return true
        } catch {
            guard error.errno == EPERM || error.errno == ENOSYS else { throw error }
            refusal = error
        }
        guard let existing = try? SecretFileWriter.openMemoryBacked(directory) else {
            throw LaunchError.noIsolation(directory: directory, why: "unshare: \(refusal.reason)")
        }
        existing.close()
        return false
    }

    /// A lease that cannot be recorded (no writable state dir) does not stop the workload:
    /// it only means `secret rm` on this machine cannot see this holder, which we say.
    static func recordLease(_ plan: LaunchPlan, secrets: [GrantedSecret], stateDirectory: String) {
        let pid = System.processID
        guard let start = System.ownStartTime() else { return }
        let id = System.randomHex(6)
        let lease = Lease(
            workloadID: id, name: plan.workloadName, pid: pid, processStartTime: start,
            startedAt: System.nowNanoseconds(),
            secrets: heldSecrets(secrets))
        do {
            try LeaseBook(directory: stateDirectory).record(lease)
        } catch {
            let line = "secretshim: run: warning: lease not recorded: \(error)\n"
            _ = line.withCString { write(STDERR_FILENO, $0, strlen($0)) }
        }
    }
}
