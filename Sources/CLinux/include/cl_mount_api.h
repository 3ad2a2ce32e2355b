#pragma once
// The new mount API (Linux 5.2+: fsopen, fsmount, move_mount; 5.12+: mount_setattr): a mount
// is made detached, addressed only by its descriptor, filled and sealed before anything can
// see it, then attached onto a directory that is itself given by descriptor. Nothing here
// looks a path up. Each returns a descriptor or a value of 0 or more, or -1 with errno set.
#include <stdint.h>

/// A new tmpfs, detached: "size=N,mode=O[,noswap]", mounted nosuid,nodev,noexec. Returns the
/// mount's descriptor (O_CLOEXEC); its root directory is where files are written. `noswap`
/// asks for Linux 6.4's option: EINVAL where the kernel (or a user namespace) refuses it.
int cl_tmpfs_detached(uint64_t size_bytes, unsigned mode, int noswap);
/// Makes exactly this mount read-only (mount_setattr on the descriptor): never a superblock
/// remount, so no other mount of the same file system changes.
int cl_mount_fd_set_readonly(int mount_fd);
/// Attaches the detached mount `mount_fd` onto the directory (or file) `target_fd` refers to.
int cl_move_mount_onto(int mount_fd, int target_fd);
/// A detached copy (OPEN_TREE_CLONE) of the tree at `source` (a bind mount's source, resolved
/// this once), with its submounts when `recursive`; to attach with cl_move_mount_onto.
int cl_clone_tree(const char *source, int recursive);
/// The same for the tree `fd` refers to.
int cl_clone_tree_fd(int fd, int recursive);
/// Sets mount attributes (MS_RDONLY, MS_NOSUID, MS_NODEV, MS_NOEXEC bits, as mount(2)
/// spells them) on this mount, and on the mounts below it when `recursive`; never clears one.
int cl_mount_fd_set_flags(int mount_fd, unsigned long ms_flags, int recursive);
/// 1 if `fd` is the root of a mount, 0 if not, -1 (errno) if statx cannot say (Linux < 5.8).
int cl_is_mount_root(int fd);
/// 1 if the mount `fd` is on shows its file system from the file system's own root (a tmpfs
/// mounted there), 0 if it shows a folder of it (a bind mount of a shared tmpfs's folder),
/// -1 with errno if the kernel cannot say (statx's STATX_MNT_ID, Linux 5.8+).
int cl_is_whole_filesystem_mount(int fd);
/// The ID of the mount `fd` is on (statx's STATX_MNT_ID, Linux 5.8+), as mountinfo's first
/// field gives it; -1 with errno (ENOSYS where the kernel cannot say).
int64_t cl_mount_id(int fd);
/// move_mount(2) with MOVE_MOUNT_BENEATH (Linux 6.5+) on invalid descriptors, to probe for the
/// flag: always -1, errno EBADF where the kernel knows it (it got as far as the descriptors),
/// EINVAL where it does not (it refused the flag first).
int cl_probe_move_mount_beneath(void);
/// move_mount(2) with MOVE_MOUNT_BENEATH (Linux 6.5+): attaches the detached mount `mount_fd`
/// beneath the top mount on the directory `target_fd` refers to (that mount's root), so that
/// detaching the top one then uncovers it: `update`'s swap, never a moment with nothing there.
int cl_move_mount_beneath(int mount_fd, int target_fd);

/// AT_EMPTY_PATH (glibc declares it only under _GNU_SOURCE): act on the descriptor itself.
#define CL_AT_EMPTY_PATH 0x1000
