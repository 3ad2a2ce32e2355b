#define _GNU_SOURCE
#include "cl_process.h"
#include <errno.h>
#include <sys/random.h>
#include <sched.h>
#include <unistd.h>

int cl_sync_file_system(int fd) { return syncfs(fd); }

extern char **environ;
char **cl_environ(void) { return environ; }

ssize_t cl_getrandom(void *buf, size_t n) { return getrandom(buf, n, 0); }

int cl_set_all_uids(uid_t uid) { return setresuid(uid, uid, uid); }
int cl_set_all_gids(gid_t gid) { return setresgid(gid, gid, gid); }

#include <signal.h>
#include <string.h>
#include <sys/wait.h>

pid_t cl_fork(void) { return fork(); }

#include <fcntl.h>
int cl_pipe_nonblocking(int ends[2]) { return pipe2(ends, O_CLOEXEC | O_NONBLOCK); }

static volatile sig_atomic_t supervised_child;

static void forward_signal(int sig) {
    if (supervised_child > 0) kill((pid_t)supervised_child, sig);
}

int cl_forward_signals(pid_t child) {
    supervised_child = child;
    static const int forwarded[] = {SIGHUP, SIGINT, SIGQUIT, SIGTERM, SIGUSR1, SIGUSR2, SIGWINCH};
    struct sigaction action;
    memset(&action, 0, sizeof action);
    action.sa_handler = forward_signal;
    sigemptyset(&action.sa_mask);
    action.sa_flags = SA_RESTART;
    for (size_t i = 0; i < sizeof forwarded / sizeof forwarded[0]; i++) {
        if (sigaction(forwarded[i], &action, NULL) != 0) return -1;
    }
    return 0;
}

int cl_reset_fatal_signals(void) {
    // The Swift runtime installs a crash handler for these that prints a backtrace with a
    // register dump, 16 bytes of memory at each register, to stderr: part of a secret if a
    // register points at one. With the default action the process just dies (no core: every
    // command is made non-dumpable first).
    static const int fatal[] = {SIGSEGV, SIGBUS, SIGILL, SIGFPE, SIGTRAP, SIGABRT, SIGSYS};
    struct sigaction action;
    memset(&action, 0, sizeof action);
    action.sa_handler = SIG_DFL;
    sigemptyset(&action.sa_mask);
    for (size_t i = 0; i < sizeof fatal / sizeof fatal[0]; i++) {
        if (sigaction(fatal[i], &action, NULL) != 0) return -1;
    }
    return 0;
}

#include <sys/syscall.h>
#ifndef SYS_pidfd_open
#define SYS_pidfd_open 434
#endif
#ifndef SYS_pidfd_send_signal
#define SYS_pidfd_send_signal 424
#endif

int cl_pidfd_open(pid_t pid) { return (int)syscall(SYS_pidfd_open, pid, 0); }

int cl_pidfd_send_signal(int pidfd, int signal) { return (int)syscall(SYS_pidfd_send_signal, pidfd, signal, NULL, 0); }

int cl_setns(int fd, int namespaces) { return setns(fd, namespaces); }
