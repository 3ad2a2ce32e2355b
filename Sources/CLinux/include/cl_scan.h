#pragma once
// `scan`'s machinery: tar archives through libarchive (every tar dialect; gzip, xz, zstd,
// bzip2 and lz4 detected by content, not name), nested to any depth, and a multi-pattern
// matcher (Aho-Corasick compiled to a full DFA: one table lookup per input byte).
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

typedef struct cl_tar cl_tar;
/// Reads a tar from fd. NULL if it is not a tar (after decompression); *error then says why.
cl_tar *cl_tar_open_fd(int fd, char *error, size_t error_size);
/// A tar inside the current entry of `outer` (a layer of a saved image), whose first
/// `prefix_size` (at most 512) bytes were already read from it into `prefix`.
cl_tar *cl_tar_open_nested(cl_tar *outer, const uint8_t *prefix, size_t prefix_size, char *error, size_t error_size);
/// Advances to the next entry: 1, 0 at the end, -1 on a corrupt or truncated archive.
/// *type is 'f' regular file, 'd' folder, 'l' link, 'o' other.
int cl_tar_next(cl_tar *tar, const char **path, int64_t *size, char *type);
/// Reads the current entry's bytes: the count, 0 at its end, -1 on error.
ssize_t cl_tar_read(cl_tar *tar, void *buffer, size_t size);
const char *cl_tar_error(cl_tar *tar);
void cl_tar_close(cl_tar *tar);

typedef struct cl_matcher cl_matcher;
/// Compiles the patterns (bytes, lengths); NULL if memory runs out.
cl_matcher *cl_matcher_new(const uint8_t *const *patterns, const size_t *lengths, size_t count);
void cl_matcher_free(cl_matcher *matcher);
/// Feeds bytes from the stream position `offset` on, starting in *state (0 at a stream's
/// start) and leaving the state for the next call: a match straddling two calls is found.
/// For each match calls found(context, pattern index, offset of its first byte); stops early
/// if it returns nonzero.
void cl_matcher_feed(const cl_matcher *matcher, uint32_t *state, const uint8_t *bytes, size_t size,
                     uint64_t offset, int (*found)(void *context, size_t pattern, uint64_t offset),
                     void *context);
