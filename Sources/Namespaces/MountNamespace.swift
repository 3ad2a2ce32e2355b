import CLinux
import Glibc

/// This process's own mount namespace.
public enum MountNamespace {
    /// Unshares the mount namespace and makes every mount in it private, so nothing mounted
    /// from here on propagates back to the host (bubblewrap's first step).
    public static func enterPrivate() throws(SysError) {
        try sys("unshare mount namespace") { cl_unshare_mount_ns() }
        try makeMountsPrivate()
    }

    public static func makeMountsPrivate() throws(SysError) {
        try sys("make mounts private", "/") { cl_make_mounts_private() }
    }

    /// Rootless only: the caller cannot create `path` in a host folder it does not own (the
    /// host's /run). In this private namespace that parent is covered by a tmpfs holding bind
    /// mounts of everything that was in it (links recreated), plus the new, empty folder. The
    /// parent is opened once; the tmpfs is filled through its own descriptor and attached onto
    /// that descriptor, and the binds go onto folders opened through it.
    public static func makeDirectoryByShadowingParent(_ path: String) throws(SysError) {
        let parent = Files.parent(of: path)
        guard let name = Files.components(path).last else { throw SysError("mkdir", path, errno: EINVAL) }
        let old = try FileDescriptor.open(parent, O_RDONLY | O_DIRECTORY)
        defer { old.close() }
        var entries: [(name: String, fd: FileDescriptor, mode: mode_t)] = []
        defer { for entry in entries { entry.fd.close() } }
        for entry in old.entries() {
            let fd = try old.openAt(entry, CL_O_PATH | O_NOFOLLOW)
            entries.append((entry, fd, try fd.status(path: parent + "/" + entry).st_mode & S_IFMT))
        }
        // A user namespace may not ask for noswap; this tmpfs holds only empty folders and links.
        let shadow = FileDescriptor(rawValue: try sys("mount tmpfs on", parent) { cl_tmpfs_detached(1 << 20, 0o755, 0) })
        defer { shadow.close() }
        for entry in entries {
            let shown = parent + "/" + entry.name
            if entry.mode == S_IFLNK {
                var buffer = [CChar](repeating: 0, count: Int(PATH_MAX) + 1)
                let length = try sys("readlink", shown) { readlinkat(entry.fd.rawValue, "", &buffer, buffer.count - 1) }
                buffer[length] = 0
                try sys("symlink", shown) { symlinkat(buffer, shadow.rawValue, entry.name) }
            } else if entry.mode == S_IFDIR {
                try sys("mkdir", shown) { mkdirat(shadow.rawValue, entry.name, 0o755) }
            } else {
                let file = try shadow.openAt(entry.name, O_WRONLY | O_CREAT | O_EXCL, mode: 0o644)
                file.close()
            }
        }
        try sys("mkdir", path) { mkdirat(shadow.rawValue, name, 0o755) }
        try sys("mount tmpfs on", parent) { cl_move_mount_onto(shadow.rawValue, old.rawValue) }
        for entry in entries where entry.mode != S_IFLNK {
            let target = try shadow.openAt(entry.name, CL_O_PATH | O_NOFOLLOW)
            defer { target.close() }
            try sys("bind", parent + "/" + entry.name) {
                cl_bind(ContainedRoot.procPath(entry.fd), ContainedRoot.procPath(target), entry.mode == S_IFDIR ? 1 : 0)
            }
        }
    }
}

/// The filesystem a path lives on, by statfs magic: only memory-backed kinds may hold secrets.
public enum FileSystemKind: Equatable, Sendable {
    case tmpfs, ramfs, other(Int64)

    public var isMemoryBacked: Bool { self == .tmpfs || self == .ramfs }

    init(magic: Int64) {
        switch magic {
        case Int64(CL_TMPFS_MAGIC): self = .tmpfs
        case Int64(CL_RAMFS_MAGIC): self = .ramfs
        default: self = .other(magic)
        }
    }

    public static func of(_ fd: FileDescriptor, path: String) throws(SysError) -> FileSystemKind {
        FileSystemKind(magic: try sys("statfs", path) { cl_filesystem_magic_fd(fd.rawValue) })
    }
}

/// Unmounting a secrets tmpfs (the runtime wrapper's, on `delete`).
public enum Tmpfs {
    /// Detaches the tmpfs at `path` from this namespace; the kernel frees it once no other
    /// namespace (a container's) still has it mounted.
    public static func unmount(_ path: String) throws(SysError) {
        try sys("unmount", path) { cl_unmount_detached(path) }
    }
}
