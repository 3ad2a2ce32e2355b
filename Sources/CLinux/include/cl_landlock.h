#pragma once
// Landlock (Linux 5.13+). secretshim uses a Landlock domain for what it does besides file
// access rules: a process inside a domain cannot ptrace-access (and so cannot open
// /proc/PID/root, mem or environ of) any process outside that domain or a nested one
// (Documentation/userspace-api/landlock.rst, "Ptrace restrictions").

/// The Landlock ABI version the kernel offers (1 or more), or -1 with errno where it has none
/// (ENOSYS) or it is disabled (EOPNOTSUPP).
int cl_landlock_abi(void);
/// Puts this process (and what it execs) in a new Landlock domain of its own. The ruleset
/// handles only LANDLOCK_ACCESS_FS_MAKE_BLOCK with no rule allowing it: the one file access
/// the domain takes away is creating block device nodes, which a workload never needs (an
/// empty ruleset is refused by the kernel). Needs no_new_privs or CAP_SYS_ADMIN.
/// 0, or -1 with errno (ENOSYS/EOPNOTSUPP: no Landlock here).
int cl_landlock_isolate(void);
