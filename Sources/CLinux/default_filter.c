#define _GNU_SOURCE
#include "cl_default_filter.h"

#include <errno.h>
#include <linux/audit.h>
#include <linux/filter.h>
#include <linux/seccomp.h>
#include <stddef.h>
#include <sys/prctl.h>
#include <sys/syscall.h>
#include <unistd.h>

#if defined(__x86_64__)
#define NATIVE_ARCH AUDIT_ARCH_X86_64
#elif defined(__aarch64__)
#define NATIVE_ARCH AUDIT_ARCH_AARCH64
#else
#error "secretshim's default filter knows x86_64 and aarch64"
#endif

// Linux 6.15's open_tree_attr (open_tree with mount_setattr's attributes): older headers lack
// it; 467 on both architectures.
#ifndef __NR_open_tree_attr
#define __NR_open_tree_attr 467
#endif

// What would let the workload reshape or leave its mount namespace (and so reach or hide its
// secrets), load kernel code, or reach kernel keyrings and other host-wide knobs that Docker's
// default profile also refuses. #ifdef: not every architecture has every one.
static const int denied[] = {
    __NR_mount, __NR_umount2, __NR_pivot_root,
#ifdef __NR_umount
    __NR_umount,
#endif
    // open_tree_attr's clone of a mount, without the masks over it or writable, reaches the
    // store under its mask or rewrites the sealed tmpfs, as open_tree and mount_setattr would.
    __NR_move_mount, __NR_open_tree, __NR_open_tree_attr, __NR_fsopen, __NR_fsconfig, __NR_fsmount,
    __NR_fspick, __NR_mount_setattr,
    __NR_unshare, __NR_setns,
    __NR_init_module, __NR_finit_module, __NR_delete_module, __NR_kexec_load,
#ifdef __NR_kexec_file_load
    __NR_kexec_file_load,
#endif
    __NR_bpf, __NR_perf_event_open, __NR_add_key, __NR_request_key, __NR_keyctl,
    // By file handle or by filesystem-wide fanotify mark, a workload reaches files its mount
    // namespace hides (the store under its mask): the Shocker attack, and fanotify's twin.
    __NR_open_by_handle_at, __NR_name_to_handle_at, __NR_fanotify_init,
    __NR_reboot, __NR_swapon, __NR_swapoff,
    __NR_acct, __NR_settimeofday, __NR_clock_settime, __NR_clock_adjtime, __NR_adjtimex,
#ifdef __NR_iopl
    __NR_iopl, __NR_ioperm,
#endif
    __NR_quotactl, __NR_syslog, __NR_userfaultfd, __NR_lookup_dcookie,
#ifdef __NR_uselib
    __NR_uselib,
#endif
#ifdef __NR_nfsservctl
    __NR_nfsservctl,
#endif
};
#define DENIED_COUNT ((int)(sizeof denied / sizeof denied[0]))

// CLONE_NEWTIME, NEWNS, NEWCGROUP, NEWUTS, NEWIPC, NEWUSER, NEWPID, NEWNET: all in the low word.
#define NAMESPACE_FLAGS 0x7E020080u

#if __BYTE_ORDER__ == __ORDER_LITTLE_ENDIAN__
#define ARG0_LOW offsetof(struct seccomp_data, args[0])
#else
#define ARG0_LOW (offsetof(struct seccomp_data, args[0]) + 4)
#endif

int cl_default_filter_denied(const int **numbers) {
    *numbers = denied;
    return DENIED_COUNT;
}

int cl_default_filter_load(void) {
    enum { MAX = 128 };
    struct sock_filter program[MAX];
    int n = 0;
    // Every jump is forward, to the four returns at the end; their places are counted first.
    int checks = 3 + DENIED_COUNT + 2 + 2;
#if defined(__x86_64__)
    checks += 1;
#endif
    const int ret_allow = checks, ret_eperm = checks + 1, ret_enosys = checks + 2, ret_kill = checks + 3;
#define EMIT(instruction) (program[n] = (struct sock_filter)instruction, n++)
#define JUMP_TO(target) ((unsigned char)((target) - n - 1))
    EMIT(BPF_STMT(BPF_LD | BPF_W | BPF_ABS, offsetof(struct seccomp_data, arch)));
    EMIT(BPF_JUMP(BPF_JMP | BPF_JEQ | BPF_K, NATIVE_ARCH, 0, JUMP_TO(ret_kill)));
    EMIT(BPF_STMT(BPF_LD | BPF_W | BPF_ABS, offsetof(struct seccomp_data, nr)));
#if defined(__x86_64__)
    // x32 syscalls reach the same kernel code under other numbers: refuse that ABI whole.
    EMIT(BPF_JUMP(BPF_JMP | BPF_JGE | BPF_K, 0x40000000u, JUMP_TO(ret_kill), 0));
#endif
    for (int i = 0; i < DENIED_COUNT; i++) {
        EMIT(BPF_JUMP(BPF_JMP | BPF_JEQ | BPF_K, (unsigned)denied[i], JUMP_TO(ret_eperm), 0));
    }
    EMIT(BPF_JUMP(BPF_JMP | BPF_JEQ | BPF_K, __NR_clone3, JUMP_TO(ret_enosys), 0));
    EMIT(BPF_JUMP(BPF_JMP | BPF_JEQ | BPF_K, __NR_clone, 0, JUMP_TO(ret_allow)));
    // clone: its flags are the first argument on both architectures.
    EMIT(BPF_STMT(BPF_LD | BPF_W | BPF_ABS, ARG0_LOW));
    EMIT(BPF_JUMP(BPF_JMP | BPF_JSET | BPF_K, NAMESPACE_FLAGS, JUMP_TO(ret_eperm), JUMP_TO(ret_allow)));
    if (n != ret_allow || n + 4 > MAX) {
        errno = EFAULT;
        return -1;
    }
    EMIT(BPF_STMT(BPF_RET | BPF_K, SECCOMP_RET_ALLOW));
    EMIT(BPF_STMT(BPF_RET | BPF_K, SECCOMP_RET_ERRNO | (EPERM & SECCOMP_RET_DATA)));
    EMIT(BPF_STMT(BPF_RET | BPF_K, SECCOMP_RET_ERRNO | (ENOSYS & SECCOMP_RET_DATA)));
    EMIT(BPF_STMT(BPF_RET | BPF_K, SECCOMP_RET_KILL_PROCESS));
#undef JUMP_TO
#undef EMIT
    struct sock_fprog fprog = { .len = (unsigned short)n, .filter = program };
    return (int)syscall(__NR_seccomp, SECCOMP_SET_MODE_FILTER, 0, &fprog);
}

int cl_guard_filter_load(void) {
    // Layered over a profile the user chose. Docker's allows open_by_handle_at with
    // CAP_DAC_READ_SEARCH, fanotify_init, open_tree and open_tree_attr with CAP_SYS_ADMIN: the
    // first two reach files under the masks whatever the mount namespace shows, and a clone of
    // a mount (open_tree) is made without the masks mounted over it, so the store and key show
    // through. All four stay refused, in every ABI the profile may allow (x86-64's x32 numbers,
    // and i386's own). open_tree (428) and open_tree_attr (467) have one number on every
    // architecture (the table shared since Linux 5.1).
#define DENY EPERM & SECCOMP_RET_DATA
    struct sock_filter program[] = {
        /* 0 */ BPF_STMT(BPF_LD | BPF_W | BPF_ABS, offsetof(struct seccomp_data, arch)),
#if defined(__x86_64__)
        /* 1 */ BPF_JUMP(BPF_JMP | BPF_JEQ | BPF_K, AUDIT_ARCH_I386, 11, 0),
#else
        /* 1 */ BPF_JUMP(BPF_JMP | BPF_JEQ | BPF_K, NATIVE_ARCH, 0, 10),
#endif
        /* 2 */ BPF_STMT(BPF_LD | BPF_W | BPF_ABS, offsetof(struct seccomp_data, nr)),
        /* 3 */ BPF_JUMP(BPF_JMP | BPF_JEQ | BPF_K, __NR_open_by_handle_at, 15, 0),
        /* 4 */ BPF_JUMP(BPF_JMP | BPF_JEQ | BPF_K, __NR_fanotify_init, 14, 0),
        /* 5 */ BPF_JUMP(BPF_JMP | BPF_JEQ | BPF_K, 428, 13, 0),
        /* 6 */ BPF_JUMP(BPF_JMP | BPF_JEQ | BPF_K, 467, 12, 0),
        /* 7 */ BPF_JUMP(BPF_JMP | BPF_JEQ | BPF_K, 0x40000000u | __NR_open_by_handle_at, 11, 0),
        /* 8 */ BPF_JUMP(BPF_JMP | BPF_JEQ | BPF_K, 0x40000000u | __NR_fanotify_init, 10, 0),
        /* 9 */ BPF_JUMP(BPF_JMP | BPF_JEQ | BPF_K, 0x40000000u | 428, 9, 0),
        /* 10 */ BPF_JUMP(BPF_JMP | BPF_JEQ | BPF_K, 0x40000000u | 467, 8, 0),
        /* 11 */ BPF_STMT(BPF_RET | BPF_K, SECCOMP_RET_ALLOW),
        /* 12 */ BPF_STMT(BPF_RET | BPF_K, SECCOMP_RET_ALLOW),
        // i386: open_by_handle_at is 342, fanotify_init 338.
        /* 13 */ BPF_STMT(BPF_LD | BPF_W | BPF_ABS, offsetof(struct seccomp_data, nr)),
        /* 14 */ BPF_JUMP(BPF_JMP | BPF_JEQ | BPF_K, 342, 4, 0),
        /* 15 */ BPF_JUMP(BPF_JMP | BPF_JEQ | BPF_K, 338, 3, 0),
        /* 16 */ BPF_JUMP(BPF_JMP | BPF_JEQ | BPF_K, 428, 2, 0),
        /* 17 */ BPF_JUMP(BPF_JMP | BPF_JEQ | BPF_K, 467, 1, 0),
        /* 18 */ BPF_STMT(BPF_RET | BPF_K, SECCOMP_RET_ALLOW),
        /* 19 */ BPF_STMT(BPF_RET | BPF_K, SECCOMP_RET_ERRNO | DENY),
    };
#undef DENY
    struct sock_fprog fprog = { .len = (unsigned short)(sizeof program / sizeof program[0]), .filter = program };
    return (int)syscall(__NR_seccomp, SECCOMP_SET_MODE_FILTER, 0, &fprog);
}
