#define _GNU_SOURCE
#include "cl_mount.h"
#include <errno.h>
#include <fcntl.h>
#include <sched.h>
#include <unistd.h>
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

int cl_detach_mount_at(int fd) {
    // umount2 takes a path; "." from inside the mount's root names exactly that mount, where
    // a path through /proc/self/fd would need a /proc that shows this process (not the one of
    // another PID namespace).
    int saved = open(".", O_PATH | O_DIRECTORY | O_CLOEXEC);
    if (saved < 0) return -1;
    int result = -1;
    if (fchdir(fd) == 0) result = umount2(".", MNT_DETACH | UMOUNT_NOFOLLOW);
    int error = errno;
    if (fchdir(saved) != 0 && result == 0) {
        error = errno;
        result = -1;
    }
    close(saved);
    errno = error;
    return result;
}
