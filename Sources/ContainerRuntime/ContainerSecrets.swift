import Glibc
import Launcher
import Namespaces
import SecretStore

/// One container's secrets on the host: a tmpfs at `<state>/containers/<id>` (the folders on the
/// way are 0700, so only root on the host can reach it), written, remounted read-only and
/// bound into the container by the runtime; plus its lease. `remove` undoes all of it.
public struct ContainerSecrets: Sendable {
    public let id: String
    public let stateDirectory: String

    public init(id: String, stateDirectory: String) {
        self.id = id
        self.stateDirectory = stateDirectory
    }

    var containersDirectory: String { stateDirectory + "/containers" }
    public var directory: String { containersDirectory + "/" + id }
    /// The tmpfs of the files placed outside /run/secrets (`OutsideTargets`), when any:
    /// each bound by the runtime over its target. A folder apart from `containers`, whose
    /// names are container IDs (any suffix could be another container's ID).
    public var outsideDirectory: String { stateDirectory + "/outside/" + id }
    /// Where the container's pid goes when the engine gave no `--pid-file`.
    public var pidFile: String { directory + ".pid" }

    /// runc's own rule for container IDs; it also keeps the ID a single path component.
    public static func isValidID(_ id: String) -> Bool {
        guard !id.isEmpty, id.utf8.count <= 1024, id != ".", id != ".." else { return false }
        return id.utf8.allSatisfy { byte in
            SecretRules.isLetter(byte) || (byte >= 0x30 && byte <= 0x39)
                || byte == UInt8(ascii: "_") || byte == UInt8(ascii: "+") || byte == UInt8(ascii: "-") || byte == UInt8(ascii: ".")
        }
    }

    /// Whether this container has secrets staged (cheap: one lstat, on `delete`'s path).
    public var isStaged: Bool {
        (try? Files.linkStatus(directory)) != nil
    }

    /// Stages `files` (`SecretsMount.stage`: the tmpfs root and new folders owned by `root`,
    /// the container's root as the host sees it) and attaches the sealed tmpfs at `directory`
    /// (opened once, by descriptor). On failure nothing is left.
    public func stage(_ files: [SecretsMount.File], root: (uid: uid_t, gid: gid_t)) throws(SysError) {
        try Files.makeDirectories(containersDirectory, mode: 0o700)
        // A leftover of a container that was never deleted: refuse rather than reuse it.
        try sys("mkdir", directory) { mkdir(directory, 0o700) }
        do throws(SysError) {
            let size = LaunchPlan.tmpfsSize(forSecretSizes: files.map { $0.value.count })
            let mount = try SecretsMount.stage(files, size: size, shown: directory, owner: root)
            defer { mount.close() }
            let target = try FileDescriptor.open(directory, FileDescriptor.pathOnly | O_DIRECTORY | O_NOFOLLOW)
            defer { target.close() }
            let host = try FileDescriptor.open("/", FileDescriptor.pathOnly | O_DIRECTORY)
            defer { host.close() }
            do { try mount.attach(onto: target, root: host) } catch {
                if case .system(let error) = error { throw error }
                throw SysError("mount tmpfs on", directory, errno: EINVAL)
            }
            if let outside = try OutsideTargets.stage(files, size: size, shown: outsideDirectory, owner: root) {
                defer { outside.close() }
                try Files.makeDirectories(Files.parent(of: outsideDirectory), mode: 0o700)
                try sys("mkdir", outsideDirectory) { mkdir(outsideDirectory, 0o700) }
                let point = try FileDescriptor.open(outsideDirectory, FileDescriptor.pathOnly | O_DIRECTORY | O_NOFOLLOW)
                defer { point.close() }
                do { try outside.mount.attach(onto: point, root: host) } catch {
                    if case .system(let error) = error { throw error }
                    throw SysError("mount tmpfs on", outsideDirectory, errno: EINVAL)
                }
            }
        } catch {
            remove()
            throw error
        }
    }

    /// Each target outside /run/secrets with the host file the runtime binds over it: the
    /// files of `outsideDirectory` in the order `OutsideTargets.stage` wrote them.
    public func outsideSources(_ targets: [String]) -> [(target: String, source: String)] {
        targets.enumerated().map { ($0.element, outsideDirectory + "/" + ASCIIDecimal.string(UInt64($0.offset))) }
    }

    /// Records that `pid` holds these secrets (the container's init, or this wrapper while it
    /// creates the container: then `wants` names the grants not read yet), for `secret rm`
    /// and `ps`.
    /// With `grants`, the lease also says what `update` needs to swap the container's secrets.
    @discardableResult
    public func recordLease(pid: pid_t, held: [Lease.Held], wants: [String] = [], grants: [Lease.Grant]? = nil) throws(StoreError) -> Lease {
        guard let start = System.processStartTime(pid) else { throw .system(SysError("read start time of pid \(pid)", errno: ESRCH)) }
        let workload = grants.map {
            Lease.Workload(
                pid: pid, processStartTime: start, secretsDirectory: ContainerConfig.secretsDirectory, tmpfsSize: nil, grants: $0,
                hostDirectory: directory)
        }
        let lease = Lease(
            workloadID: id, name: String(id.prefix(12)), pid: pid, processStartTime: start,
            startedAt: System.nowNanoseconds(), secrets: held, wants: wants, workload: workload)
        try LeaseBook(directory: stateDirectory).record(lease, file: leaseFile)
        return lease
    }

    /// Named by the container, so `delete` finds it in one step among the leases of every
    /// `run` on the host.
    var leaseFile: String { "container-" + id }

    /// `<id>.intent`: which process is creating this container ("PID START"), the bundle's
    /// config path, then that config as it was, in one file renamed into place: a create killed
    /// before the rename leaves only `<id>.intent.new`, which holds no change to undo; one killed
    /// after it leaves what `sweepInterrupted` undoes. Dropped once the container holds its lease.
    var intentFile: String { containersDirectory + "/" + id + ".intent" }
    var intentTemporary: String { intentFile + ".new" }

    public func recordIntent(configPath: String, original: [UInt8]) throws(SysError) {
        try Files.makeDirectories(containersDirectory, mode: 0o700)
        guard let start = System.ownStartTime() else { throw SysError("read /proc/self/stat", errno: ESRCH) }
        var text: [UInt8] = []
        ASCIIDecimal.append(UInt64(System.processID), to: &text)
        text.append(UInt8(ascii: " "))
        ASCIIDecimal.append(start, to: &text)
        text.append(UInt8(ascii: "\n"))
        text.append(contentsOf: configPath.utf8)
        text.append(UInt8(ascii: "\n"))
        text.append(contentsOf: original)
        try Files.replace(intentFile, with: text, mode: 0o600, temporary: intentTemporary, durably: false)
    }

    /// The intent's parts, or nil when there is none (or it is not one this wrapper wrote).
    func readIntent() -> (owner: Substring, configPath: String, original: ArraySlice<UInt8>)? {
        guard let bytes = try? Files.read(intentFile, limit: RuntimeWrapper.configLimit + 8192),
            let first = bytes.firstIndex(of: UInt8(ascii: "\n")),
            let second = bytes[(first + 1)...].firstIndex(of: UInt8(ascii: "\n"))
        else { return nil }
        let owner = String(decoding: bytes[..<first], as: UTF8.self)
        return (owner[...], String(decoding: bytes[(first + 1)..<second], as: UTF8.self), bytes[(second + 1)...])
    }

    /// Whether a create of this container began and never finished (its intent is there).
    public var wasInterrupted: Bool { Files.exists(intentFile) }

    /// Puts the bundle's config.json back as it was before a create that never finished, from
    /// the copy its intent kept.
    public func restoreConfig() {
        guard let intent = readIntent() else { return }
        try? RuntimeWrapper.replace(intent.configPath, with: Array(intent.original))
    }

    /// A container whose create used another state dir than the default (the runtime's
    /// `--secretshim-state-dir`) leaves its address in the default one, under
    /// `elsewhere/<id>`: Podman calls `delete` without the runtime flags it gave `create`.
    public static func pointer(id: String) -> String { StoreLocation.defaultStateDirectory() + "/elsewhere/" + id }

    public func recordPointer() throws(SysError) {
        let pointer = Self.pointer(id: id)
        try Files.makeDirectories(Files.parent(of: pointer), mode: 0o700)
        try Files.replace(pointer, with: Array(stateDirectory.utf8), mode: 0o600, temporary: pointer + ".new", durably: false)
    }

    /// Removes the intent, and the half-written one a create killed while writing it left.
    public func dropIntent() {
        try? Files.remove(intentFile)
        try? Files.remove(intentTemporary)
    }

    /// Undoes a create that was killed: its creator is gone and the runtime never made the
    /// container (no state under `<runtimeState>/<id>`). The bundle's config is put back as it was, the
    /// tmpfs unmounted, and the lease, pid file and intent removed. A create still running,
    /// or one whose container exists (the engine deletes it), is left alone.
    public func sweepInterrupted(runtimeState: String) {
        guard let intent = readIntent() else {
            // Killed while writing the intent: nothing was changed yet, only that file is left.
            try? Files.remove(intentTemporary)
            return
        }
        let owner = intent.owner.split(separator: " ")
        if owner.count == 2, let pid = pid_t(owner[0]), let start = UInt64(owner[1]), System.isAlive(pid: pid, startTime: start) {
            return
        }
        if RuntimeWrapper.runtimeHas(id, stateRoot: runtimeState) { return }
        try? RuntimeWrapper.replace(intent.configPath, with: Array(intent.original))
        try? Files.remove(RuntimeWrapper.replacement(of: intent.configPath))
        remove()
    }

    /// Unmounts and removes the tmpfs, its pid file, its lease and intent. Best effort: each
    /// step is tried whatever happened to the one before.
    public func remove() {
        _ = try? Tmpfs.unmount(directory)
        rmdir(directory)
        if (try? Files.linkStatus(outsideDirectory)) != nil {
            _ = try? Tmpfs.unmount(outsideDirectory)
            rmdir(outsideDirectory)
        }
        try? Files.remove(pidFile)
        LeaseBook(directory: stateDirectory).remove(file: leaseFile)
        dropIntent()
        if stateDirectory != StoreLocation.defaultStateDirectory() {
            try? Files.remove(Self.pointer(id: id))
            try? Files.remove(Self.pointer(id: id) + ".new")
        }
    }
}
