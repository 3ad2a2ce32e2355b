#define _GNU_SOURCE
#include "cl_mount.h"
#include <sched.h>
#include <sys/mount.h>
#include <sys/statfs.h>

int cl_unshare_mount_ns(void) { return unshare(CLONE_NEWNS); }

int cl_make_mounts_private(void) { return mount(NULL, "/", NULL, MS_REC | MS_PRIVATE, NULL); }

int64_t cl_filesystem_magic_fd(int fd) {
    struct statfs s;
    if (fstatfs(fd, &s) != 0) return -1;
    return (int64_t)(unsigned long)s.f_type;
}

int cl_unmount_detached(const char *target) { return umount2(target, MNT_DETACH | UMOUNT_NOFOLLOW); }
