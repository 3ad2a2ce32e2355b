#define _GNU_SOURCE
#include "cl_mount.h"
#include <sched.h>
#include <sys/mount.h>
#include <sys/statfs.h>

int cl_unshare_mount_ns(void) { return unshare(CLONE_NEWNS); }

int cl_make_mounts_private(void) { return mount(NULL, "/", NULL, MS_REC | MS_PRIVATE, NULL); }

// Appends `value` in `base` (8 or 10) at `out`; returns the end.
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

static char *append_text(char *out, const char *text) {
    while (*text) *out++ = *text++;
    return out;
}

int cl_mount_tmpfs(const char *target, uint64_t size_bytes, unsigned mode, int noswap) {
    // "size=N,mode=O[,noswap]", written by hand: snprintf would page glibc's whole printf
    // machinery (code and tables) into `run`'s launch for one line.
    char data[64];
    char *end = append_text(data, "size=");
    end = append_number(end, size_bytes, 10);
    end = append_text(end, ",mode=");
    end = append_number(end, mode, 8);
    if (noswap) end = append_text(end, ",noswap");
    *end = '\0';
    return mount("tmpfs", target, "tmpfs", MS_NOSUID | MS_NODEV | MS_NOEXEC, data);
}

int cl_remount_readonly(const char *target) {
    return mount(NULL, target, NULL, MS_REMOUNT | MS_RDONLY | MS_NOSUID | MS_NODEV | MS_NOEXEC,
                 NULL);
}

int64_t cl_filesystem_magic_fd(int fd) {
    struct statfs s;
    if (fstatfs(fd, &s) != 0) return -1;
    return (int64_t)(unsigned long)s.f_type;
}

int cl_unmount_detached(const char *target) { return umount2(target, MNT_DETACH | UMOUNT_NOFOLLOW); }
