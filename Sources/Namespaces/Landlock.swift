import CLinux
import Glibc

/// Landlock, used for the isolation it gives between processes: a process in a Landlock domain
/// cannot ptrace-access any process outside its domain (the kernel's ptrace restriction), so a
/// workload cannot open another workload's /proc/PID/root, mem or environ, whatever its uid.
/// (Documentation/userspace-api/landlock.rst; Linux 5.13+.)
public enum Landlock {
    /// The ABI version the kernel offers; 0 where it has no Landlock.
    public static var abi: Int32 { (try? sys("landlock") { cl_landlock_abi() }) ?? 0 }

    /// Puts this process in a new domain of its own (see `cl_landlock_isolate`). Returns false,
    /// having changed nothing, on a kernel without Landlock. Without CAP_SYS_ADMIN the kernel
    /// asks for no_new_privs first; it is set then.
    public static func enterOwnDomain() throws(SysError) -> Bool {
        do {
            try sys("enter a Landlock domain") { cl_landlock_isolate() }
            return true
        } catch {
            switch error.errno {
            case ENOSYS, EOPNOTSUPP: return false
            case EPERM:
                try Capabilities.setNoNewPrivileges()
                try sys("enter a Landlock domain") { cl_landlock_isolate() }
                return true
            default: throw error
            }
        }
    }
}

/// What the running kernel offers for secretshim's guarantees (`secretshim info`).
public enum KernelFeatures {
    /// tmpfs `noswap` (Linux 6.4+): probed by making (and dropping) a detached tmpfs with it;
    /// needs CAP_SYS_ADMIN, so an ordinary user is told nil (unknown).
    public static var tmpfsNoSwap: Bool? {
        do {
            FileDescriptor(rawValue: try sys("mount tmpfs") { cl_tmpfs_detached(4096, 0o700, 1) }).close()
            return true
        } catch {
            return error.errno == EINVAL ? false : nil
        }
    }

    /// Whether unprivileged user namespaces may be made here (rootless `run`).
    public static var userNamespaces: Bool {
        guard let max = try? Files.read("/proc/sys/user/max_user_namespaces", limit: 64) else { return false }
        let text = String(decoding: max, as: UTF8.self)
        return !(text.hasPrefix("0\n") || text == "0")
    }

    public static var moveMountBeneath: Bool {
        do {
            try sys("move_mount") { cl_probe_move_mount_beneath() }
            return false
        } catch {
            return error.errno == EBADF
        }
    }
}
