import Glibc
import Namespaces

/// The default filter: everything a normal program does is allowed, and what would let the
/// workload reshape or leave its mount namespace (and so reach or hide others' secrets), load
/// kernel code, or reach kernel keyrings is refused with EPERM. clone3 gets ENOSYS so libc falls
/// back to clone, whose flags a filter can see (as Docker's profile does).
enum DefaultSeccomp {
    /// CLONE_NEWTIME 0x80, NEWNS 0x20000, NEWCGROUP 0x2000000, NEWUTS 0x4000000, NEWIPC 0x8000000,
    /// NEWUSER 0x10000000, NEWPID 0x20000000, NEWNET 0x40000000 (linux/sched.h; glibc hides them).
    static let namespaceFlags: UInt64 = 0x80 | 0x20000 | 0x2000000 | 0x4000000 | 0x8000000 | 0x1000_0000 | 0x2000_0000 | 0x4000_0000

    static let denied = [
        // mounts, in every API
        "mount", "umount", "umount2", "pivot_root", "move_mount", "open_tree", "fsopen", "fsconfig", "fsmount",
        "fspick", "mount_setattr",
        // namespaces
        "unshare", "setns",
        // kernel code, keys, and other host-wide knobs Docker's profile also refuses
        "init_module", "finit_module", "delete_module", "kexec_load", "kexec_file_load", "bpf", "perf_event_open",
        "add_key", "request_key", "keyctl", "open_by_handle_at", "name_to_handle_at", "reboot", "swapon", "swapoff",
        "acct", "settimeofday", "clock_settime", "clock_adjtime", "adjtimex", "iopl", "ioperm", "quotactl", "syslog",
        "userfaultfd", "lookup_dcookie", "vm86", "vm86old", "nfsservctl", "uselib",
    ]

    static let filter = SeccompFilter(
        defaultAction: .allow,
        rules: [
            SeccompFilter.Rule(denied, .errno(EPERM)),
            SeccompFilter.Rule(["clone3"], .errno(ENOSYS)),
        ] + namespaceCloneRules)

    /// clone with any namespace flag: EPERM. libseccomp ANDs the comparisons of one rule, so it
    /// is one rule per flag: (flags & FLAG) == FLAG.
    static var namespaceCloneRules: [SeccompFilter.Rule] {
        var rules: [SeccompFilter.Rule] = []
        var flag: UInt64 = 1
        while flag <= namespaceFlags {
            if namespaceFlags & flag != 0 {
                rules.append(SeccompFilter.Rule(["clone"], .errno(EPERM), arguments: [.init(index: 0, .maskedEqual, flag, flag)]))
            }
            flag <<= 1
        }
        return rules
    }
}
