#pragma once
// Checking that a path is root's alone (the store, key and state paths when run as root).
#include <stddef.h>

/// Resolves `path` (absolute) to its real path, that of its deepest existing ancestor with the
/// missing rest appended, into `out`, and checks every existing directory on it: owned by uid
/// 0, and not writable by group or others unless sticky (as /tmp: others cannot rename what
/// root owns there). Returns 0; -1 with errno set when the path cannot be resolved; -2 when a
/// directory fails the check, with that directory in `bad`, its owner in *uid and its mode in
/// *mode (S_IFDIR missing from *mode: it is not a directory).
int cl_trusted_path(const char *path, char *out, size_t out_size, char *bad, size_t bad_size, unsigned *uid,
                    unsigned *mode);
