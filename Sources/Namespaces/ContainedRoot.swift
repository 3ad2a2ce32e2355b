import CLinux
import Glibc

/// A directory that becomes a workload's root filesystem. Every path inside it is resolved
/// with openat2(RESOLVE_IN_ROOT), and every mount and write goes through the descriptor that
/// resolution returned (as "/proc/self/fd/N"), never through a path string: a symlink planted in
/// the tree (`run -> /`, `secrets -> /etc`) or a ".." resolves inside the root, or not at all.
public struct ContainedRoot {
    /// An CL_O_PATH descriptor of the root directory.
    public let fd: FileDescriptor
    public let path: String

    /// Makes `path` a mount point of its own (pivot_root needs one): the directory is opened
    /// once, a recursive copy of its tree made detached and attached onto it. The descriptor
    /// kept is the new mount's own, so nothing later looks `path` up again.
    public static func bindOntoItself(_ path: String) throws(SysError) -> ContainedRoot {
        let directory = try FileDescriptor.open(path, CL_O_PATH | O_DIRECTORY)
        defer { directory.close() }
        let tree = FileDescriptor(rawValue: try sys("bind the root onto itself", path) { cl_clone_tree_fd(directory.rawValue, 1) })
        do { try sys("bind the root onto itself", path) { cl_move_mount_onto(tree.rawValue, directory.rawValue) } } catch {
            tree.close()
            throw error
        }
        return ContainedRoot(fd: tree, path: path)
    }

    /// Opens `path` to resolve and read inside it, without mounting anything.
    public static func open(_ path: String) throws(SysError) -> ContainedRoot {
        // The host's own root shows paths inside it as they are ("/run", not "//run").
        ContainedRoot(fd: try FileDescriptor.open(path, CL_O_PATH | O_DIRECTORY), path: path == "/" ? "" : path)
    }

    public enum Kind { case directory, file }

    /// Opens `inside` (a path within the root) as CL_O_PATH, creating what is missing: folders
    /// 0755, and the last component as `kind` (files 0644, empty, as mount points for binds).
    public func open(_ inside: String, creating kind: Kind) throws(SysError) -> FileDescriptor {
        let components = Files.components(inside)
        var parent = try openExisting("/")
        var prefix = ""
        for (index, name) in components.enumerated() {
            prefix += "/" + name
            let isLast = index == components.count - 1
            let next: FileDescriptor
            do {
                next = try openExisting(prefix)
            } catch {
                guard error.errno == ENOENT else {
                    parent.close()
                    throw error
                }
                // Created relative to the parent's descriptor: a single name cannot escape it.
                do {
                    if isLast && kind == .file {
                        try parent.openAt(name, O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW, mode: 0o644).close()
                    } else {
                        try parent.makeDirectory(name, mode: 0o755)
                    }
                } catch where error.errno != EEXIST {
                    parent.close()
                    throw SysError("create", path + prefix, errno: error.errno)
                }
                do { next = try openExisting(prefix) } catch {
                    parent.close()
                    throw error
                }
            }
            parent.close()
            parent = next
        }
        return parent
    }

    /// Opens an existing path inside the root as CL_O_PATH.
    public func openExisting(_ inside: String) throws(SysError) -> FileDescriptor {
        FileDescriptor(rawValue: try sys("open", path + inside) { cl_open_in_root(fd.rawValue, inside, CL_O_PATH, 0) })
    }

    /// Opens a file inside the root for reading (its /etc/passwd, say).
    public func read(_ inside: String, limit: Int) throws(SysError) -> [UInt8] {
        // Looked at first through O_PATH, which opens nothing: a device node put in its place
        // (a tty, a tape) is never opened for reading.
        let handle = FileDescriptor(rawValue: try sys("open", path + inside) { cl_open_in_root(fd.rawValue, inside, CL_O_PATH, 0) })
        defer { handle.close() }
        try handle.requireRegularFile(path: path + inside)
        let file = try FileDescriptor.open(Self.procPath(handle), O_RDONLY | O_NONBLOCK | O_NOCTTY)
        defer { file.close() }
        return try file.readAll(limit: limit, path: path + inside)
    }

    /// The path through which the kernel reaches exactly what `fd` is.
    public static func procPath(_ fd: FileDescriptor) -> String { "/proc/self/fd/\(fd.rawValue)" }

    /// Enters the root: pivot_root, the host's tree detached.
    public func pivot() throws(SysError) {
        try sys("chdir", path) { fchdir(fd.rawValue) }
        try sys("pivot_root", path) { cl_pivot_root_here() }
    }
}

/// mount(2) by intent, for targets inside a `ContainedRoot` given by descriptor.
public enum Mounts {
    public static func mount(
        _ source: String, on target: FileDescriptor, type: String?, flags: UInt, data: String?, shown: String
    ) throws(SysError) {
        try sys("mount \(type ?? "bind") on", shown) {
            cl_mount(source, ContainedRoot.procPath(target), type, flags, data)
        }
    }

    public static func bind(_ source: String, on target: FileDescriptor, recursive: Bool, shown: String) throws(SysError) {
        try sys("bind \(source) on", shown) { cl_bind(source, ContainedRoot.procPath(target), recursive ? 1 : 0) }
    }

    /// A detached copy of the tree at `source` (resolved this once), its submounts too when
    /// `recursive`, with `flags` (MS_RDONLY, MS_NOSUID, MS_NODEV, MS_NOEXEC) set on it before
    /// anything can see it: attach it with `attach`.
    public static func cloneTree(_ source: String, recursive: Bool, flags: UInt, shown: String) throws(SysError) -> FileDescriptor {
        let tree = FileDescriptor(rawValue: try sys("bind \(source) on", shown) { cl_clone_tree(source, recursive ? 1 : 0) })
        do { try sys("set mount flags on", shown) { cl_mount_fd_set_flags(tree.rawValue, flags, recursive ? 1 : 0) } } catch {
            tree.close()
            throw error
        }
        return tree
    }

    /// The same for the tree at `target` itself (a read-only path bound onto itself).
    public static func cloneTree(of target: FileDescriptor, flags: UInt, shown: String) throws(SysError) -> FileDescriptor {
        let tree = FileDescriptor(rawValue: try sys("bind onto itself", shown) { cl_clone_tree_fd(target.rawValue, 1) })
        do { try sys("set mount flags on", shown) { cl_mount_fd_set_flags(tree.rawValue, flags, 1) } } catch {
            tree.close()
            throw error
        }
        return tree
    }

    /// Attaches a detached mount (`cloneTree`) onto `target`.
    public static func attach(_ tree: FileDescriptor, on target: FileDescriptor, shown: String) throws(SysError) {
        try sys("mount on", shown) { cl_move_mount_onto(tree.rawValue, target.rawValue) }
    }

    /// Makes the mount `target` is the root of read-only: that mount alone (mount_setattr).
    public static func remountReadOnly(_ target: FileDescriptor, shown: String) throws(SysError) {
        try sys("remount read-only", shown) { cl_mount_fd_set_flags(target.rawValue, UInt(MS_RDONLY), 0) }
    }

    /// MS_* flags and the remaining data of OCI/fstab-style options ("ro,nosuid,size=64k").
    public static func parseOptions(_ options: [String]) -> (flags: UInt, data: String) {
        var flags: UInt = 0
        var clear: UInt = 0
        var data: [String] = []
        for option in options {
            var flag: UInt = 0
            var clears: Int32 = 0
            if (try? sys("mount option", option) { cl_mount_option(option, &flag, &clears) }) != nil {
                if clears != 0 { clear |= flag } else { flags |= flag }
            } else {
                data.append(option)
            }
        }
        var joined = ""
        for item in data { joined += joined.isEmpty ? item : "," + item }
        return (flags & ~clear, joined)
    }
}

/// The namespaces other than mount: created with unshare.
public enum Namespace {
    /// Kinds as letters: m mount, u UTS, i IPC, n network, p PID, U user.
    public static func unshare(_ kinds: String) throws(SysError) {
        try sys("unshare (\(kinds))") { cl_unshare(kinds) }
    }

    public static func setHostname(_ name: String) throws(SysError) {
        try sys("sethostname", name) { cl_set_hostname(name) }
    }

    /// A user namespace in which this process keeps its own uid and gid (and only those): the
    /// rootless mode. The process gets every capability inside it, none outside.
    /// Returns false, having changed nothing, where user namespaces are not permitted (inside
    /// a container, under a seccomp filter, or switched off by the administrator).
    public static func enterUserNamespace(uid: uid_t, gid: gid_t) throws(SysError) -> Bool {
        do { try sys("unshare user and mount namespaces") { cl_unshare("Um") } } catch {
            let code = error.errno
            if code == EPERM || code == EACCES || code == ENOSPC || code == EINVAL || code == ENOSYS { return false }
            throw error
        }
        try writeProc("/proc/self/setgroups", "deny")
        try writeProc("/proc/self/uid_map", "\(uid) \(uid) 1\n")
        try writeProc("/proc/self/gid_map", "\(gid) \(gid) 1\n")
        return true
    }

    static func writeProc(_ path: String, _ text: String) throws(SysError) {
        let fd = try FileDescriptor.open(path, O_WRONLY)
        defer { fd.close() }
        try fd.writeAll(Array(text.utf8), path: path)
    }
}

public enum ResourceLimits {
    /// `name` as OCI spells it ("RLIMIT_NOFILE").
    public static func set(_ name: String, soft: UInt64, hard: UInt64) throws(SysError) {
        guard let resource = try? sys("setrlimit", name, { cl_rlimit_resource(name) }) else {
            throw SysError("setrlimit: unknown limit", name, errno: EINVAL)
        }
        try sys("setrlimit", name) { cl_set_rlimit(resource, soft, hard) }
    }
}
