#pragma once
#include <stddef.h>
#include <sys/types.h>
// Process-level helpers.

/// The environment of this process, as execve wants it.
char **cl_environ(void);
/// Fills buf with n bytes from getrandom(2), retrying EINTR and short reads. 0 or -1.
int cl_random_bytes(void *buf, size_t n);
/// setresuid/setresgid (glibc declares them only under _GNU_SOURCE).
int cl_set_all_uids(uid_t uid);
int cl_set_all_gids(gid_t gid);
