#define _GNU_SOURCE
#include "cl_openat2.h"
#include <errno.h>
#include <stdint.h>
#include <string.h>
#include <sys/syscall.h>
#include <fcntl.h>
#include <unistd.h>

#ifndef SYS_openat2
#define SYS_openat2 437
#endif

// struct open_how and RESOLVE_* from linux/openat2.h, which older headers lack.
struct cl_open_how {
    uint64_t flags;
    uint64_t mode;
    uint64_t resolve;
};
#define CL_RESOLVE_NO_MAGICLINKS 0x02
#define CL_RESOLVE_IN_ROOT 0x10

int cl_open_in_root(int root_fd, const char *path, int flags, unsigned mode) {
    struct cl_open_how how;
    memset(&how, 0, sizeof how);
    how.flags = (uint64_t)(unsigned)flags;
    how.mode = (flags & (O_CREAT | O_TMPFILE)) ? mode : 0;
    how.resolve = CL_RESOLVE_IN_ROOT | CL_RESOLVE_NO_MAGICLINKS;
    return (int)syscall(SYS_openat2, root_fd, path, &how, sizeof how);
}
