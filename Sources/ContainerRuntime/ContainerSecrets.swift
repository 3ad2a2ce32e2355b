import CLinux
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
        var st = stat()
        return lstat(directory, &st) == 0
    }

    public struct File {
        public var target: String
        public var value: [UInt8]
        public var uid: uid_t
        public var gid: gid_t
        public var mode: mode_t
    }

    /// Makes the tmpfs detached, writes `files` into it through its descriptor, seals it
    /// read-only and attaches it at `directory` (opened once, by descriptor): the one staging
    /// path of `SecretsMount`. The tmpfs root and new folders are owned by `root` (the
    /// container's root as the host sees it). On failure nothing is left.
    public func stage(_ files: [File], root: (uid: uid_t, gid: gid_t)) throws(SysError) {
        try Files.makeDirectories(containersDirectory, mode: 0o700)
        // A leftover of a container that was never deleted: refuse rather than reuse it.
        try sys("mkdir", directory) { mkdir(directory, 0o700) }
        do throws(SysError) {
            let mount = try SecretsMount.create(size: LaunchPlan.tmpfsSize(forSecretSizes: files.map(\.value.count)), shown: directory)
            defer { mount.close() }
            if root.uid != 0 || root.gid != 0 { try mount.fd.changeOwner(uid: root.uid, gid: root.gid, path: directory) }
            for file in files {
                try mount.write(file.target, file.value, uid: file.uid, gid: file.gid, mode: file.mode, folderOwner: root)
            }
            try mount.seal()
            let target = try FileDescriptor.open(directory, CL_O_PATH | O_DIRECTORY | O_NOFOLLOW)
            defer { target.close() }
            let host = try FileDescriptor.open("/", CL_O_PATH | O_DIRECTORY)
            defer { host.close() }
            do { try mount.attach(onto: target, root: host) } catch {
                if case .system(let error) = error { throw error }
                throw SysError("mount tmpfs on", directory, errno: EINVAL)
            }
        } catch {
            remove()
            throw error
        }
    }

    /// Records that the container's init process holds these secrets, for `secret rm` and `ps`.
    public func recordLease(pid: pid_t, held: [Lease.Held]) throws(StoreError) {
        guard let start = System.processStartTime(pid) else { throw .system(SysError("read start time of pid \(pid)", errno: ESRCH)) }
        let lease = Lease(
            workloadID: id, name: String(id.prefix(12)), pid: pid, processStartTime: start,
            startedAt: System.nowNanoseconds(), secrets: held)
        try LeaseBook(directory: stateDirectory).record(lease, file: leaseFile)
    }

    /// Named by the container, so `delete` finds it in one step among the leases of every
    /// `run` on the host.
    var leaseFile: String { "container-" + id }

    /// Unmounts and removes the tmpfs, its pid file and its leases. Best effort: each step is
    /// tried whatever happened to the one before.
    public func remove() {
        _ = try? Tmpfs.unmount(directory)
        rmdir(directory)
        unlink(pidFile)
        LeaseBook(directory: stateDirectory).remove(file: leaseFile)
    }
}
