#pragma once
// Mount namespace and mount-table operations. Thin, intent-named wrappers so Swift never
// touches variadic or macro-only APIs; each returns 0 or -1 with errno set.
#include <stdint.h>

int cl_unshare_mount_ns(void);
/// Every mount below "/" becomes private, so nothing we mount propagates to the host.
int cl_make_mounts_private(void);
int64_t cl_filesystem_magic_fd(int fd);
/// Lazily unmounts `target` (never following a symlink there): gone from this namespace at
/// once, freed by the kernel when the last namespace that still sees it lets go.
int cl_unmount_detached(const char *target);

#define CL_TMPFS_MAGIC 0x01021994
#define CL_RAMFS_MAGIC 0x858458f6
/// Detaches (MNT_DETACH) the mount whose root directory `fd` refers to; processes holding a
/// file or folder of it keep them, and the kernel frees it when the last one closes.
int cl_detach_mount_at(int fd);
