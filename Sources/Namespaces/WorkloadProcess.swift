import CLinux
import Glibc

/// A running workload's process, held by a pidfd: `update` enters its namespaces and signals
/// it through the descriptor, so a process that later reuses the pid is never touched.
public struct WorkloadProcess {
    public let pidfd: FileDescriptor
    public let pid: pid_t
    /// Its /proc/PID/mountinfo, opened from the host's /proc: still readable once this
    /// process is in the workload's namespaces, where /proc may be the workload's own (a PID
    /// namespace's, in which this process has no /proc/self).
    public let mountinfo: FileDescriptor

    /// Opens `pid` if it is still the process that started at `startTime` (clock ticks since
    /// boot, as a lease records it). The start time is compared after the pidfd is open, so
    /// the descriptor names the process that was checked. ESRCH when it is gone.
    public static func open(pid: pid_t, startTime: UInt64) throws(SysError) -> WorkloadProcess {
        let raw = try sys("pidfd_open", "pid \(pid)") { cl_pidfd_open(pid) }
        let pidfd = FileDescriptor(rawValue: raw)
        let mountinfo: FileDescriptor
        do { mountinfo = try FileDescriptor.open("/proc/\(pid)/mountinfo", O_RDONLY) } catch {
            pidfd.close()
            throw error
        }
        let process = WorkloadProcess(pidfd: pidfd, pid: pid, mountinfo: mountinfo)
        guard System.processStartTime(pid) == startTime else {
            process.close()
            throw SysError("pidfd_open", "pid \(pid)", errno: ESRCH)
        }
        return process
    }

    /// Moves this process into the workload's mount namespace (setns through the pidfd), where
    /// its secrets mount can be replaced. An ordinary user enters the workload's user namespace
    /// with it (a rootless `run`, where only that namespace's root may mount); root does not
    /// need to, and stays root over every namespace. setns resets the root and working
    /// directory to the namespace's root: for `--rootfs`, `--bundle` and a container, the
    /// workload's own root. The caller must be single-threaded (the kernel refuses a user
    /// namespace, and a mount namespace shared with other threads' file system state).
    public func enterMountNamespace() throws(SysError) {
        // A workload of secretshim has a mount namespace of its own; a process that shares this
        // one (a pid that a planted lease named) is no workload to remount.
        let ownMounts = try Files.status("/proc/self/ns/mnt"), theirMounts = try Files.status("/proc/\(pid)/ns/mnt")
        if ownMounts.st_ino == theirMounts.st_ino && ownMounts.st_dev == theirMounts.st_dev {
            throw SysError("enter the mount namespace of", "pid \(pid) (it is this process's own)", errno: EINVAL)
        }
        var namespaces: Int32 = CL_CLONE_NEWNS
        if System.effectiveUserID != 0 {
            let own = try Files.status("/proc/self/ns/user")
            let theirs = try Files.status("/proc/\(pid)/ns/user")
            if own.st_ino != theirs.st_ino || own.st_dev != theirs.st_dev { namespaces |= CL_CLONE_NEWUSER }
        }
        try sys("setns", "pid \(pid)") { cl_setns(pidfd.rawValue, namespaces) }
    }

    /// pidfd_send_signal(2).
    public func signal(_ signal: Int32) throws(SysError) {
        try sys("signal", "pid \(pid)") { cl_pidfd_send_signal(pidfd.rawValue, signal) }
    }

    public func close() {
        pidfd.close()
        mountinfo.close()
    }
}
