import CLinux
import Glibc

/// The tmpfs that holds a workload's secrets, built the one way every mode uses (plain `run`,
/// `--rootfs`/`--bundle`, rootless, the runtime wrapper): made detached with the new mount API,
/// filled through its own descriptor, sealed read-only, and only then attached, onto a
/// directory given by descriptor. Until `attach`, no path anywhere leads to it; no file is ever
/// written through a path looked up after the mount (the hole CVE-2021-30465 was in runc), and
/// sealing changes this mount alone, never the file system under the mount point.
public struct SecretsMount {
    /// The mount itself: an O_PATH-like descriptor of the tmpfs's root directory.
    public let fd: FileDescriptor
    /// How errors name it: the directory it is meant for.
    public let shown: String

    /// One secret file to write: its path under the secrets dir (components already checked:
    /// no "", ".", ".."), its bytes, and Docker's `uid`, `gid` and `mode` for it. The one shape
    /// every mode hands to the staging path. The caller owns `value` and wipes it.
    public struct File {
        public var target: String
        public var value: [UInt8]
        public var uid: uid_t
        public var gid: gid_t
        public var mode: mode_t

        public init(target: String, value: [UInt8], uid: uid_t, gid: gid_t, mode: mode_t) {
            self.target = target
            self.value = value
            self.uid = uid
            self.gid = gid
            self.mode = mode
        }

        /// Whether the target lies outside the secrets dir: an absolute path in the workload's
        /// root (Docker's `target=/etc/nginx/conf.d/site.conf`), placed by `OutsideTargets`.
        public var isOutside: Bool { target.utf8.first == UInt8(ascii: "/") }
    }

    public enum Error: Swift.Error, CustomStringConvertible, Equatable {
        /// The target resolved to a root directory: mounting there would hide the whole tree.
        case targetIsRoot(String)
        /// A target outside the secrets dir whose folder is missing, or is no folder: secretshim
        /// makes no folder outside the secrets dir (the rule; runc would make them).
        case targetFolderMissing(target: String, folder: String)
        case targetFolderNotDirectory(target: String, folder: String)
        /// A target outside the secrets dir that is a folder: a file cannot be bound over it.
        case targetIsDirectory(String)
        /// A target given outside the secrets dir whose folder leads into it through a link
        /// (`/var/run/secrets/x` with /var/run -> /run): the secrets tmpfs would cover it.
        case targetInSecretsDirectory(String)
        /// A target outside the secrets dir, in the host's own tree, that does not exist: no file
        /// is made on the host to mount over.
        case targetMissingOnHost(String)
        case system(SysError)

        public var description: String {
            switch self {
            case .targetIsRoot(let path): return "secrets dir \(path) resolves to the root directory: refusing to mount over it"
            case .targetFolderMissing(let target, let folder):
                return "target \(target): folder \(folder) does not exist in the workload's root (secretshim makes no folder outside the secrets dir)"
            case .targetFolderNotDirectory(let target, let folder):
                return "target \(target): \(folder) is not a folder in the workload's root"
            case .targetIsDirectory(let target): return "target \(target) is a folder: a secret file cannot be mounted over it"
            case .targetInSecretsDirectory(let target):
                return "target \(target) leads into the secrets dir through a link: give it relative to the secrets dir"
            case .targetMissingOnHost(let target):
                return "target \(target) does not exist: in the host's own tree secretshim mounts over an existing file and makes none (create it, or give the workload a root with --rootfs)"
            case .system(let error): return error.description
            }
        }
    }

    /// The staging path, whole: a fresh tmpfs of `size` bytes (see `create`) holding `files`,
    /// sealed read-only, not yet attached anywhere. Folders it makes, and its root when
    /// `owner` is not root, belong to `owner` (the container's root as the host sees it).
    /// Nothing is left on failure.
    public static func stage(
        _ files: [File], size: UInt64, shown: String, owner: (uid: uid_t, gid: gid_t) = (0, 0)
    ) throws(SysError) -> SecretsMount {
        let mount = try create(size: size, shown: shown)
        do {
            if owner.uid != 0 || owner.gid != 0 { try mount.fd.changeOwner(uid: owner.uid, gid: owner.gid, path: shown) }
            let writer = SecretFileWriter(directory: mount.fd, path: shown)
            for file in files where !file.isOutside { try writer.write(file, folderOwner: owner) }
            try mount.seal()
        } catch {
            mount.close()
            throw error
        }
        return mount
    }

    /// A fresh tmpfs of `size` bytes (root 0755, owned by root, nosuid,nodev,noexec) and
    /// `noswap` where the kernel offers it (Linux 6.4+; never inside a user namespace).
    public static func create(size: UInt64, shown: String) throws(SysError) -> SecretsMount {
        let raw: Int32
        do { raw = try sys("mount tmpfs for", shown) { cl_tmpfs_detached(size, 0o755, 1) } } catch where error.errno == EINVAL {
            // No `noswap` here (before Linux 6.4, or in a user namespace).
            raw = try sys("mount tmpfs for", shown) { cl_tmpfs_detached(size, 0o755, 0) }
        }
        return SecretsMount(fd: FileDescriptor(rawValue: raw), shown: shown)
    }

    /// Makes this mount read-only (mount_setattr on its descriptor).
    public func seal() throws(SysError) {
        try sys("remount read-only", shown) { cl_mount_fd_set_readonly(fd.rawValue) }
    }

    /// Attaches the (sealed) tmpfs onto `target`, a directory opened once by the caller
    /// (`SecretsMount.openTarget` or `ContainedRoot.open`). A target that is a root directory
    /// (`--secrets-dir /.`, a rootfs whose `run/secrets` links to `/`) is refused.
    public func attach(onto target: FileDescriptor, root: FileDescriptor) throws(Error) {
        let same: Bool
        do { same = try Self.isSameDirectory(target, root) } catch { throw .system(error) }
        if same { throw .targetIsRoot(shown) }
        do { try sys("mount tmpfs on", shown) { cl_move_mount_onto(fd.rawValue, target.rawValue) } } catch { throw .system(error) }
    }

    public func close() { fd.close() }

    /// A second detached mount of the same tmpfs (open_tree's OPEN_TREE_CLONE), read-only as
    /// this one, to attach in another place (a container's own secrets dir).
    public func copy(shown: String) throws(SysError) -> SecretsMount {
        let raw = try sys("copy the secrets mount for", shown) { cl_clone_tree_fd(fd.rawValue, 0) }
        return SecretsMount(fd: FileDescriptor(rawValue: raw), shown: shown)
    }

    /// `update`'s swap: this (sealed) tmpfs goes beneath the secrets mount whose root
    /// `current` refers to (move_mount with MOVE_MOUNT_BENEATH, Linux 6.5+), then that mount is
    /// detached, uncovering it. Every path under the secrets dir shows the old set until the
    /// detach and the new one after: never a mix, never nothing. A process holding a file or
    /// folder of the old set keeps it; the kernel frees the old tmpfs when the last one closes.
    public func replace(_ current: FileDescriptor) throws(SysError) {
        try sys("mount the new secrets beneath", shown) { cl_move_mount_beneath(fd.rawValue, current.rawValue) }
        try sys("detach the old secrets at", shown) { cl_detach_mount_at(current.rawValue) }
    }

    /// The secrets mount at `directory` of the current mount namespace (as `update` finds it
    /// once in the workload's), resolved inside the namespace's root and opened once: it must
    /// be the root of a tmpfs or ramfs mount, or nothing is replaced (EINVAL).
    public static func openCurrent(_ directory: String) throws(SysError) -> FileDescriptor {
        let root = try ContainedRoot.open("/")
        defer { root.fd.close() }
        return try checked(try root.openExisting(directory), directory)
    }

    /// `openCurrent` for a folder named by components under `base` (the state dir's
    /// descriptor), each opened without following a symbolic link.
    public static func openCurrent(_ components: [String], in base: FileDescriptor, shown: String) throws(SysError) -> FileDescriptor {
        var current = try base.openAt(".", CL_O_PATH | O_DIRECTORY)
        for name in components {
            guard !name.isEmpty, name != ".", name != "..", !name.utf8.contains(UInt8(ascii: "/")) else {
                current.close()
                throw SysError("open", shown, errno: EINVAL)
            }
            let next: FileDescriptor
            do { next = try current.openAt(name, CL_O_PATH | O_DIRECTORY | O_NOFOLLOW) } catch {
                current.close()
                throw SysError("open", shown, errno: error.errno)
            }
            current.close()
            current = next
        }
        return try checked(current, shown)
    }

    static func checked(_ current: FileDescriptor, _ directory: String) throws(SysError) -> FileDescriptor {
        do throws(SysError) {
            let isMountRoot = try sys("statx", directory) { cl_is_mount_root(current.rawValue) }
            guard isMountRoot == 1, try FileSystemKind.of(current, path: directory).isMemoryBacked else {
                throw SysError("find the secrets mount at", directory, errno: EINVAL)
            }
        } catch {
            current.close()
            throw error
        }
        return current
    }

    /// Whether the mount whose root `current` refers to holds exactly `files`: the same paths
    /// and no other file (folders aside), each a regular file with its uid, gid, mode and
    /// bytes. `update` compares a workload's mount with what its lease claims before acting on
    /// the lease: a lease is a file a root workload might have planted, the mount is the
    /// kernel's, and no one can match a value they were not given.
    /// Files placed outside the secrets dir are not in this mount (`OutsideTargets`) and are
    /// not compared.
    public static func holdsExactly(_ current: FileDescriptor, _ files: [File]) throws(SysError) -> Bool {
        let files = files.filter { !$0.isOutside }
        var found: [String] = []
        guard try listFiles(current, prefix: "", into: &found, depth: 0) else { return false }
        guard found.count == files.count, Set(found) == Set(files.map(\.target)) else { return false }
        for file in files {
            let opened = FileDescriptor(rawValue: try sys("open", file.target) {
                cl_open_in_root(current.rawValue, file.target, O_RDONLY | O_NOFOLLOW | O_NONBLOCK, 0)
            })
            defer { opened.close() }
            let st = try opened.status(path: file.target)
            guard st.st_mode & S_IFMT == S_IFREG, st.st_uid == file.uid, st.st_gid == file.gid,
                st.st_mode & 0o7777 == file.mode, Int(st.st_size) == file.value.count
            else { return false }
            var bytes = try opened.readAll(limit: file.value.count + 1, path: file.target)
            defer { Namespaces.wipe(&bytes) }
            guard bytes == file.value else { return false }
        }
        return true
    }

    /// The paths of every non-folder under `directory`; false for anything but folders and
    /// regular files (a symbolic link, a device: never written by secretshim), or folders
    /// deeper than a path can be.
    static func listFiles(_ directory: FileDescriptor, prefix: String, into found: inout [String], depth: Int) throws(SysError) -> Bool {
        guard depth < 256 else { return false }
        for name in directory.entries() {
            let path = prefix.isEmpty ? name : prefix + "/" + name
            let entry = try directory.openAt(name, CL_O_PATH | O_NOFOLLOW)
            defer { entry.close() }
            let st = try entry.status(path: path)
            switch st.st_mode & S_IFMT {
            case S_IFREG: found.append(path)
            case S_IFDIR:
                let folder = try directory.openAt(name, O_RDONLY | O_DIRECTORY | O_NOFOLLOW)
                defer { folder.close() }
                guard try listFiles(folder, prefix: path, into: &found, depth: depth + 1) else { return false }
            default: return false
            }
        }
        return true
    }

    /// Whether the mount whose root `top` refers to sits on another tmpfs mounted at the same
    /// place (what an `update` killed between putting its tmpfs beneath and detaching the old
    /// one leaves). Read in the mount table `mountinfo` (a descriptor of a /proc/PID/mountinfo,
    /// read again from its start) by mount ID, never by a path: a secrets dir given as
    /// `/var/run/secrets` or a workload that chrooted shows other mount point strings.
    public static func isStacked(_ top: FileDescriptor, mountinfo: FileDescriptor) throws(SysError) -> Bool {
        let id = try sys("statx", "the secrets mount") { cl_mount_id(top.rawValue) }
        var bytes: [UInt8] = []
        while true {
            let chunk = try mountinfo.read(upTo: 1 << 16, at: bytes.count, path: "mountinfo")
            if chunk.isEmpty || bytes.count > 16 << 20 { break }
            bytes += chunk
        }
        // "ID PARENT MAJOR:MINOR ROOT MOUNTPOINT OPTIONS ... - FSTYPE SOURCE SUPER".
        var entries: [Int64: (parent: Int64, root: Substring, point: Substring, type: Substring)] = [:]
        for line in String(decoding: bytes, as: UTF8.self).split(separator: "\n") {
            let fields = line.split(separator: " ")
            guard fields.count > 6, let mountID = Int64(fields[0]), let parent = Int64(fields[1]),
                let dash = fields.firstIndex(of: "-"), dash + 1 < fields.count
            else { continue }
            entries[mountID] = (parent, fields[3], fields[4], fields[dash + 1])
        }
        guard let mine = entries[id], let below = entries[mine.parent] else { return false }
        return below.point == mine.point && below.root == "/" && below.type == "tmpfs"
    }

    /// Detaches the top mount whose root `current` refers to (what a half-done swap left on top).
    public static func detach(_ current: FileDescriptor, shown: String) throws(SysError) {
        try sys("detach the secrets at", shown) { cl_detach_mount_at(current.rawValue) }
    }

    static func isSameDirectory(_ a: FileDescriptor, _ b: FileDescriptor) throws(SysError) -> Bool {
        let first = try a.status(), second = try b.status()
        return first.st_dev == second.st_dev && first.st_ino == second.st_ino
    }

    /// Opens the host directory `path` for a mount (O_PATH), resolving it once from `/` and
    /// creating what is missing (folders 0755, made relative to their parent's descriptor).
    /// Everything after acts on the descriptor, never on the path again.
    public static func openTarget(_ path: String) throws(SysError) -> (target: FileDescriptor, root: FileDescriptor) {
        let root = try ContainedRoot.open("/")
        do {
            return (try root.open(path, creating: .directory), root.fd)
        } catch {
            root.fd.close()
            throw error
        }
    }
}

/// Secrets placed outside the secrets dir (Docker's and the Compose specification's absolute
/// `target`, as Docker's nginx example's `/etc/nginx/conf.d/site.conf`): a small tmpfs of their
/// own, staged like `SecretsMount` (files named `0`, `1`, ... in grant order, sealed read-only)
/// and never attached whole in a workload's tree; each file of it is bound read-only over its
/// target in the workload's own mount namespace, through descriptors. The binds keep the
/// tmpfs alive once its descriptor is closed.
public struct OutsideTargets {
    public let mount: SecretsMount
    /// The targets, absolute paths in the workload's root; the file for `targets[i]` is named `i`.
    public let targets: [String]

    /// The files of `files` whose target is outside the secrets dir, on a fresh sealed tmpfs
    /// of `size` bytes; nil when there is none (nothing is made).
    public static func stage(
        _ files: [SecretsMount.File], size: UInt64, shown: String, owner: (uid: uid_t, gid: gid_t) = (0, 0)
    ) throws(SysError) -> OutsideTargets? {
        guard files.contains(where: \.isOutside) else { return nil }
        let mount = try SecretsMount.create(size: size, shown: shown)
        var targets: [String] = []
        do {
            if owner.uid != 0 || owner.gid != 0 { try mount.fd.changeOwner(uid: owner.uid, gid: owner.gid, path: shown) }
            let writer = SecretFileWriter(directory: mount.fd, path: shown)
            for file in files where file.isOutside {
                try writer.write(file, as: ASCIIDecimal.string(UInt64(targets.count)))
                targets.append(file.target)
            }
            try mount.seal()
        } catch {
            mount.close()
            throw error
        }
        return OutsideTargets(mount: mount, targets: targets)
    }

    /// Binds each file over its target inside `root` (resolved there, once, by
    /// `ContainedRoot`): the target's folder must exist and be a folder; a missing target is
    /// made as an empty file (its mount point) when `makingMountPoints` (a root of the
    /// workload's own, as runc makes them), and refused otherwise (the host's tree).
    /// `secretsDirectory` is the secrets dir's mount point, opened: a target whose folder is it
    /// or lies below it (reached through a link) is refused.
    public func bind(in root: ContainedRoot, makingMountPoints: Bool, apartFrom secretsDirectory: FileDescriptor) throws(SecretsMount.Error) {
        for target in targets {
            let shown = root.path + target
            let folder = Files.parent(of: target)
            guard let parent = try Self.opened(folder, in: root) else { continue }
            defer { parent.close() }
            // Not a folder: `mountPoint` says so below.
            guard ((try? parent.status())?.st_mode ?? 0) & S_IFMT == S_IFDIR else { continue }
            let inside: Bool
            do { inside = try Self.isWithin(parent, secretsDirectory, root: root.fd) } catch { throw .system(error) }
            if inside { throw .targetInSecretsDirectory(shown) }
        }
        for (index, target) in targets.enumerated() {
            let point = try Self.mountPoint(target, in: root, making: makingMountPoints)
            defer { point.close() }
            do throws(SysError) {
                let shown = root.path + target
                let file = try mount.fd.openAt(ASCIIDecimal.string(UInt64(index)), CL_O_PATH | O_NOFOLLOW)
                defer { file.close() }
                let tree = FileDescriptor(rawValue: try sys("bind the secret over", shown) { cl_clone_tree_fd(file.rawValue, 0) })
                defer { tree.close() }
                try sys("bind the secret over", shown) { cl_move_mount_onto(tree.rawValue, point.rawValue) }
            } catch {
                throw .system(error)
            }
        }
    }

    /// `target` opened (O_PATH) inside `root` as a file to mount over: its folder must be one,
    /// and it must not be a folder itself; made empty when missing and `making`.
    static func mountPoint(_ target: String, in root: ContainedRoot, making: Bool) throws(SecretsMount.Error) -> FileDescriptor {
        let shown = root.path + target
        let folder = Files.parent(of: target)
        guard let parent = try opened(folder, in: root) else {
            throw .targetFolderMissing(target: shown, folder: root.path + folder)
        }
        let isFolder = ((try? parent.status(path: root.path + folder))?.st_mode ?? 0) & S_IFMT == S_IFDIR
        parent.close()
        guard isFolder else { throw .targetFolderNotDirectory(target: shown, folder: root.path + folder) }
        var point = try opened(target, in: root)
        if point == nil {
            guard making else { throw .targetMissingOnHost(shown) }
            do { point = try root.open(target, creating: .file) } catch { throw .system(error) }
        }
        let isDirectory = ((try? point!.status(path: shown))?.st_mode ?? 0) & S_IFMT == S_IFDIR
        if isDirectory {
            point!.close()
            throw .targetIsDirectory(shown)
        }
        return point!
    }

    /// Whether `folder` is `ancestor` or lies below it, walking up by `..` until `root` (at
    /// most 4096 steps: deeper than any path).
    public static func isWithin(_ folder: FileDescriptor, _ ancestor: FileDescriptor, root: FileDescriptor) throws(SysError) -> Bool {
        let goal = try ancestor.status(), top = try root.status()
        var current = try folder.openAt(".", CL_O_PATH | O_DIRECTORY)
        defer { current.close() }
        for _ in 0..<4096 {
            let st = try current.status()
            if st.st_dev == goal.st_dev && st.st_ino == goal.st_ino { return true }
            if st.st_dev == top.st_dev && st.st_ino == top.st_ino { return false }
            let up = try current.openAt("..", CL_O_PATH | O_DIRECTORY)
            let upStatus = try up.status()
            current.close()
            current = up
            // The file system's own root: nothing above.
            if upStatus.st_dev == st.st_dev && upStatus.st_ino == st.st_ino { return false }
        }
        return false
    }

    /// `path` opened inside `root`, nil when it does not exist; a component that is no folder
    /// is `targetFolderNotDirectory`.
    static func opened(_ path: String, in root: ContainedRoot) throws(SecretsMount.Error) -> FileDescriptor? {
        do { return try root.openExisting(path) } catch {
            if error.errno == ENOENT { return nil }
            if error.errno == ENOTDIR { throw .targetFolderNotDirectory(target: root.path + path, folder: root.path + Files.parent(of: path)) }
            throw .system(error)
        }
    }

    public func close() { mount.close() }
}

extension [SecretsMount.File] {
    /// Zeroes every file's value (and forgets it): what the owner of the files owes once they
    /// are written, or on the way out.
    public mutating func wipeValues() {
        for index in indices { Namespaces.wipe(&self[index].value) }
    }
}

/// Kernel interfaces of the host that a root workload could use to run code outside its
/// sandbox, made read-only in its mount namespace (Docker's `readonlyPaths`, and its
/// read-only /sys): `kernel.core_pattern` and `kernel.modprobe` under /proc/sys name a program
/// the kernel runs as full root; /sys/kernel/uevent_helper the same; sysrq-trigger reboots.
public enum KernelInterfaces {
    public static let readOnlyPaths = ["/proc/sys", "/proc/sysrq-trigger", "/sys"]

    /// A read-only copy of the tree at `path` (resolved once; its submounts too) attached over
    /// it; a path that does not exist is skipped.
    public static func makeReadOnly(_ path: String) throws(SysError) {
        guard let target = try FileDescriptor.openIfPresent(path, CL_O_PATH) else { return }
        defer { target.close() }
        let tree = FileDescriptor(rawValue: try sys("bind onto itself", path) { cl_clone_tree_fd(target.rawValue, 1) })
        defer { tree.close() }
        try sys("remount read-only", path) { cl_mount_fd_set_flags(tree.rawValue, UInt(MS_RDONLY), 1) }
        try sys("mount on", path) { cl_move_mount_onto(tree.rawValue, target.rawValue) }
    }
}

/// Hides paths of the host from a workload in its own mount namespace, as runc masks
/// `maskedPaths`: an empty read-only tmpfs over a folder, /dev/null over a file. Each path is
/// resolved once; a path that does not exist is skipped.
public enum Masking {
    public static func hide(_ path: String) throws(SysError) {
        guard let target = try FileDescriptor.openIfPresent(path, CL_O_PATH) else { return }
        defer { target.close() }
        let st = try target.status(path: path)
        let cover: FileDescriptor
        if st.st_mode & S_IFMT == S_IFDIR {
            let empty = FileDescriptor(rawValue: try sys("mount tmpfs over", path) { cl_tmpfs_detached(4096, 0o755, 0) })
            do { try sys("remount read-only", path) { cl_mount_fd_set_readonly(empty.rawValue) } } catch {
                empty.close()
                throw error
            }
            cover = empty
        } else {
            cover = FileDescriptor(rawValue: try sys("bind /dev/null over", path) { cl_clone_tree("/dev/null", 0) })
        }
        defer { cover.close() }
        try sys("mask", path) { cl_move_mount_onto(cover.rawValue, target.rawValue) }
    }
}
