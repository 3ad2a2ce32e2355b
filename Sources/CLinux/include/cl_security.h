#pragma once
// Capabilities (libcap) and seccomp (libseccomp), linked through the CCap and CSeccomp modules that
// Namespaces imports: wrappers that take plain arrays, since libseccomp's rule functions are
// variadic. Each returns 0 (or a value, or a pointer) or -1 (NULL) with errno set; libseccomp's
// negative error codes become errno here.
#include <stdint.h>

/// Number of the capability named like "CAP_NET_ADMIN" or "net_admin"; -1 with EINVAL if
/// libcap does not know it.
int cl_cap_from_name(const char *name);
/// Writes the name of `cap` as "CAP_CHOWN" into buffer; -1 with EINVAL if libcap does not know it.
int cl_cap_name(int cap, char *buffer, int size);
/// Highest capability number this kernel knows.
int cl_cap_last(void);
/// This process's effective set now, as a mask of capability numbers (bit N: capability N),
/// read once.
int cl_caps_effective(uint64_t *mask);
/// 1 if this process may still hold `cap` (it is in the bounding set), 0 if not.
int cl_cap_in_bounding_set(int cap);
/// Drops from the bounding set every capability not in keep[0..count).
int cl_caps_limit_bounding(const int *keep, int count);
/// Sets permitted and effective to exactly caps[0..count); inheritable and ambient empty.
int cl_caps_set(const int *caps, int count);
/// Empties the inheritable and ambient sets, keeping permitted and effective: Docker does so
/// since CVE-2022-24769 (inheritable capabilities let a workload that switched to another user
/// regain them by exec'ing a file with inheritable file capabilities).
int cl_caps_clear_inheritable(void);

/// A seccomp filter under construction.
typedef struct cl_seccomp cl_seccomp;
/// default_errno < 0: default action allow; else default action is ERRNO(default_errno);
/// kill_default: default action kill-process.
cl_seccomp *cl_seccomp_new(int default_action_kind, int default_errno);
enum { CL_SECCOMP_ALLOW = 0, CL_SECCOMP_ERRNO = 1, CL_SECCOMP_KILL = 2, CL_SECCOMP_TRAP = 3, CL_SECCOMP_LOG = 4 };
/// Adds the architecture named like "SCMP_ARCH_X86" or "x86" (EINVAL for an unknown one).
int cl_seccomp_add_arch(cl_seccomp *filter, const char *name);
/// libseccomp's number for the syscall `name` (negative, but never -1, for one this
/// architecture lacks); -1 with ENOENT if libseccomp does not know it.
int cl_seccomp_syscall(const char *name);
/// A rule for syscall number `nr` (`cl_seccomp_syscall`): action kind (+ errno), and up to 6
/// argument comparisons (index, op 1..7 as libseccomp's scmp_compare, value, value_two).
int cl_seccomp_add_rule(cl_seccomp *filter, int nr, int action_kind, int errno_value,
                        int arg_count, const unsigned *arg_index, const int *arg_op,
                        const uint64_t *arg_value, const uint64_t *arg_value_two);
int cl_seccomp_load(cl_seccomp *filter);
void cl_seccomp_free(cl_seccomp *filter);
