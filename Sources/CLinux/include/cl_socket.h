#pragma once
// Unix sockets: the calls Swift's Glibc module hides behind _GNU_SOURCE.
#include <sys/types.h>

/// accept4(2) with SOCK_CLOEXEC: the accepted descriptor, or -1 with errno.
int cl_accept_cloexec(int listener);
/// SO_PEERCRED's user ID of the peer of a connected unix socket into `uid`: 0, or -1 with errno.
int cl_peer_uid(int fd, uid_t *uid);
