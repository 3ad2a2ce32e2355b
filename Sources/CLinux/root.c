#define _GNU_SOURCE
#include "cl_root.h"

#include <errno.h>
#include <fcntl.h>
#include <linux/openat2.h>
#include <sched.h>
#include <string.h>
#include <sys/mount.h>
#include <sys/prctl.h>
#include <sys/resource.h>
#include <sys/syscall.h>
#include <unistd.h>

int cl_open_in_root(int root_fd, const char *path, int flags, unsigned mode) {
    struct open_how how;
    memset(&how, 0, sizeof how);
    how.flags = (uint64_t)(flags | O_CLOEXEC);
    how.mode = (flags & O_CREAT) ? mode : 0;
    how.resolve = RESOLVE_IN_ROOT | RESOLVE_NO_MAGICLINKS;
    return (int)syscall(SYS_openat2, root_fd, path, &how, sizeof how);
}

int cl_mount(const char *source, const char *target, const char *type, unsigned long flags,
             const char *data) {
    return mount(source, target, type, flags, data);
}

int cl_bind(const char *source, const char *target, int recursive) {
    return mount(source, target, NULL, MS_BIND | (recursive ? MS_REC : 0), NULL);
}

int cl_pivot_root_here(void) {
    // With new_root == put_old, the old root ends up stacked under the new one at "/": it is
    // then detached, and nothing of the host's tree stays reachable.
    if (syscall(SYS_pivot_root, ".", ".") != 0) return -1;
    if (umount2(".", MNT_DETACH) != 0) return -1;
    return chdir("/");
}

int cl_unshare(const char *kinds) {
    int flags = 0;
    for (const char *k = kinds; *k; k++) {
        switch (*k) {
        case 'm': flags |= CLONE_NEWNS; break;
        case 'u': flags |= CLONE_NEWUTS; break;
        case 'i': flags |= CLONE_NEWIPC; break;
        case 'n': flags |= CLONE_NEWNET; break;
        case 'p': flags |= CLONE_NEWPID; break;
        case 'U': flags |= CLONE_NEWUSER; break;
        default: errno = EINVAL; return -1;
        }
    }
    return unshare(flags);
}

int cl_set_hostname(const char *name) { return sethostname(name, strlen(name)); }

static const struct { const char *name; int resource; } rlimits[] = {
    {"RLIMIT_AS", RLIMIT_AS}, {"RLIMIT_CORE", RLIMIT_CORE}, {"RLIMIT_CPU", RLIMIT_CPU},
    {"RLIMIT_DATA", RLIMIT_DATA}, {"RLIMIT_FSIZE", RLIMIT_FSIZE}, {"RLIMIT_LOCKS", RLIMIT_LOCKS},
    {"RLIMIT_MEMLOCK", RLIMIT_MEMLOCK}, {"RLIMIT_MSGQUEUE", RLIMIT_MSGQUEUE},
    {"RLIMIT_NICE", RLIMIT_NICE}, {"RLIMIT_NOFILE", RLIMIT_NOFILE}, {"RLIMIT_NPROC", RLIMIT_NPROC},
    {"RLIMIT_RSS", RLIMIT_RSS}, {"RLIMIT_RTPRIO", RLIMIT_RTPRIO}, {"RLIMIT_RTTIME", RLIMIT_RTTIME},
    {"RLIMIT_SIGPENDING", RLIMIT_SIGPENDING}, {"RLIMIT_STACK", RLIMIT_STACK},
};

int cl_rlimit_resource(const char *name) {
    for (size_t i = 0; i < sizeof rlimits / sizeof rlimits[0]; i++) {
        if (strcmp(rlimits[i].name, name) == 0) return rlimits[i].resource;
    }
    errno = EINVAL;
    return -1;
}

int cl_set_rlimit(int resource, uint64_t soft, uint64_t hard) {
    struct rlimit limit = { .rlim_cur = soft, .rlim_max = hard };
    return setrlimit(resource, &limit);
}

static const struct { const char *name; unsigned long flag; int clear; } options[] = {
    {"ro", MS_RDONLY, 0}, {"rw", MS_RDONLY, 1}, {"nosuid", MS_NOSUID, 0}, {"suid", MS_NOSUID, 1},
    {"nodev", MS_NODEV, 0}, {"dev", MS_NODEV, 1}, {"noexec", MS_NOEXEC, 0}, {"exec", MS_NOEXEC, 1},
    {"sync", MS_SYNCHRONOUS, 0}, {"async", MS_SYNCHRONOUS, 1}, {"noatime", MS_NOATIME, 0},
    {"atime", MS_NOATIME, 1}, {"nodiratime", MS_NODIRATIME, 0}, {"diratime", MS_NODIRATIME, 1},
    {"relatime", MS_RELATIME, 0}, {"norelatime", MS_RELATIME, 1}, {"strictatime", MS_STRICTATIME, 0},
    {"bind", MS_BIND, 0}, {"rbind", MS_BIND | MS_REC, 0}, {"private", MS_PRIVATE, 0},
    {"rprivate", MS_PRIVATE | MS_REC, 0}, {"slave", MS_SLAVE, 0}, {"rslave", MS_SLAVE | MS_REC, 0},
    {"shared", MS_SHARED, 0}, {"rshared", MS_SHARED | MS_REC, 0}, {"unbindable", MS_UNBINDABLE, 0},
    {"runbindable", MS_UNBINDABLE | MS_REC, 0}, {"defaults", 0, 0},
};

int cl_mount_option(const char *option, unsigned long *flag, int *clear) {
    for (size_t i = 0; i < sizeof options / sizeof options[0]; i++) {
        if (strcmp(options[i].name, option) == 0) {
            *flag = options[i].flag;
            *clear = options[i].clear;
            return 0;
        }
    }
    errno = ENOENT;
    return -1;
}

int cl_set_parent_death_signal(int sig) { return prctl(PR_SET_PDEATHSIG, sig, 0, 0, 0); }

_Static_assert(CL_O_PATH == O_PATH, "O_PATH differs on this architecture");
