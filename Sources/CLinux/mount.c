#define _GNU_SOURCE
#include "cl_mount.h"
#include <sched.h>
#include <stdio.h>
#include <string.h>
#include <sys/mount.h>
#include <sys/statfs.h>
#include <sys/syscall.h>
#include <unistd.h>

#ifndef MS_NOSYMFOLLOW
#define MS_NOSYMFOLLOW 256
#endif

int cl_unshare_mount_ns(void) { return unshare(CLONE_NEWNS); }

int cl_unshare_user_and_mount_ns(void) { return unshare(CLONE_NEWUSER | CLONE_NEWNS); }

int cl_make_mounts_private(void) { return mount(NULL, "/", NULL, MS_REC | MS_PRIVATE, NULL); }

int cl_mount_tmpfs(const char *target, uint64_t size_bytes, unsigned mode, int noswap) {
    char data[96];
    snprintf(data, sizeof data, "size=%llu,mode=%o%s", (unsigned long long)size_bytes, mode,
             noswap ? ",noswap" : "");
    return mount("tmpfs", target, "tmpfs", MS_NOSUID | MS_NODEV | MS_NOEXEC, data);
}

int cl_remount_readonly(const char *target) {
    return mount(NULL, target, NULL, MS_REMOUNT | MS_RDONLY | MS_NOSUID | MS_NODEV | MS_NOEXEC,
                 NULL);
}

int cl_bind_mount(const char *source, const char *target, int recursive) {
    return mount(source, target, NULL, MS_BIND | (recursive ? MS_REC : 0), NULL);
}

int cl_remount_bind_readonly(const char *target, int nosuid_nodev_noexec) {
    unsigned long flags = MS_REMOUNT | MS_BIND | MS_RDONLY;
    if (nosuid_nodev_noexec) flags |= MS_NOSUID | MS_NODEV | MS_NOEXEC;
    return mount(NULL, target, NULL, flags, NULL);
}

int cl_mount_proc(const char *target) {
    return mount("proc", target, "proc", MS_NOSUID | MS_NODEV | MS_NOEXEC, NULL);
}

int cl_unmount_detach(const char *target) { return umount2(target, MNT_DETACH); }

int cl_pivot_root(const char *new_root, const char *put_old) {
    return (int)syscall(SYS_pivot_root, new_root, put_old);
}

int64_t cl_filesystem_magic(const char *path) {
    struct statfs s;
    if (statfs(path, &s) != 0) return -1;
    return (int64_t)(unsigned long)s.f_type;
}

int64_t cl_filesystem_magic_fd(int fd) {
    struct statfs s;
    if (fstatfs(fd, &s) != 0) return -1;
    return (int64_t)(unsigned long)s.f_type;
}

int64_t cl_filesystem_flags_fd(int fd) {
    struct statfs s;
    if (fstatfs(fd, &s) != 0) return -1;
    return (int64_t)s.f_flags;
}
