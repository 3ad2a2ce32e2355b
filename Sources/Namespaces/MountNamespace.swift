import CLinux
import Glibc

/// This process's own mount namespace.
public enum MountNamespace {
    /// Unshares the mount namespace and makes every mount in it private, so nothing mounted
    /// from here on propagates back to the host (bubblewrap's first step).
    public static func enterPrivate() throws(SysError) {
        try sys("unshare mount namespace") { cl_unshare_mount_ns() }
        try sys("make mounts private", "/") { cl_make_mounts_private() }
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

/// A size-limited tmpfs that holds secrets: nosuid, nodev, noexec, and never swapped.
public enum Tmpfs {
    /// Mounts the tmpfs (root mode 0755, owned by root). `noswap` (Linux 6.4+) keeps its pages
    /// out of swap; older kernels reject the option, and then it is mounted without it.
    public static func mount(at path: String, size: UInt64) throws(SysError) {
        if cl_mount_tmpfs(path, size, 0o755, 1) == 0 { return }
        if errno != EINVAL { throw SysError("mount tmpfs on", path, errno: errno) }
        try sys("mount tmpfs on", path) { cl_mount_tmpfs(path, size, 0o755, 0) }
    }

    public static func remountReadOnly(_ path: String) throws(SysError) {
        try sys("remount read-only", path) { cl_remount_readonly(path) }
    }
}
