import Glibc
import Namespaces
import SecretStore

/// The `run` sequence, in bubblewrap's order: secrets read and checked first; then a private
/// mount namespace, a fresh tmpfs, files written through descriptors, remounted read-only; a
/// lease; the buffers wiped; exec.
public enum Launcher {
    /// Never returns on success: the process becomes the workload.
    public static func launch(_ plan: LaunchPlan, location: StoreLocation) -> LaunchError {
        var plan = plan
        var leases: LeaseDirectory?
        var leaseFile: String?
        // The audit log's folder, held (close-on-exec) once the grant is written: a failure
        // after it (the exec itself, once the store's folder is hidden) writes its revoke.
        var granted: (folder: FileDescriptor, event: AuditEvent)?
        // A lease is left only by a workload that started: on any refusal it goes.
        func dropLease() {
            if let leaseFile { leases?.remove(file: leaseFile) }
            if let granted {
                var revoke = granted.event
                revoke.action = "revoke"
                revoke.keys.insert("reason", at: 2)
                revoke.values.insert("the workload did not start", at: 2)
                revoke.timeNano = System.nowNanoseconds()
                EventLog.of(location).append(revoke, in: granted.folder)
            }
        }
        do {
            guard plan.grants.count <= Lease.maximumGrants else { throw LaunchError.tooManyGrants(plan.grants.count) }
            // Rootless: a user namespace that maps only the caller, in which it may mount. First,
            // while nothing secret is in memory: a non-dumpable process cannot write its own maps.
            // Where that is not permitted either (an unprivileged container), the engine's tmpfs
            // is used (see `enterPrivateMountNamespace`).
            let rootless = try System.effectiveUserID != 0 && Namespace.enterUserNamespace(uid: System.userID, gid: System.groupID)
            if rootless { try MountNamespace.makeMountsPrivate() }
            // While it holds plaintext, the shim cannot be ptraced or have /proc/PID/mem read by
            // other processes of the same user, nor dump core. exec restores the default.
            System.setDumpable(false)

            let hardening: Hardening.Resolved
            let hasRoot = plan.hasRoot
            // With a root of its own, the workload is forked into a PID namespace: tied to the
            // shim, which holds its lease, so that it never outlives it.
            var tie: ChildProcess.ParentTie?
            do { hardening = try plan.hardening.resolve(root: hasRoot ? plan.root!.path : "/") } catch {
                throw LaunchError.hardening(error.description)
            }
            // `uid=NAME`/`gid=NAME` from the workload's own passwd and group, as `--user`.
            do { plan.grants = try SecretGrant.resolvingOwners(plan.grants, root: hasRoot ? plan.root!.path : "/") } catch {
                throw LaunchError.hardening(error.description)
            }
            let needsTmpfs = !plan.grants.isEmpty || plan.tmpfsSize != nil

            // The private mount namespace comes first, before any secret is read. Where unshare
            // is refused, only a tmpfs the engine mounted at the secrets dir will do.
            var engineTmpfs: SecretFileWriter?
            var ownNamespace = rootless
            if !rootless {
                ownNamespace = try enterPrivateMountNamespace(
                    orReuse: plan.secretsDirectory, needsTmpfs: needsTmpfs && !hasRoot, into: &engineTmpfs)
            }
            defer { engineTmpfs?.close() }
            if hasRoot && !ownNamespace { throw LaunchError.noIsolation(directory: plan.secretsDirectory, why: "unshare refused, and --rootfs needs it") }

            // The lease, on the host's state dir, opened now and written through that descriptor
            // in every mode, before a secret is read (so `secret rm` cannot win a race with this
            // start). An engine's tmpfs (an unprivileged container) records none: its state dir
            // is the image's own /run, and no `secret rm` reaches its exported store.
            // What the lease says once the secrets are read, for the supervisor of a PID
            // namespace to complete with its workload's pid.
            var leaseHeld: [Lease.Held] = []
            var leaseGrants: [Lease.Grant] = []
            let workloadID = System.randomHex(6)
            let startedAt = System.nowNanoseconds()
            guard let ownStart = System.ownStartTime() else { throw LaunchError.system(SysError("read /proc/self/stat", errno: ESRCH)) }
            if ownNamespace {
                leases = try LeaseBook(directory: location.stateDirectory).open(create: true)
                var wants: [String] = []
                for grant in plan.grants { wants.append(grant.source) }
                leaseFile = ASCIIDecimal.string(UInt64(System.processID))
                try leases!.record(Lease(
                    workloadID: workloadID, name: plan.workloadName, pid: System.processID, processStartTime: ownStart,
                    startedAt: startedAt, secrets: [], wants: wants))
            }

            // The store answers by grant source; from here on only `files` holds plaintext.
            var files: [SecretsMount.File]
            let environment: [String]
            do {
                var values = SecretValues()
                defer { values.wipe() }
                if !plan.grants.isEmpty {
                    let store = try location.openForReading()
                    values = try store.read(plan.grants.map { $0.source })
                    if let leases {
                        leaseHeld = values.held
                        leaseGrants = Self.leaseGrants(plan.grants, values)
                        let lease = Lease(
                            workloadID: workloadID, name: plan.workloadName, pid: System.processID, processStartTime: ownStart,
                            startedAt: startedAt, secrets: leaseHeld,
                            workload: Lease.Workload(
                                pid: System.processID, processStartTime: ownStart, secretsDirectory: plan.secretsDirectory,
                                tmpfsSize: plan.tmpfsSize, grants: leaseGrants))
                        try leases.replace(lease)
                        // A store shared with other nodes learns of it before any secret is used.
                        try store.hold(lease)
                    }
                    store.close()
                }
                environment = try workloadEnvironment(plan, values: values, user: hardening.user)
                if engineTmpfs != nil {
                    // Without a mount namespace of its own nothing can be hidden from the workload:
                    // it must not be able to read a store holding more than it is given.
                    try checkStoreExposure(plan, hardening: hardening, location: location, granted: values.records)
                }
                files = try secretFiles(plan.grants, values, rootless: rootless)
            }
            defer { files.wipeValues() }
            // A --tmpfs-size the secrets do not fit is refused before the grant, so the log
            // holds one refusal and no grant (with a root of its own or not).
            let needed = LaunchPlan.bytesNeeded(forSecretSizes: files.map { $0.value.count })
            if let given = plan.tmpfsSize, given < needed {
                throw LaunchError.tmpfsTooSmall(needed: needed, given: given)
            }
            // The audit log's `grant`, once every check passed and the lease names what was
            // read. With a root of its own, the supervisor writes it, naming the workload's pid.
            if !plan.grants.isEmpty, leases != nil, !hasRoot, let folder = EventLog.of(location).openFolder() {
                let event = AuditEvent.workload(
                    "grant", id: workloadID, name: plan.workloadName, pid: System.processID,
                    uid: hardening.user?.uid ?? System.userID, secrets: leaseHeld)
                EventLog.of(location).append(event, in: folder)
                granted = (folder, event)
            }
            let size = plan.tmpfsSize ?? LaunchPlan.tmpfsSize(forSecretSizes: files.map { $0.value.count })

            if hasRoot, var root = plan.root {
                // A root of its own always comes with a PID namespace (as with runc and Docker):
                // a fresh /proc then lists only the workload's own processes.
                if !root.needsPIDNamespace { root.namespaces += "p" }
                try Namespace.unshare(root.namespaces)
                tie = try forkIntoPIDNamespace(files: &files) { child in
                    // `update` enters and signals the workload's first process, not the shim.
                    guard let leases, !plan.grants.isEmpty, let start = System.processStartTime(child) else { return }
                    EventLog.of(location).append(.workload(
                        "grant", id: workloadID, name: plan.workloadName, pid: child,
                        uid: hardening.user?.uid ?? System.userID, secrets: leaseHeld))
                    try? leases.replace(Lease(
                        workloadID: workloadID, name: plan.workloadName, pid: System.processID, processStartTime: ownStart,
                        startedAt: startedAt, secrets: leaseHeld,
                        workload: Lease.Workload(
                            pid: child, processStartTime: start, secretsDirectory: plan.secretsDirectory,
                            tmpfsSize: plan.tmpfsSize, grants: leaseGrants)))
                }
                // The child: the lease is its parent's, which outlives it.
                leaseFile = nil
                // Where the store, key or state dir are inside the new root (a root of `/`, or a
                // bundle that binds them in), they are hidden there as in the host's tree.
                let hidden = storePathsInside(root, location: location)
                try RootBuilder.build(root, secrets: files, secretsDirectory: plan.secretsDirectory, tmpfsSize: size)
                for path in hidden { try Masking.hide(path) }
                if let hostname = root.hostname { try Namespace.setHostname(hostname) }
            } else if let engineTmpfs {
                if let outside = files.first(where: \.isOutside) {
                    throw LaunchError.noIsolation(
                        directory: plan.secretsDirectory,
                        why: "unshare refused, and target \(outside.target) outside the secrets dir needs a mount namespace of the workload's own")
                }
                for file in files { try engineTmpfs.write(file) }
            } else if needsTmpfs {
                try stage(files, plan: plan, size: size, rootless: rootless)
            }
            files.wipeValues()
            // The store, its key and the leases are not the workload's: hidden from it, as runc
            // masks paths (with `--rootfs`/`--bundle` the host's tree is gone already).
            if ownNamespace && !hasRoot {
                for path in [location.keyFile, location.root, location.stateDirectory] { try Masking.hide(path) }
                // A shared store's client credentials too: with them a workload could write to
                // etcd, and so drop its node's holders (a fresh-eyes finding).
                if location.isRemote {
                    let remote = location.remote
                    for path in [remote.caCertificate, remote.certificate, remote.key] where !path.isEmpty { try Masking.hide(path) }
                }
            }
            // A root workload must not reach the kernel's knobs: in the host's tree, and in a root
            // that shows the host's /sys or /proc (`--rootfs /`, a bundle's binds; a fresh /proc's
            // are read-only already).
            if ownNamespace && !plan.hardening.privileged {
                for path in KernelInterfaces.readOnlyPaths { try KernelInterfaces.makeReadOnly(path) }
            }
            // The state dir's descriptor is close-on-exec: the workload never holds it.

            for limit in plan.resourceLimits { try ResourceLimits.set(limit.name, soft: limit.soft, hard: limit.hard) }
            if let directory = plan.workingDirectory { try sys("chdir", directory) { chdir(directory) } }
            // Its own Landlock domain: no other workload can ptrace-access it, nor it them.
            if !plan.hardening.privileged { _ = try Landlock.enterOwnDomain() }
            // Last before exec: the files are written as root; the workload gets only what it is granted.
            do { try hardening.apply() } catch { throw LaunchError.hardening("\(error)") }
            // A change of uid clears the parent-death signal: set again, so a workload in a PID
            // namespace never outlives its supervisor (and the lease the supervisor holds).
            tie?.enforce(SIGKILL)
            let failure = Exec.execute(plan.command, environment: environment, searchPath: Environment.value(of: "PATH", in: environment))
            dropLease()
            return .exec(failure)
        } catch let error as LaunchError {
            dropLease()
            return error
        } catch let error as StoreError {
            dropLease()
            return .store(error)
        } catch let error as SysError {
            dropLease()
            return .system(error)
        } catch let error as SecretsMount.Error {
            dropLease()
            return .mount(error)
        } catch {
            dropLease()
            return .system(SysError("\(error)", errno: EIO))
        }
    }

    /// The inherited (or the bundle's) environment, `--env`, and the grants' `env=VAR` paths;
    /// refused if a variable already holds a granted secret's value. With `--user`, `HOME` is
    /// that user's passwd entry's (else `/`), as runc sets it, unless `--env HOME=...` (or a
    /// bundle's env) says otherwise: the caller's own HOME is not the workload's.
    static func workloadEnvironment(_ plan: LaunchPlan, values: SecretValues, user: ResolvedUser? = nil) throws -> [String] {
        var environment = plan.environment ?? Environment.inherited()
        if let user {
            let bundleHome = plan.environment.map { Environment.value(of: "HOME", in: $0) != nil } ?? false
            if !bundleHome { Environment.set("HOME=" + (user.home ?? "/"), in: &environment) }
        }
        for entry in plan.extraEnvironment { Environment.set(entry, in: &environment) }
        if !plan.allowEnvironmentLeak {
            for secret in values.secrets {
                if let variable = Environment.leakingVariable(of: secret.value, in: environment) {
                    throw LaunchError.environmentLeak(variable: variable, secret: secret.record.name)
                }
                if let index = Environment.leakingArgument(of: secret.value, in: plan.command) {
                    throw LaunchError.argumentLeak(index: index, secret: secret.record.name)
                }
            }
        }
        for grant in plan.grants {
            if let variable = grant.environmentVariable {
                Environment.set(variable + "=" + grant.path(in: plan.secretsDirectory), in: &environment)
            }
        }
        return environment
    }

    /// The files to write, one per grant, each with the value its source found. Rootless, only
    /// the caller's own ids exist: uid/gid 0 (the defaults) mean the caller, as root inside a
    /// rootless Podman container is the caller; other ids cannot be represented.
    static func secretFiles(_ grants: [SecretGrant], _ values: SecretValues, rootless: Bool) throws -> [SecretsMount.File] {
        let uid = rootless ? System.userID : 0, gid = rootless ? System.groupID : 0
        var files: [SecretsMount.File] = []
        files.reserveCapacity(grants.count)
        for var grant in grants {
            if rootless {
                if grant.uid == 0 { grant.uid = uid }
                if grant.gid == 0 { grant.gid = gid }
                guard grant.uid == uid, grant.gid == gid else {
                    files.wipeValues()
                    throw LaunchError.hardening(
                        "rootless: secret '\(grant.source)' can only be owned by you (uid \(uid), gid \(gid)), not uid \(grant.uid) gid \(grant.gid)")
                }
            }
            // Every source was found (`read` throws for one that is not).
            files.append(SecretsMount.File(
                target: grant.target, value: values[grant.source]!.value, uid: grant.uid, gid: grant.gid, mode: mode_t(grant.mode)))
        }
        return files
    }

    /// A new PID namespace takes effect for children only: the workload is forked to be its
    /// init, and the shim stays as its parent, holding the lease (recorded under its pid) and
    /// forwarding signals, and exits with its status. Returns in the child.
    static func forkIntoPIDNamespace(
        files: inout [SecretsMount.File], parent: (pid_t) -> Void
    ) throws -> ChildProcess.ParentTie {
        let (child, tie) = try ChildProcess.forkTied()
        if let tie {
            tie.enforce(SIGKILL)
            return tie
        }
        files.wipeValues()
        parent(child)
        exit(ChildProcess.supervise(child))
    }

    /// Each grant's file with its owner as the host must write it for a container: through its
    /// user namespace mapping (identity without one). The runtime wrapper and `update` of a
    /// container both write them so.
    public static func ownedFiles(
        _ grants: [SecretGrant], _ values: SecretValues, uids: IDMapping, gids: IDMapping
    ) throws(LaunchError) -> [SecretsMount.File] {
        var files: [SecretsMount.File] = []
        for grant in grants {
            guard let uid = uids.hostID(for: grant.uid) else {
                files.wipeValues()
                throw .unmapped("secret '\(grant.source)': uid \(grant.uid) is not mapped in the container's user namespace")
            }
            guard let gid = gids.hostID(for: grant.gid) else {
                files.wipeValues()
                throw .unmapped("secret '\(grant.source)': gid \(grant.gid) is not mapped in the container's user namespace")
            }
            // Every source was found (`read` throws for one that is not).
            files.append(SecretsMount.File(target: grant.target, value: values[grant.source]!.value, uid: uid, gid: gid, mode: mode_t(grant.mode)))
        }
        return files
    }

    /// The container's root as the host sees it (the owner of the tmpfs root and its folders).
    public static func containerRoot(uids: IDMapping, gids: IDMapping) throws(LaunchError) -> (uid: uid_t, gid: gid_t) {
        guard let uid = uids.hostID(for: 0), let gid = gids.hostID(for: 0) else {
            throw .unmapped("the container's user namespace maps no root (uid 0 and gid 0)")
        }
        return (uid, gid)
    }

    /// The grants as a lease keeps them for `update`: each by the ID its source found.
    public static func leaseGrants(_ grants: [SecretGrant], _ values: SecretValues) -> [Lease.Grant] {
        var found: [Lease.Grant] = []
        found.reserveCapacity(grants.count)
        for grant in grants {
            guard let secret = values[grant.source] else { continue }
            found.append(Lease.Grant(id: secret.record.id, target: grant.target, uid: grant.uid, gid: grant.gid, mode: grant.mode))
        }
        return found
    }

    /// The store root, key file and state dir as the workload will see them inside `root`:
    /// under the root itself, or under a bind mount's source. Paths compared as real paths.
    static func storePathsInside(_ root: RootPlan, location: StoreLocation) -> [String] {
        func real(_ path: String) -> String? {
            try? Files.realPath(path)
        }
        func inside(_ path: String, under base: String, at destination: String) -> String? {
            if path == base { return destination }
            let prefix = base == "/" ? "/" : base + "/"
            guard path.hasUTF8Prefix(prefix) else { return nil }
            let rest = String(path.utf8.dropFirst(prefix.utf8.count))!
            return destination == "/" ? "/" + rest : destination + "/" + rest
        }
        var found: [String] = []
        for protected in [location.keyFile, location.root, location.stateDirectory] {
            guard let path = real(protected) else { continue }
            if let rootPath = real(root.path), let seen = inside(path, under: rootPath, at: "/") { found.append(seen) }
            for mount in root.mounts where mount.isBind {
                if let source = real(mount.source), let seen = inside(path, under: source, at: mount.destination) { found.append(seen) }
            }
        }
        return found
    }

    /// Where the fallback (no mount namespace) cannot hide the store, the workload must not be
    /// able to use it for more than its grants: it runs as a user who cannot read the key file,
    /// or the store holds nothing but what it is given (`secretshim secret export`).
    static func checkStoreExposure(
        _ plan: LaunchPlan, hardening: Hardening.Resolved, location: StoreLocation, granted: [SecretRecord]
    ) throws {
        // No key, or no store: nothing the workload could read.
        guard let key = try? Files.status(location.keyFile), Files.exists(location.databasePath) else { return }
        if let user = hardening.user, user.uid != 0, user.uid != key.st_uid { return }
        let grantedIDs = Set(granted.map(\.id))
        let stored = try location.openForReading().list()
        if let other = stored.first(where: { !grantedIDs.contains($0.id) }) {
            throw LaunchError.noIsolation(
                directory: plan.secretsDirectory,
                why: "without a mount namespace of its own, the workload could read the whole store (secret '\(other.name)' among others it is not given): give it an exported store ('secretshim secret export') or a --user that cannot read the key file")
        }
    }

    /// The secrets tmpfs on the host's tree (in this private namespace): staged detached
    /// (`SecretsMount.stage`), then attached at the secrets dir, resolved once.
    static func stage(_ files: [SecretsMount.File], plan: LaunchPlan, size: UInt64, rootless: Bool) throws {
        let directory = plan.secretsDirectory
        let mount = try SecretsMount.stage(files, size: size, shown: directory)
        defer { mount.close() }
        let opened: (target: FileDescriptor, root: FileDescriptor)
        do { opened = try SecretsMount.openTarget(directory) } catch {
            // Rootless, the host's /run is not ours to write: shadow it in this namespace.
            guard rootless, error.errno == EACCES || error.errno == EPERM || error.errno == EROFS else { throw error }
            try MountNamespace.makeDirectoryByShadowingParent(directory)
            opened = try SecretsMount.openTarget(directory)
        }
        defer {
            opened.target.close()
            opened.root.close()
        }
        // Absolute targets outside the secrets dir: bound over existing files of the host's tree
        // (in this namespace only), before the secrets tmpfs is attached.
        if let outside = try OutsideTargets.stage(files, size: size, shown: directory) {
            defer { outside.close() }
            let host = try ContainedRoot.open("/")
            defer { host.fd.close() }
            try outside.bind(in: host, makingMountPoints: false, apartFrom: opened.target)
        }
        try mount.attach(onto: opened.target, root: opened.root)
    }

    /// True once in a private mount namespace. Where unshare is not permitted (an unprivileged
    /// container, a sandbox's seccomp filter, a nested `run`), false, with `engineTmpfs` set to
    /// the tmpfs or ramfs mounted at the secrets dir when secrets need one; anything else there
    /// (a folder of the host's shared /run) is refused.
    static func enterPrivateMountNamespace(
        orReuse directory: String, needsTmpfs: Bool, into engineTmpfs: inout SecretFileWriter?
    ) throws -> Bool {
        let refusal: SysError
        do {
            try MountNamespace.enterPrivate()
            return true
        } catch {
            guard error.errno == EPERM || error.errno == ENOSYS else { throw error }
            refusal = error
        }
        guard needsTmpfs else { return false }
        do { engineTmpfs = try SecretFileWriter.openMountedMemoryBacked(directory) } catch {
            throw LaunchError.noIsolation(directory: directory, why: "unshare: \(refusal.reason); \(error.reason)")
        }
        return false
    }
}
