#pragma once
// openat2(2) with RESOLVE_IN_ROOT: resolve a path as if dirfd were "/", so a symlink inside
// a foreign root filesystem can never lead outside it. Returns the fd or -1 with errno
// (ENOSYS on kernels before 5.6).
int cl_open_in_root(int root_fd, const char *path, int flags, unsigned mode);
