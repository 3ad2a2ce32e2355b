#pragma once
// Reading directories by descriptor.
#include <stddef.h>
#include <sys/types.h>

/// getdents64(2): fills `buffer` with struct linux_dirent64 records (u64 d_ino, s64 d_off,
/// u16 d_reclen, u8 d_type, char d_name[]); the bytes filled, 0 at the end, -1 with errno.
ssize_t cl_getdents64(int fd, void *buffer, size_t size);

/// flistxattr(2) and fgetxattr(2) (Swift's Glibc module does not carry sys/xattr.h).
ssize_t cl_flistxattr(int fd, char *names, size_t size);
ssize_t cl_fgetxattr(int fd, const char *name, void *value, size_t size);

/// renameat2(2) with RENAME_NOREPLACE within one directory: `from` becomes `to` unless
/// something is there (EEXIST). 0, or -1 with errno.
int cl_rename_noreplace(int dirfd, const char *from, const char *to);
