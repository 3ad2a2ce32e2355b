#define _GNU_SOURCE
#include "cl_files.h"

#include <sys/syscall.h>
#include <unistd.h>

ssize_t cl_getdents64(int fd, void *buffer, size_t size) {
    return syscall(SYS_getdents64, fd, buffer, size);
}
