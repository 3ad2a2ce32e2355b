#pragma once
// Building a workload's root filesystem: safe resolution inside a root, mounts addressed by
// file descriptor, pivot_root, the other namespaces, rlimits. Each returns 0 (or an fd) or -1
// with errno set.
#include <stdint.h>

/// openat2 with RESOLVE_IN_ROOT | RESOLVE_NO_MAGICLINKS: `path` (absolute or not) is resolved
/// as if root_fd were "/", so a symlink inside it, absolute or with "..", can never lead out.
int cl_open_in_root(int root_fd, const char *path, int flags, unsigned mode);
/// mount(2) as is; flags are MS_* bits. For targets given as "/proc/self/fd/N".
int cl_mount(const char *source, const char *target, const char *type, unsigned long flags,
             const char *data);
/// A bind mount (recursive when asked) of source onto target.
int cl_bind(const char *source, const char *target, int recursive);
/// pivot_root into the current directory and detach the old root (runc's pivot_root(".", ".")).
int cl_pivot_root_here(void);
/// unshare(2) with CLONE_* flags, named: 'm' mount, 'u' uts, 'i' ipc, 'n' net, 'p' pid, 'U' user.
int cl_unshare(const char *kinds);
int cl_set_hostname(const char *name);
/// The resource named as in OCI ("RLIMIT_NOFILE"); -1 with EINVAL for an unknown name.
int cl_rlimit_resource(const char *name);
/// setrlimit(2) of a `cl_rlimit_resource`.
int cl_set_rlimit(int resource, uint64_t soft, uint64_t hard);
/// 0 if `option` is a mount flag ("ro", "nosuid", "rbind", ...): *flag gets its MS_* bits and
/// *clear is 1 for options that clear them ("rw", "suid", ...). -1 with ENOENT if it is data
/// ("size=1m").
int cl_mount_option(const char *option, unsigned long *flag, int *clear);
/// Send this process `sig` when its parent dies (for a workload forked into a PID namespace).
int cl_set_parent_death_signal(int sig);

/// O_PATH (glibc declares it only under _GNU_SOURCE; the same value on x86_64 and aarch64).
#define CL_O_PATH 010000000
