import CCap
import CLinux
import Glibc

/// Linux capabilities of this process, through libcap.
public enum Capabilities {
    /// The number of a capability name (`CAP_NET_ADMIN`, `net_admin`, case-insensitive), or nil.
    public static func number(_ name: String) -> Int32? {
        if let number = kernelNumber(name) { return number }
        return try? sys("capability", name) { name.withCString { cl_cap_from_name($0) } }
    }

    /// The kernel's own names, in the kernel's order, by its numbers (linux/capability.h, part
    /// of its ABI): every `run` resolves Docker's default set, and libcap's case-insensitive
    /// lookup would page its hash tables in on `run`'s path. Other spellings go to libcap.
    static func kernelNumber(_ name: String) -> Int32? {
        switch name {
        case "CAP_CHOWN": return CAP_CHOWN
        case "CAP_DAC_OVERRIDE": return CAP_DAC_OVERRIDE
        case "CAP_DAC_READ_SEARCH": return CAP_DAC_READ_SEARCH
        case "CAP_FOWNER": return CAP_FOWNER
        case "CAP_FSETID": return CAP_FSETID
        case "CAP_KILL": return CAP_KILL
        case "CAP_SETGID": return CAP_SETGID
        case "CAP_SETUID": return CAP_SETUID
        case "CAP_SETPCAP": return CAP_SETPCAP
        case "CAP_LINUX_IMMUTABLE": return CAP_LINUX_IMMUTABLE
        case "CAP_NET_BIND_SERVICE": return CAP_NET_BIND_SERVICE
        case "CAP_NET_BROADCAST": return CAP_NET_BROADCAST
        case "CAP_NET_ADMIN": return CAP_NET_ADMIN
        case "CAP_NET_RAW": return CAP_NET_RAW
        case "CAP_IPC_LOCK": return CAP_IPC_LOCK
        case "CAP_IPC_OWNER": return CAP_IPC_OWNER
        case "CAP_SYS_MODULE": return CAP_SYS_MODULE
        case "CAP_SYS_RAWIO": return CAP_SYS_RAWIO
        case "CAP_SYS_CHROOT": return CAP_SYS_CHROOT
        case "CAP_SYS_PTRACE": return CAP_SYS_PTRACE
        case "CAP_SYS_PACCT": return CAP_SYS_PACCT
        case "CAP_SYS_ADMIN": return CAP_SYS_ADMIN
        case "CAP_SYS_BOOT": return CAP_SYS_BOOT
        case "CAP_SYS_NICE": return CAP_SYS_NICE
        case "CAP_SYS_RESOURCE": return CAP_SYS_RESOURCE
        case "CAP_SYS_TIME": return CAP_SYS_TIME
        case "CAP_SYS_TTY_CONFIG": return CAP_SYS_TTY_CONFIG
        case "CAP_MKNOD": return CAP_MKNOD
        case "CAP_LEASE": return CAP_LEASE
        case "CAP_AUDIT_WRITE": return CAP_AUDIT_WRITE
        case "CAP_AUDIT_CONTROL": return CAP_AUDIT_CONTROL
        case "CAP_SETFCAP": return CAP_SETFCAP
        case "CAP_MAC_OVERRIDE": return CAP_MAC_OVERRIDE
        case "CAP_MAC_ADMIN": return CAP_MAC_ADMIN
        case "CAP_SYSLOG": return CAP_SYSLOG
        case "CAP_WAKE_ALARM": return CAP_WAKE_ALARM
        case "CAP_BLOCK_SUSPEND": return CAP_BLOCK_SUSPEND
        case "CAP_AUDIT_READ": return CAP_AUDIT_READ
        case "CAP_PERFMON": return CAP_PERFMON
        case "CAP_BPF": return CAP_BPF
        case "CAP_CHECKPOINT_RESTORE": return CAP_CHECKPOINT_RESTORE
        default: return nil
        }
    }

    /// Every capability this process can still grant: those known to libcap and left in its
    /// bounding set (a container or a sandboxed root may have fewer than the kernel knows).
    public static var all: [Int32] {
        (0...cl_cap_last()).filter { cap in (try? sys("read the bounding set") { cl_cap_in_bounding_set(cap) }) == 1 }
    }

    /// The names of `all`, as "CAP_CHOWN".
    public static var allNames: [String] {
        var names: [String] = []
        var buffer = [CChar](repeating: 0, count: 64)
        for number in all where (try? sys("capability name") { cl_cap_name(number, &buffer, 64) }) != nil {
            names.append(String(nulTerminated: buffer))
        }
        return names
    }

    /// This process's effective set, read once (capget); empty if it cannot be read.
    public static func effective() -> Effective {
        var mask: UInt64 = 0
        guard (try? sys("read capabilities") { cl_caps_effective(&mask) }) != nil else { return Effective(mask: 0) }
        return Effective(mask: mask)
    }

    /// An effective set as `effective()` read it.
    public struct Effective: Sendable {
        let mask: UInt64
        /// Whether the capability named like "CAP_SYS_ADMIN" is in the set.
        public func contains(_ name: String) -> Bool {
            guard let number = Capabilities.number(name), number < 64 else { return false }
            return mask & (1 << UInt64(number)) != 0
        }
    }

    /// Keeps only `keep` in the bounding set: nothing this process execs can ever regain the rest.
    public static func limitBoundingSet(to keep: [Int32]) throws(SysError) {
        try sys("drop capabilities from the bounding set") { keep.withUnsafeBufferPointer { cl_caps_limit_bounding($0.baseAddress, Int32($0.count)) } }
    }

    /// Permitted and effective become exactly `caps`; inheritable and ambient become empty.
    public static func set(_ caps: [Int32]) throws(SysError) {
        try sys("set capabilities") { caps.withUnsafeBufferPointer { cl_caps_set($0.baseAddress, Int32($0.count)) } }
    }

    /// Empties the inheritable and ambient sets (Docker since CVE-2022-24769: a workload that
    /// switched user could regain inheritable capabilities through a file's capabilities).
    public static func clearInheritable() throws(SysError) {
        try sys("clear inheritable capabilities") { cl_caps_clear_inheritable() }
    }

    public static func setNoNewPrivileges() throws(SysError) {
        try sys("set no_new_privs") { cl_prctl_set_no_new_privs() }
    }
}

/// Switching to the workload's user: supplementary groups set (none by default), then gid, then uid
/// (the order that leaves no window with the old uid and new groups).
public enum Identity {
    public static func switchTo(uid: uid_t, gid: gid_t, groups: [gid_t] = []) throws(SysError) {
        try sys("setgroups") { groups.withUnsafeBufferPointer { setgroups($0.count, $0.baseAddress) } }
        try sys("setgid \(gid)") { cl_set_all_gids(gid) }
        try sys("setuid \(uid)") { cl_set_all_uids(uid) }
    }
}
