#define _GNU_SOURCE
#include "cl_process.h"
#include <errno.h>
#include <sys/random.h>
#include <unistd.h>

int cl_sync_file_system(int fd) { return syncfs(fd); }

extern char **environ;
char **cl_environ(void) { return environ; }

int cl_random_bytes(void *buf, size_t n) {
    size_t filled = 0;
    while (filled < n) {
        ssize_t got = getrandom((char *)buf + filled, n - filled, 0);
        if (got > 0) filled += (size_t)got;
        else if (got < 0 && errno != EINTR) return -1;
    }
    return 0;
}

int cl_set_all_uids(uid_t uid) { return setresuid(uid, uid, uid); }
int cl_set_all_gids(gid_t gid) { return setresgid(gid, gid, gid); }

#include <signal.h>
#include <string.h>
#include <sys/wait.h>

pid_t cl_fork(void) { return fork(); }

static volatile sig_atomic_t supervised_child;

static void forward_signal(int sig) {
    if (supervised_child > 0) kill((pid_t)supervised_child, sig);
}

int cl_supervise(pid_t child) {
    supervised_child = child;
    static const int forwarded[] = {SIGHUP, SIGINT, SIGQUIT, SIGTERM, SIGUSR1, SIGUSR2, SIGWINCH};
    struct sigaction action;
    memset(&action, 0, sizeof action);
    action.sa_handler = forward_signal;
    sigemptyset(&action.sa_mask);
    action.sa_flags = SA_RESTART;
    for (size_t i = 0; i < sizeof forwarded / sizeof forwarded[0]; i++) sigaction(forwarded[i], &action, NULL);
    int status = 0;
    for (;;) {
        pid_t got = waitpid(child, &status, 0);
        if (got == child) break;
        if (got < 0 && errno != EINTR) return 125;
    }
    if (WIFEXITED(status)) return WEXITSTATUS(status);
    if (WIFSIGNALED(status)) return 128 + WTERMSIG(status);
    return 125;
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
