#pragma once
#include <stddef.h>
#include <sys/types.h>
// Process-level helpers.

/// The environment of this process, as execve wants it.
char **cl_environ(void);
/// Fills buf with n bytes from getrandom(2), retrying EINTR and short reads. 0 or -1.
int cl_random_bytes(void *buf, size_t n);
/// syncfs(2) (glibc declares it only under _GNU_SOURCE): flushes the file system holding fd.
int cl_sync_file_system(int fd);
/// setresuid/setresgid (glibc declares them only under _GNU_SOURCE).
int cl_set_all_uids(uid_t uid);
int cl_set_all_gids(gid_t gid);
/// fork(2) (Swift's Glibc overlay does not offer it).
pid_t cl_fork(void);
/// The parent's side of a forked workload: forwards SIGHUP, SIGINT, SIGQUIT, SIGTERM, SIGUSR1,
/// SIGUSR2 and SIGWINCH to `child`, waits for it, and returns its exit status as a shell
/// reports it (the code, or 128 + the signal that killed it).
int cl_supervise(pid_t child);
/// Gives SIGSEGV, SIGBUS, SIGILL, SIGFPE, SIGTRAP, SIGABRT and SIGSYS their default action
/// again, replacing the Swift runtime's crash handler (whose report dumps memory at each
/// register to stderr).
int cl_reset_fatal_signals(void);
