#define _GNU_SOURCE
#include "cl_landlock.h"

#include <errno.h>
#include <stdint.h>
#include <string.h>
#include <sys/syscall.h>
#include <unistd.h>

#ifndef SYS_landlock_create_ruleset
#define SYS_landlock_create_ruleset 444
#endif
#ifndef SYS_landlock_restrict_self
#define SYS_landlock_restrict_self 446
#endif
#define CL_LANDLOCK_CREATE_RULESET_VERSION (1U << 0)
#define CL_LANDLOCK_ACCESS_FS_MAKE_BLOCK (1ULL << 11)

struct cl_landlock_ruleset_attr {
    uint64_t handled_access_fs;
};

int cl_landlock_abi(void) {
    return (int)syscall(SYS_landlock_create_ruleset, NULL, 0, CL_LANDLOCK_CREATE_RULESET_VERSION);
}

int cl_landlock_isolate(void) {
    struct cl_landlock_ruleset_attr attr;
    memset(&attr, 0, sizeof attr);
    attr.handled_access_fs = CL_LANDLOCK_ACCESS_FS_MAKE_BLOCK;
    int ruleset = (int)syscall(SYS_landlock_create_ruleset, &attr, sizeof attr, 0);
    if (ruleset < 0) return -1;
    int status = (int)syscall(SYS_landlock_restrict_self, ruleset, 0);
    int saved = errno;
    close(ruleset);
    errno = saved;
    return status;
}
