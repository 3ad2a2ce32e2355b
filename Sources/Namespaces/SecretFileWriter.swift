import CLinux
import Glibc

/// Writes files into a directory held open by fd, never by path: every component is opened with
/// O_NOFOLLOW relative to its parent, and files are created O_EXCL, so nothing planted in the
/// tree (a symlink, a file of the same name) can redirect a write elsewhere.
public struct SecretFileWriter {
    public let directory: FileDescriptor
    public let path: String

    public init(directory: FileDescriptor, path: String) {
        self.directory = directory
        self.path = path
    }

    /// Opens `path` as a directory (no symlink at its last component) and checks that it is
    /// memory-backed: a secret is never written to a disk-backed filesystem.
    public static func openMemoryBacked(_ path: String) throws(SysError) -> SecretFileWriter {
        try checkingMemoryBacked(try FileDescriptor.open(path, O_RDONLY | O_DIRECTORY | O_NOFOLLOW), path: path)
    }

    /// For the fallback without `unshare` (an unprivileged container): `path` must be the root
    /// of a tmpfs or ramfs mounted there (`docker run --tmpfs /run/secrets`), not a folder of a
    /// shared one such as the host's /run, where the files would outlive the workload for every
    /// process to see. Opened once (no symlink at its last component) and checked on that
    /// descriptor: EXDEV for a disk-backed one, ENOTCONN for a folder that is not a mount root,
    /// ENOTEMPTY for one that holds files already.
    public static func openMountedMemoryBacked(_ path: String) throws(SysError) -> SecretFileWriter {
        let writer = try openMemoryBacked(path)
        let notAMount = "refusing to write secrets into a folder that is not itself a mount at"
        let isRoot: Int32
        do { isRoot = try sys(notAMount, path) { cl_is_mount_root(writer.directory.rawValue) } } catch {
            writer.close()
            throw error
        }
        guard isRoot == 1 else {
            writer.close()
            throw SysError(notAMount, path, errno: ENOTCONN)
        }
        // A bind of a folder of another tmpfs is that tmpfs: shared, outliving the workload.
        guard (try? sys("statx") { cl_is_whole_filesystem_mount(writer.directory.rawValue) }) == 1 else {
            writer.close()
            throw SysError("refusing to write secrets into a folder of another file system bound at", path, errno: ENOTCONN)
        }
        // An engine's tmpfs is new with its container; one that holds files already is shared
        // with others (a host's /dev/shm-like mount), where ours would outlive the workload.
        guard writer.directory.entries().isEmpty else {
            writer.close()
            throw SysError("refusing to write secrets into a tmpfs that other files share at", path, errno: ENOTEMPTY)
        }
        return writer
    }

    /// The same check on a directory already open (it takes ownership of `fd`).
    public static func checkingMemoryBacked(_ fd: FileDescriptor, path: String) throws(SysError) -> SecretFileWriter {
        let kind: FileSystemKind
        do { kind = try FileSystemKind.of(fd, path: path) } catch {
            fd.close()
            throw error
        }
        guard kind.isMemoryBacked else {
            fd.close()
            throw SysError("refusing to write secrets on a disk-backed filesystem at", path, errno: EXDEV)
        }
        return SecretFileWriter(directory: fd, path: path)
    }

    /// Writes `file` at its target (components already validated: no "", ".", "..") with its
    /// owner and mode; missing folders are made 0755, owned by `folderOwner` (root, unless a
    /// user namespace maps the container's root elsewhere). An existing file is never
    /// replaced: every tmpfs written here is new or empty.
    /// `name`, when given, is where the file goes instead of its target (`OutsideTargets`).
    public func write(_ file: SecretsMount.File, as name: String? = nil, folderOwner: (uid: uid_t, gid: gid_t) = (0, 0)) throws(SysError) {
        let components = name.map { [$0] } ?? Files.components(file.target)
        var parent = directory
        var opened: [FileDescriptor] = []
        defer { for fd in opened { fd.close() } }
        var shown = path
        for folder in components.dropLast() {
            shown += "/" + folder
            let made: Bool
            do {
                try parent.makeDirectory(folder, mode: 0o755, path: shown)
                made = true
            } catch where error.errno == EEXIST {
                made = false
            }
            let next = try parent.openAt(folder, O_RDONLY | O_DIRECTORY | O_NOFOLLOW)
            opened.append(next)
            if made && (folderOwner.uid != 0 || folderOwner.gid != 0) {
                try next.changeOwner(uid: folderOwner.uid, gid: folderOwner.gid, path: shown)
            }
            parent = next
        }
        let name = components.last!
        shown += "/" + name
        let out = try parent.openAt(name, O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW, mode: 0o600)
        defer { out.close() }
        try out.writeAll(file.value, path: shown)
        try out.changeOwner(uid: file.uid, gid: file.gid, path: shown)
        // After chown, which would clear setuid-like bits; modes are at most 0777 anyway.
        try out.changeMode(file.mode, path: shown)
    }

    public func close() { directory.close() }
}
