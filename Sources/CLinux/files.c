#define _GNU_SOURCE
#include "cl_files.h"

#include <sys/syscall.h>
#include <unistd.h>

ssize_t cl_getdents64(int fd, void *buffer, size_t size) {
    return syscall(SYS_getdents64, fd, buffer, size);
}

#include <sys/xattr.h>

ssize_t cl_flistxattr(int fd, char *names, size_t size) { return flistxattr(fd, names, size); }

ssize_t cl_fgetxattr(int fd, const char *name, void *value, size_t size) { return fgetxattr(fd, name, value, size); }

#include <fcntl.h>
#include <stdio.h>

int cl_rename_noreplace(int dirfd, const char *from, const char *to) {
    return renameat2(dirfd, from, dirfd, to, RENAME_NOREPLACE);
}
