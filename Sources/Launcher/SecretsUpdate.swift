import Glibc
import Namespaces
import SecretStore

/// `update`: grants, revokes and rotates the secrets of a running workload in place (Docker's
/// `service update --secret-add/--secret-rm`, without the restart Swarm needs).
///
/// The whole new set is staged on a fresh tmpfs inside the workload's mount namespace (and its
/// user namespace, rootless) and swapped in beneath the old one (`SecretsMount.replace`). The
/// lease follows as `run`'s does: the secrets about to be read are named under the state dir's
/// lock first (the one `secret rm` takes), so `secret rm` never wins a race with an update, and
/// the lease is rewritten with exactly what the workload holds once the swap is done.
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


    /// The update itself, in the process `perform` made.
    ///
    /// A lease is a file, and a root workload that reaches the host's tree could plant one: so
    /// nothing in it is acted on until the kernel agrees. Its process must be in a mount
    /// namespace of its own, a container's host tmpfs must be the one its ID names, and the
    /// mount must hold exactly the files the lease claims, value for value (no one can match a
    /// value they were not given). Before its swap, an update records the set it is swapping in
    /// (`pending`); an update killed half-way leaves a mount that shows the old set (perhaps
    /// with the new one stacked beneath it, which the next update finishes uncovering) or the
    /// new one, and the next update finds out which.
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
        // A container's lease is named by it, a `run`'s by its pid.
        let leaseFile = current.hostDirectory != nil ? "container-" + lease.workloadID : nil
        if let host = current.hostDirectory, host != location.stateDirectory + "/containers/" + lease.workloadID {
            throw .refused("the lease of \(lease.workloadID) names another folder than its container's (\(host)): refused")
        }
        // The process the lease sends the update to is the one the lease is named by: the
        // workload itself, or (--rootfs, --bundle) the first process of the PID namespace that
        // the shim named by the lease supervises.
        if current.pid != lease.pid && (current.hostDirectory != nil || System.parentProcessID(current.pid) != lease.pid) {
            throw .refused("the lease of \(lease.workloadID) names process \(current.pid), which is not its workload: refused")
        }
        let additions = try parsedAdditions(current)

        // Every secret the update may need is named first (see the type's comment): what the
        // mount may hold now (the lease's set, or an interrupted update's) and the additions.
        var wants: [String] = []
        // By name where the lease has one: `run`'s own lookup, off SQLite (checked against the
        // ID once read).
        let reference = References(held: lease.secrets)
        for grant in current.grants + (current.pending ?? []) where !wants.contains(reference[grant.id]) { wants.append(reference[grant.id]) }
        for grant in additions where !wants.contains(grant.source) { wants.append(grant.source) }
        do { try leases.replaceOwned(lease.with(secrets: lease.secrets, wants: wants, workload: current), file: leaseFile) } catch {
            throw .refused("\(error)")
        }
        var restored = false
        func restore() {
            guard !restored else { return }
            restored = true
            try? leases.replaceOwned(lease, file: leaseFile)
        }
        do throws(Failure) {
            var values: SecretValues
            do {
                let store = try location.openForReading()
                defer { store.close() }
                values = try store.read(wants)
                // A store shared with other nodes holds every secret read (the current set and
                // the new one) for this workload before anything changes; the node's agent drops
                // what the final lease no longer names. Done here, in the host's namespaces, and
                // closed before the workload's are entered (`close`: single-threaded again).
                var holding = lease.secrets
                for held in values.held where !holding.contains(held) { holding.append(held) }
                try store.hold(lease.with(secrets: holding, wants: wants, workload: current))
            } catch { throw .refused("\(error)") }
            defer { values.wipe() }
            for grant in current.grants + (current.pending ?? []) where values[reference[grant.id]]?.record.id != grant.id {
                throw .refused("the workload's lease names secret \(grant.id), which the store no longer has under that name: nothing changed")
            }
            // The audit log's folder, opened while the host's tree is this process's view.
            let events = EventLog.of(location)
            let eventFolder = events.openFolder()
            defer { eventFolder?.close() }
            let process: WorkloadProcess
            do { process = try WorkloadProcess.open(pid: current.pid, startTime: current.processStartTime) } catch {
                throw .refused("no such workload: \(workload) (its process \(current.pid) is gone)")
            }
            defer { process.close() }
            let owners = try Owners(current, pid: current.pid)
            // `uid=NAME`/`gid=NAME` from the workload's own root (its passwd and group, read
            // inside it through /proc/PID/root of the process checked above).
            let namedAdditions: [SecretGrant]
            do { namedAdditions = try SecretGrant.resolvingOwners(additions, root: "/proc/\(current.pid)/root") } catch {
                throw .refused("\(error)")
            }

            let holding: [Lease.Grant]
            // A container's folder is opened from the state dir's descriptor, component by
            // component, following no link (one planted there could lead to any host mount).
            let hostFolder = ["containers", lease.workloadID]
            func openHost(_ shown: String) throws(SysError) -> FileDescriptor {
                try SecretsMount.openCurrent(hostFolder, in: leases.fd, shown: shown)
            }
            if let host = current.hostDirectory {
                let hostTable: FileDescriptor
                do { hostTable = try FileDescriptor.open("/proc/self/mountinfo", O_RDONLY) } catch { throw .refused("\(error)") }
                defer { hostTable.close() }
                holding = try settle(host, current, values, owners, reference, mountinfo: hostTable, open: openHost)
            } else {
                do { try process.enterMountNamespace() } catch { throw .refused("\(error)") }
                holding = try settle(
                    current.secretsDirectory, current, values, owners, reference, mountinfo: process.mountinfo,
                    open: SecretsMount.openCurrent)
            }
            let grants = try newGrants(holding, namedAdditions, reference)
            var files = try owners.files(grants, values)
            defer { files.wipeValues() }
            let sizes = files.map { $0.value.count }
            let needed = LaunchPlan.bytesNeeded(forSecretSizes: sizes)
            if let given = current.tmpfsSize, given < needed {
                throw .refused(LaunchError.tmpfsTooSmall(needed: needed, given: given).description)
            }
            let size = current.tmpfsSize ?? LaunchPlan.tmpfsSize(forSecretSizes: sizes)

            // The set about to be swapped in, recorded first.
            var intent = current
            intent.grants = holding
            let swappedIn = Launcher.leaseGrants(grants, values)
            intent.pending = swappedIn
            let pendingLease = lease.with(secrets: lease.secrets, wants: wants, workload: intent)
            guard pendingLease.encoded().count <= LeaseDirectory.maximumLeaseSize else {
                throw .refused("\(grants.count) grants would not fit in a lease (\(LeaseDirectory.maximumLeaseSize) bytes): use fewer or shorter targets")
            }
            do { try leases.replaceOwned(pendingLease, file: leaseFile) } catch { throw .refused("\(error)") }
            if let host = current.hostDirectory {
                try swapContainer(
                    files, size: size, owner: owners.root, host: host, process: process, inside: current.secretsDirectory, open: openHost)
            } else {
                try swap(files, size: size, shown: current.secretsDirectory)
            }
            files.wipeValues()
            // Done: the lease names exactly the new set.
            var updated = current
            updated.grants = swappedIn
            updated.pending = nil
            restored = true
            do { try leases.replaceOwned(lease.with(secrets: values.held(by: swappedIn), workload: updated), file: leaseFile) } catch {
                throw .refused("the secrets were swapped, but the lease could not be rewritten: \(error)")
            }
            let after = values.held(by: swappedIn)
            let granted = after.filter { !lease.secrets.contains($0) }, revoked = lease.secrets.filter { !after.contains($0) }
            if let eventFolder {
                if !granted.isEmpty {
                    events.append(.workload("grant", id: lease.workloadID, name: lease.name, pid: current.pid, secrets: granted, reason: "update"), in: eventFolder)
                }
                if !revoked.isEmpty {
                    events.append(.workload("revoke", id: lease.workloadID, name: lease.name, pid: current.pid, secrets: revoked, reason: "update"), in: eventFolder)
                }
            }
            if let signal {
                do { try process.signal(signal) } catch { throw .refused("the secrets were swapped, but \(error)") }
            }
        } catch {
            restore()
            throw error
        }
        return lease.workloadID
    }

    /// Which set the mount at `path` (in this process's mount namespace) holds: the lease's, or
    /// an interrupted update's (`pending`), after finishing that update's swap if it was killed
    /// between its two mount calls (two mounts stacked there: the old one on top is detached,
    /// uncovering the new one). Anything else is refused: the lease does not say what the
    /// workload holds.
    func settle(
        _ path: String, _ current: Lease.Workload, _ values: SecretValues, _ owners: Owners, _ reference: References,
        mountinfo: FileDescriptor, open: (String) throws(SysError) -> FileDescriptor
    ) throws(Failure) -> [Lease.Grant] {
        let found: [Lease.Grant]?
        do throws(SysError) {
            var mount = try open(path)
            defer { mount.close() }
            if try SecretsMount.isStacked(mount, mountinfo: mountinfo), let pending = current.pending {
                // The old set on top: detached, the pending set beneath must be what shows.
                if try holdsOneOf(mount, [current.grants], values, owners, reference) != nil {
                    try SecretsMount.detach(mount, shown: path)
                    mount.close()
                    mount = try open(path)
                    found = try holdsOneOf(mount, [pending], values, owners, reference)
                } else {
                    found = nil
                }
            } else {
                found = try holdsOneOf(mount, [current.grants] + (current.pending.map { [$0] } ?? []), values, owners, reference)
            }
        } catch {
            throw .refused("\(error)")
        }
        guard let found else { throw .refused("the secrets mount at \(path) does not hold what the workload's lease says: nothing changed") }
        return found
    }

    func holdsOneOf(
        _ mount: FileDescriptor, _ sets: [[Lease.Grant]], _ values: SecretValues, _ owners: Owners, _ reference: References
    ) throws(SysError) -> [Lease.Grant]? {
        for set in sets {
            let grants = set.map { reference.grant($0) }
            guard var files = try? owners.files(grants, values) else { continue }
            defer { files.wipeValues() }
            if try SecretsMount.holdsExactly(mount, files) { return set }
        }
        return nil
    }

    static let noBeneath =
        "this kernel cannot swap a mount in place (move_mount's MOVE_MOUNT_BENEATH, Linux 6.5+); see 'secretshim info'"

    /// A `run`'s swap, from inside its mount namespace: the new tmpfs is made there (rootless,
    /// only the workload's user namespace may make one) and replaces the old one.
    func swap(_ files: [SecretsMount.File], size: UInt64, shown: String) throws(Failure) {
        // Asked here, where this process may mount: outside, an ordinary user's probe is
        // refused for want of the capability before the kernel looks at the flag.
        guard KernelFeatures.moveMountBeneath else { throw .refused(Self.noBeneath) }
        do throws(SysError) {
            let mount = try SecretsMount.stage(files, size: size, shown: shown)
            defer { mount.close() }
            let old = try SecretsMount.openCurrent(shown)
            defer { old.close() }
            try mount.replace(old)
        } catch {
            throw .refused("\(error)")
        }
    }

    /// A container's swap (root only): the new tmpfs is made on the host, replaces the host's
    /// copy under the state dir (which the wrapper's `delete` unmounts), then a second mount
    /// of it replaces the container's secrets dir, from inside the container's mount namespace
    /// (where a swap killed half-way is finished first, as `settle` does on the host).
    func swapContainer(
        _ files: [SecretsMount.File], size: UInt64, owner: (uid: uid_t, gid: gid_t), host: String,
        process: WorkloadProcess, inside: String, open: (String) throws(SysError) -> FileDescriptor
    ) throws(Failure) {
        guard KernelFeatures.moveMountBeneath else { throw .refused(Self.noBeneath) }
        guard try swapBoth(files, size: size, owner: owner, host: host, process: process, inside: inside, open: open) else {
            throw .refused("the container's \(inside) is not the secrets mount its lease names: refused")
        }
    }

    /// `swapContainer`'s mounts; false when the container's secrets dir is not the host
    /// copy's bind (nothing is swapped inside then).
    func swapBoth(
        _ files: [SecretsMount.File], size: UInt64, owner: (uid: uid_t, gid: gid_t), host: String,
        process: WorkloadProcess, inside: String, open: (String) throws(SysError) -> FileDescriptor
    ) throws(Failure) -> Bool {
        do throws(SysError) {
            let mount = try SecretsMount.stage(files, size: size, shown: host, owner: owner)
            defer { mount.close() }
            let oldHost = try open(host)
            defer { oldHost.close() }
            let oldDevice = try oldHost.status(path: host).st_dev
            try mount.replace(oldHost)
            // Copied once attached in this namespace (open_tree clones only a mount of the
            // caller's own namespace on older kernels).
            let copy = try mount.copy(shown: inside)
            defer { copy.close() }
            let newDevice = try mount.fd.status(path: host).st_dev
            try process.enterMountNamespace()
            var old = try SecretsMount.openCurrent(inside)
            defer { old.close() }
            // The container's mount is a bind of the host's copy: the one just replaced, or,
            // after an update killed between its two swaps, already the new one's.
            if try SecretsMount.isStacked(old, mountinfo: process.mountinfo) {
                try SecretsMount.detach(old, shown: inside)
                old.close()
                old = try SecretsMount.openCurrent(inside)
            }
            let device = try old.status(path: inside).st_dev
            guard device == oldDevice || device == newDevice else { return false }
            try copy.replace(old)
            return true
        } catch {
            throw .refused("\(error)")
        }
    }

    /// Who the files belong to: for a `run`, as `run` wrote them (rootless, the caller); for a
    /// container, as the runtime wrapper wrote them (`Launcher.ownedFiles`), through the
    /// mapping of its user namespace as /proc shows it.
    struct Owners {
        var mappings: (uid: IDMapping, gid: IDMapping)?
        var root: (uid: uid_t, gid: gid_t) = (0, 0)

        init(_ current: Lease.Workload, pid: pid_t) throws(Failure) {
            guard current.hostDirectory != nil else { return }
            do {
                let found = (uid: try IDMapping.of(pid: pid, "uid"), gid: try IDMapping.of(pid: pid, "gid"))
                mappings = found
                root = try Launcher.containerRoot(uids: found.uid, gids: found.gid)
            } catch {
                throw .refused("\(error)")
            }
        }

        func files(_ grants: [SecretGrant], _ values: SecretValues) throws(Failure) -> [SecretsMount.File] {
            do {
                guard let mappings else { return try Launcher.secretFiles(grants, values, rootless: System.effectiveUserID != 0) }
                return try Launcher.ownedFiles(grants, values, uids: mappings.uid, gids: mappings.gid)
            } catch {
                throw .refused("\(error)")
            }
        }
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

    /// How a lease's grant asks the store for its secret: by the name the lease holds it
    /// under, else by its ID.
    struct References {
        let held: [Lease.Held]

        subscript(id: String) -> String { held.first { $0.id == id }?.name ?? id }

        func grant(_ grant: Lease.Grant) -> SecretGrant {
            SecretGrant(source: self[grant.id], target: grant.target, uid: grant.uid, gid: grant.gid, mode: grant.mode)
        }
    }

    /// The `--secret-add` specs as grants (run's grammar, under the workload's secrets dir).
    func parsedAdditions(_ current: Lease.Workload) throws(Failure) -> [SecretGrant] {
        var grants: [SecretGrant] = []
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
        return grants
    }

    /// The workload's grants after the removals, then the additions (Docker's order): each a
    /// `SecretGrant` whose source is the secret's ID for those kept.
    func newGrants(
        _ holding: [Lease.Grant], _ additions: [SecretGrant], _ reference: References
    ) throws(Failure) -> [SecretGrant] {
        var kept = holding
        for removal in removals {
            let matches = kept.filter { grant in
                grant.id == removal || reference[grant.id] == removal
            }
            guard !matches.isEmpty else { throw .refused("the workload holds no secret '\(removal)'") }
            if let outside = matches.first(where: { $0.target.utf8.first == UInt8(ascii: "/") }) {
                throw .refused(Self.outsideRefusal(outside.target))
            }
            kept.removeAll { grant in matches.contains(grant) }
        }
        if let outside = additions.first(where: \.isOutside) { throw .refused(Self.outsideRefusal(outside.target)) }
        let grants = kept.map { reference.grant($0) } + additions
        guard grants.count <= Lease.maximumGrants else { throw .refused(LaunchError.tooManyGrants(grants.count).description) }
        do { try SecretGrant.checkTargets(grants) } catch { throw .refused("\(error)") }
        return grants
    }

    /// A file bound over a target outside the secrets dir is its own mount in the workload's
    /// tree, not part of the secrets mount that `update` swaps in one step: changing it in place
    /// could not be atomic with the rest, so it is refused (it stays as it is when other grants
    /// change).
    static func outsideRefusal(_ target: String) -> String {
        "the secret at \(target) lies outside the secrets dir, where update cannot swap it in place: restart the workload to change it; nothing changed"
    }

    func forkChild() throws(Failure) -> pid_t {
        do { return try ChildProcess.fork() } catch { throw .refused("\(error)") }
    }

    func pipe() throws(Failure) -> (FileDescriptor, FileDescriptor) {
        do { return try FileDescriptor.pipe() } catch { throw .refused("\(error)") }
    }
}
