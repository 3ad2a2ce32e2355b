import Glibc
import Namespaces
import SecretStore

/// `update`: grants, revokes and rotates the secrets of a running workload in place (Docker's
/// `service update --secret-add/--secret-rm`, without the restart Swarm needs).
///
/// The whole new set is staged on a fresh tmpfs inside the workload's mount namespace (and its
/// user namespace, rootless) and swapped in beneath the old one (`SecretsMount.replace`). The
/// lease follows as `run`'s does: the secrets about to be read are named under the state dir's
/// shared lock first, so `secret rm` never wins a race with an update, and the lease is
/// rewritten with exactly what the workload holds once the swap is done.
public struct SecretsUpdate: Sendable {
    /// `--secret-rm` references (a secret's name or ID), applied first.
    public var removals: [String]
    /// `--secret-add` specs in `run`'s grammar, applied after the removals.
    public var additions: [String]
    /// `--signal`, sent to the workload after the swap.
    public var signal: Int32?
    /// A `--name`, a `ps` ID (or a unique prefix of one), or a PID.
    public var workload: String

    public init(removals: [String], additions: [String], signal: Int32?, workload: String) {
        self.removals = removals
        self.additions = additions
        self.signal = signal
        self.workload = workload
    }

    /// Why nothing changed. `usage` (a bad spec) exits 2, every other refusal 1.
    public enum Failure: Error, CustomStringConvertible {
        case usage(String)
        case refused(String)

        public var description: String {
            switch self {
            case .usage(let why), .refused(let why): return why
            }
        }

        public var exitCode: Int32 {
            if case .usage = self { return 2 }
            return 1
        }
    }

    /// Runs the update to its end in a process of its own (a new session, so that a `kill -9`
    /// of the caller or of its process group cannot stop it between the swap and the lease),
    /// which also makes it single-threaded, as entering a user namespace needs. Returns the
    /// workload's ID, or the exit status of a failure that `report` was given (the child's).
    public func perform(location: StoreLocation, report: (Failure) -> Void) -> (id: String?, status: Int32) {
        // The ID comes back through a pipe; nothing else crosses.
        let reader: FileDescriptor, writer: FileDescriptor, child: pid_t
        do throws(Failure) {
            (reader, writer) = try pipe()
            child = try forkChild()
        } catch {
            report(error)
            return (nil, error.exitCode)
        }
        if child == 0 {
            reader.close()
            ChildProcess.startSession()
            var status: Int32 = 0
            do {
                let id = try apply(location: location)
                _ = try? writer.writeAll(Array(id.utf8), path: "pipe")
            } catch {
                report(error)
                status = error.exitCode
            }
            exit(status)
        }
        writer.close()
        defer { reader.close() }
        let status = ChildProcess.wait(child)
        let id = String(decoding: (try? reader.readAll(limit: 4096)) ?? [], as: UTF8.self)
        guard status == 0, !id.isEmpty else { return (nil, status == 0 ? 1 : status) }
        return (id, 0)
    }

    func forkChild() throws(Failure) -> pid_t {
        do { return try ChildProcess.fork() } catch { throw .refused("\(error)") }
    }

    func pipe() throws(Failure) -> (FileDescriptor, FileDescriptor) {
        do { return try FileDescriptor.pipe() } catch { throw .refused("\(error)") }
    }

    /// The update itself, in the process `perform` made.
    func apply(location: StoreLocation) throws(Failure) -> String {
        let leases: LeaseDirectory
        do {
            guard let opened = try LeaseBook(directory: location.stateDirectory).open(create: false) else {
                throw Failure.refused("no such workload: \(workload)")
            }
            leases = opened
        } catch let error as Failure {
            throw error
        } catch {
            throw .refused("\(error)")
        }
        defer { leases.close() }
        let lock: FileDescriptor
        do { lock = try leases.lockForUpdate() } catch { throw .refused("\(error)") }
        defer { lock.close() }

        // Found under the lock: a concurrent update has finished with it.
        let lease = try find(in: leases.liveLeases())
        guard let current = lease.workload else {
            throw .refused("workload \(lease.name) (\(lease.workloadID)) cannot be updated: it was started by a secretshim without update, or is still starting")
        }
        let grants = try newGrants(current, held: lease.secrets)
        // A container's lease is named by it, a `run`'s by its pid.
        let leaseFile = current.hostDirectory != nil ? "container-" + lease.workloadID : nil

        // The references about to be read are named first (see the type's comment).
        let wants = grants.map(\.source)
        do { try leases.replaceShared(lease.with(secrets: lease.secrets, wants: wants, workload: current), file: leaseFile) } catch {
            throw .refused("\(error)")
        }
        var restored = false
        func restore() {
            guard !restored else { return }
            restored = true
            try? leases.replace(lease, file: leaseFile)
        }
        var values: SecretValues
        do { values = try location.openForReading().read(wants) } catch {
            restore()
            throw .refused("\(error)")
        }
        defer { values.wipe() }
        // A container's secrets are the host's tmpfs, bound into it: written as the host sees
        // the container's ids (through its user namespace, if it has one).
        var files: [SecretsMount.File]
        var owner: (uid: uid_t, gid: gid_t) = (0, 0)
        do {
            if current.hostDirectory != nil {
                let uids = try IDMap.of(pid: current.pid, "uid"), gids = try IDMap.of(pid: current.pid, "gid")
                guard let rootUID = uids.hostID(0), let rootGID = gids.hostID(0) else {
                    throw Failure.refused("the container's user namespace maps no root (uid 0 and gid 0)")
                }
                owner = (rootUID, rootGID)
                files = try containerFiles(grants, values, uids: uids, gids: gids)
            } else {
                files = try Launcher.secretFiles(grants, values, rootless: System.effectiveUserID != 0)
            }
        } catch let error as Failure {
            restore()
            throw error
        } catch {
            restore()
            throw .refused("\(error)")
        }
        defer { files.wipeValues() }
        let needed = LaunchPlan.bytesNeeded(forSecretSizes: files.map { $0.value.count })
        if let given = current.tmpfsSize, given < needed {
            restore()
            throw .refused(LaunchError.tmpfsTooSmall(needed: needed, given: given).description)
        }
        let size = current.tmpfsSize ?? LaunchPlan.tmpfsSize(forSecretSizes: files.map { $0.value.count })

        let process: WorkloadProcess
        do { process = try WorkloadProcess.open(pid: current.pid, startTime: current.processStartTime) } catch {
            restore()
            throw .refused("no such workload: \(workload) (its process \(current.pid) is gone)")
        }
        defer { process.close() }
        do throws(Failure) {
            if let host = current.hostDirectory {
                try swapContainer(files, size: size, owner: owner, host: host, process: process, inside: current.secretsDirectory)
            } else {
                try swap(files, size: size, process: process, inside: current.secretsDirectory)
            }
        } catch {
            restore()
            throw error
        }
        files.wipeValues()
        // Done: the lease names exactly the new set.
        var updated = current
        updated.grants = Launcher.leaseGrants(grants, values)
        restored = true
        do { try leases.replace(lease.with(secrets: values.held, workload: updated), file: leaseFile) } catch {
            throw .refused("the secrets were swapped, but the lease could not be rewritten: \(error)")
        }
        if let signal {
            do { try process.signal(signal) } catch { throw .refused("the secrets were swapped, but \(error)") }
        }
        return lease.workloadID
    }

    static let noBeneath =
        "this kernel cannot swap a mount in place (move_mount's MOVE_MOUNT_BENEATH, Linux 6.5+); see 'secretshim info'"

    /// A `run`'s swap, from inside its mount namespace: the new tmpfs is made there (rootless,
    /// only the workload's user namespace may make one) and replaces the old one.
    func swap(_ files: [SecretsMount.File], size: UInt64, process: WorkloadProcess, inside: String) throws(Failure) {
        do { try process.enterMountNamespace() } catch { throw .refused("\(error)") }
        // Asked here, where this process may mount: outside, an ordinary user's probe is
        // refused for want of the capability before the kernel looks at the flag.
        guard KernelFeatures.moveMountBeneath else { throw .refused(Self.noBeneath) }
        do throws(SysError) {
            let mount = try SecretsMount.stage(files, size: size, shown: inside)
            defer { mount.close() }
            let old = try SecretsMount.openCurrent(inside)
            defer { old.close() }
            try mount.replace(old)
        } catch {
            throw .refused("\(error)")
        }
    }

    /// A container's swap (root only): the new tmpfs is made on the host, replaces the host's
    /// copy under the state dir (which the wrapper's `delete` unmounts), then a second mount
    /// of it replaces the container's secrets dir, from inside the container's mount namespace.
    func swapContainer(
        _ files: [SecretsMount.File], size: UInt64, owner: (uid: uid_t, gid: gid_t), host: String,
        process: WorkloadProcess, inside: String
    ) throws(Failure) {
        guard KernelFeatures.moveMountBeneath else { throw .refused(Self.noBeneath) }
        do throws(SysError) {
            let mount = try SecretsMount.stage(files, size: size, shown: host, owner: owner)
            defer { mount.close() }
            let oldHost = try SecretsMount.openCurrent(host)
            defer { oldHost.close() }
            try mount.replace(oldHost)
            // Copied once attached in this namespace (open_tree clones only a mount of the
            // caller's own namespace on older kernels).
            let copy = try mount.copy(shown: inside)
            defer { copy.close() }
            try process.enterMountNamespace()
            let old = try SecretsMount.openCurrent(inside)
            defer { old.close() }
            try copy.replace(old)
        } catch {
            throw .refused("\(error)")
        }
    }

    /// Each grant's file with its owner as the host must write it, through the container's
    /// user namespace mapping (identity without one).
    func containerFiles(_ grants: [SecretGrant], _ values: SecretValues, uids: IDMap, gids: IDMap) throws(Failure) -> [SecretsMount.File] {
        var files: [SecretsMount.File] = []
        for grant in grants {
            guard let uid = uids.hostID(grant.uid), let gid = gids.hostID(grant.gid) else {
                files.wipeValues()
                throw .refused("secret '\(grant.source)': uid \(grant.uid) or gid \(grant.gid) is not mapped in the container's user namespace")
            }
            files.append(SecretsMount.File(target: grant.target, value: values[grant.source]!.value, uid: uid, gid: gid, mode: mode_t(grant.mode)))
        }
        return files
    }

    /// The live lease `workload` names: a `--name`, a `ps` ID, a PID (the shim's or the
    /// workload's own), or else a unique prefix of an ID.
    func find(in leases: [Lease]) throws(Failure) -> Lease {
        let exact = leases.filter {
            $0.name == workload || $0.workloadID == workload || String($0.pid) == workload
                || $0.workload.map { String($0.pid) == workload } == true
        }
        if exact.count == 1 { return exact[0] }
        if exact.count > 1 { throw .refused("\(workload) names \(exact.count) workloads: give its ID (secretshim ps)") }
        let prefixed = leases.filter { $0.workloadID.hasUTF8Prefix(workload) }
        if prefixed.count == 1, !workload.isEmpty { return prefixed[0] }
        if prefixed.count > 1 { throw .refused("\(workload) is a prefix of \(prefixed.count) workload IDs: give more of it") }
        throw .refused("no such workload: \(workload)")
    }

    /// The workload's grants after the removals, then the additions (Docker's order): each a
    /// `SecretGrant` whose source is the secret's ID for those kept.
    func newGrants(_ current: Lease.Workload, held: [Lease.Held]) throws(Failure) -> [SecretGrant] {
        var kept = current.grants
        for reference in removals {
            let matches = kept.filter { grant in
                grant.id == reference || held.contains { $0.id == grant.id && $0.name == reference }
            }
            guard !matches.isEmpty else { throw .refused("the workload holds no secret '\(reference)'") }
            kept.removeAll { grant in matches.contains(grant) }
        }
        var grants = kept.map { SecretGrant(source: $0.id, target: $0.target, uid: $0.uid, gid: $0.gid, mode: $0.mode) }
        for spec in additions {
            let grant: SecretGrant
            do { grant = try SecretGrant.parse(spec, secretsDirectory: current.secretsDirectory) } catch {
                throw .usage("--secret-add \(spec): \(error)")
            }
            if grant.environmentVariable != nil {
                throw .usage("--secret-add \(spec): env= cannot change the environment of a running process")
            }
            grants.append(grant)
        }
        guard grants.count <= Lease.maximumGrants else { throw .refused(LaunchError.tooManyGrants(grants.count).description) }
        do { try SecretGrant.checkTargets(grants) } catch { throw .refused("\(error)") }
        return grants
    }
}
