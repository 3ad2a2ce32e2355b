#pragma once
#include <stddef.h>
#include <sys/types.h>
// Process-level helpers. Each returns 0 (or a value) or -1 with errno set.

/// The environment of this process, as execve wants it.
char **cl_environ(void);
/// getrandom(2) (Swift's Glibc module does not carry sys/random.h): the bytes filled (at most
/// n; fewer when a signal interrupted it).
ssize_t cl_getrandom(void *buf, size_t n);
/// syncfs(2) (glibc declares it only under _GNU_SOURCE): flushes the file system holding fd.
int cl_sync_file_system(int fd);
/// setresuid/setresgid (glibc declares them only under _GNU_SOURCE).
int cl_set_all_uids(uid_t uid);
int cl_set_all_gids(gid_t gid);
/// fork(2) (Swift's Glibc overlay does not offer it).
pid_t cl_fork(void);
/// pipe2(2) with O_CLOEXEC | O_NONBLOCK on both ends (glibc declares it only under _GNU_SOURCE).
int cl_pipe_nonblocking(int ends[2]);
/// The parent's side of a forked workload: from now on SIGHUP, SIGINT, SIGQUIT, SIGTERM,
/// SIGUSR1, SIGUSR2 and SIGWINCH sent to this process are sent on to `child` (SA_RESTART).
int cl_forward_signals(pid_t child);
/// Gives SIGSEGV, SIGBUS, SIGILL, SIGFPE, SIGTRAP, SIGABRT and SIGSYS their default action
/// again, replacing the Swift runtime's crash handler (whose report dumps memory at each
/// register to stderr).
int cl_reset_fatal_signals(void);
/// pidfd_open(2) (Linux 5.3+): a descriptor for process `pid` that keeps naming it, never a
/// later process given the same pid.
int cl_pidfd_open(pid_t pid);
/// pidfd_send_signal(2) (Linux 5.1+): `signal` to the process the pidfd names.
int cl_pidfd_send_signal(int pidfd, int signal);
/// setns(2) (glibc declares it only under _GNU_SOURCE); with a pidfd, `namespaces` is a mask of
/// CLONE_NEW* flags, all entered at once (Linux 5.8+).
int cl_setns(int fd, int namespaces);
/// CLONE_NEWNS and CLONE_NEWUSER for cl_setns (sched.h spells them only under _GNU_SOURCE).
#define CL_CLONE_NEWNS 0x00020000
#define CL_CLONE_NEWUSER 0x10000000
