#define _GNU_SOURCE
#include "cl_process.h"
#include <errno.h>
#include <sys/random.h>
#include <unistd.h>

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
