#pragma once
// Reading directories by descriptor.
#include <stddef.h>
#include <sys/types.h>

/// getdents64(2): fills `buffer` with struct linux_dirent64 records (u64 d_ino, s64 d_off,
/// u16 d_reclen, u8 d_type, char d_name[]); the bytes filled, 0 at the end, -1 with errno.
ssize_t cl_getdents64(int fd, void *buffer, size_t size);
