#define _GNU_SOURCE
#include "cl_mount_api.h"

#include <errno.h>
#include <fcntl.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <stdio.h>
#include <unistd.h>

#ifndef SYS_open_tree
#define SYS_open_tree 428
#endif
#ifndef SYS_move_mount
#define SYS_move_mount 429
#endif
#ifndef SYS_fsopen
#define SYS_fsopen 430
#endif
#ifndef SYS_fsconfig
#define SYS_fsconfig 431
#endif
#ifndef SYS_fsmount
#define SYS_fsmount 432
#endif
#ifndef SYS_mount_setattr
#define SYS_mount_setattr 442
#endif

// The UAPI values (linux/mount.h), spelled here: glibc's <sys/mount.h> and <linux/mount.h>
// cannot both be included, and Debian 12's headers predate MOVE_MOUNT_BENEATH.
#define CL_FSOPEN_CLOEXEC 0x1
#define CL_FSCONFIG_SET_FLAG 0
#define CL_FSCONFIG_SET_STRING 1
#define CL_FSCONFIG_CMD_CREATE 6
#define CL_FSMOUNT_CLOEXEC 0x1
#define CL_MOUNT_ATTR_RDONLY 0x1
#define CL_MOUNT_ATTR_NOSUID 0x2
#define CL_MOUNT_ATTR_NODEV 0x4
#define CL_MOUNT_ATTR_NOEXEC 0x8
#define CL_MOVE_MOUNT_F_EMPTY_PATH 0x4
#define CL_MOVE_MOUNT_T_EMPTY_PATH 0x40
#define CL_MOVE_MOUNT_BENEATH 0x200
#define CL_OPEN_TREE_CLONE 1

#define CL_STATX_ATTR_MOUNT_ROOT 0x2000

struct cl_mount_attr {
    uint64_t attr_set, attr_clr, propagation, userns_fd;
};

// Appends `value` in `base` (8 or 10) at `out`; returns the end (snprintf would bring glibc's
// printf into `run` for two numbers: see bench/budget).
static char *append_number(char *out, uint64_t value, unsigned base) {
    char digits[24];
    int count = 0;
    do {
        digits[count++] = (char)('0' + value % base);
        value /= base;
    } while (value > 0);
    while (count > 0) *out++ = digits[--count];
    return out;
}

static int fail_closing(int fd) {
    int saved = errno;
    close(fd);
    errno = saved;
    return -1;
}

int cl_tmpfs_detached(uint64_t size_bytes, unsigned mode, int noswap) {
    int fs = (int)syscall(SYS_fsopen, "tmpfs", CL_FSOPEN_CLOEXEC);
    if (fs < 0) return -1;
    char size[24], octal[16];
    *append_number(size, size_bytes, 10) = '\0';
    *append_number(octal, mode, 8) = '\0';
    // The name the mount table shows as its source, as mount(8) would give it.
    if (syscall(SYS_fsconfig, fs, CL_FSCONFIG_SET_STRING, "source", "tmpfs", 0) != 0) return fail_closing(fs);
    if (syscall(SYS_fsconfig, fs, CL_FSCONFIG_SET_STRING, "size", size, 0) != 0) return fail_closing(fs);
    if (syscall(SYS_fsconfig, fs, CL_FSCONFIG_SET_STRING, "mode", octal, 0) != 0) return fail_closing(fs);
    if (noswap && syscall(SYS_fsconfig, fs, CL_FSCONFIG_SET_FLAG, "noswap", NULL, 0) != 0) return fail_closing(fs);
    if (syscall(SYS_fsconfig, fs, CL_FSCONFIG_CMD_CREATE, NULL, NULL, 0) != 0) return fail_closing(fs);
    int mnt = (int)syscall(SYS_fsmount, fs, CL_FSMOUNT_CLOEXEC,
                           CL_MOUNT_ATTR_NOSUID | CL_MOUNT_ATTR_NODEV | CL_MOUNT_ATTR_NOEXEC);
    if (mnt < 0) return fail_closing(fs);
    close(fs);
    return mnt;
}

int cl_mount_fd_set_readonly(int mount_fd) {
    struct cl_mount_attr attr;
    memset(&attr, 0, sizeof attr);
    attr.attr_set = CL_MOUNT_ATTR_RDONLY;
    return (int)syscall(SYS_mount_setattr, mount_fd, "", CL_AT_EMPTY_PATH, &attr, sizeof attr);
}

int cl_move_mount_onto(int mount_fd, int target_fd) {
    return (int)syscall(SYS_move_mount, mount_fd, "", target_fd, "",
                        CL_MOVE_MOUNT_F_EMPTY_PATH | CL_MOVE_MOUNT_T_EMPTY_PATH);
}

#define CL_AT_RECURSIVE 0x8000

int cl_clone_tree(const char *source, int recursive) {
    return (int)syscall(SYS_open_tree, AT_FDCWD, source,
                        CL_OPEN_TREE_CLONE | O_CLOEXEC | (recursive ? CL_AT_RECURSIVE : 0));
}

int cl_clone_tree_fd(int fd, int recursive) {
    return (int)syscall(SYS_open_tree, fd, "",
                        CL_OPEN_TREE_CLONE | O_CLOEXEC | CL_AT_EMPTY_PATH | (recursive ? CL_AT_RECURSIVE : 0));
}

int cl_mount_fd_set_flags(int mount_fd, unsigned long ms_flags, int recursive) {
    struct cl_mount_attr attr;
    memset(&attr, 0, sizeof attr);
    if (ms_flags & 1) attr.attr_set |= CL_MOUNT_ATTR_RDONLY;   // MS_RDONLY
    if (ms_flags & 2) attr.attr_set |= CL_MOUNT_ATTR_NOSUID;   // MS_NOSUID
    if (ms_flags & 4) attr.attr_set |= CL_MOUNT_ATTR_NODEV;    // MS_NODEV
    if (ms_flags & 8) attr.attr_set |= CL_MOUNT_ATTR_NOEXEC;   // MS_NOEXEC
    if (!attr.attr_set) return 0;
    return (int)syscall(SYS_mount_setattr, mount_fd, "", CL_AT_EMPTY_PATH | (recursive ? CL_AT_RECURSIVE : 0),
                        &attr, sizeof attr);
}

int cl_is_mount_root(int fd) {
    struct statx stx;
    memset(&stx, 0, sizeof stx);
    if (statx(fd, "", CL_AT_EMPTY_PATH, 0, &stx) != 0) return -1;
    if (!(stx.stx_attributes_mask & CL_STATX_ATTR_MOUNT_ROOT)) {
        errno = ENOSYS;
        return -1;
    }
    return (stx.stx_attributes & CL_STATX_ATTR_MOUNT_ROOT) ? 1 : 0;
}

int64_t cl_mount_id(int fd) {
    struct statx stx;
    memset(&stx, 0, sizeof stx);
    if (statx(fd, "", CL_AT_EMPTY_PATH, 0x1000 /* STATX_MNT_ID */, &stx) != 0) return -1;
    if (!(stx.stx_mask & 0x1000)) {
        errno = ENOSYS;
        return -1;
    }
    return (int64_t)stx.stx_mnt_id;
}

int cl_is_whole_filesystem_mount(int fd) {
    int64_t mount_id = cl_mount_id(fd);
    if (mount_id < 0) return -1;
    FILE *table = fopen("/proc/self/mountinfo", "re");
    if (!table) return -1;
    char line[8192];
    int result = -1;
    errno = ENOENT;
    while (fgets(line, sizeof line, table)) {
        // "ID PARENT MAJOR:MINOR ROOT MOUNTPOINT ...": ROOT is "/" for a whole file system.
        unsigned long long id;
        char root[4096];
        if (sscanf(line, "%llu %*u %*s %4095s", &id, root) == 2 && id == (unsigned long long)mount_id) {
            result = strcmp(root, "/") == 0;
            break;
        }
    }
    fclose(table);
    return result;
}

int cl_probe_move_mount_beneath(void) {
    return (int)syscall(SYS_move_mount, -1, "", -1, "",
                        CL_MOVE_MOUNT_F_EMPTY_PATH | CL_MOVE_MOUNT_T_EMPTY_PATH | CL_MOVE_MOUNT_BENEATH);
}

int cl_move_mount_beneath(int mount_fd, int target_fd) {
    return (int)syscall(SYS_move_mount, mount_fd, "", target_fd, "",
                        CL_MOVE_MOUNT_F_EMPTY_PATH | CL_MOVE_MOUNT_T_EMPTY_PATH | CL_MOVE_MOUNT_BENEATH);
}

