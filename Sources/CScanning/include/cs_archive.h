#pragma once
// Archives through libarchive, in two kinds of reader: a compressed stream (gzip, xz, zstd,
// bzip2, lz4, detected by content) read as one entry holding its decompressed bytes, and a
// tar (ustar, pax, GNU). A compressed tar is the one inside the other. Archives nested inside
// entries are read in place, streaming.
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

typedef struct cs_tar cs_tar;

/// The archives of one scan, all together, may hand out at most this many times the bytes read
/// from their files beyond `CS_EXPANSION_FLOOR` (gzip's best ratio is about 1,032:1; zstd and
/// xz reach tens of thousands on zeros): past it, reading fails with a message that says so (a
/// decompression bomb of a few kilobytes would otherwise keep `scan` busy for hours). A
/// nested archive's bytes count at each level they pass through.
#define CS_EXPANSION_RATIO 1024
#define CS_EXPANSION_FLOOR ((uint64_t)1 << 30)
/// Starts the budget above anew (a new scan).
void cs_budget_reset(void);

/// The kinds of reader.
#define CS_COMPRESSED 1
#define CS_TAR 2

/// Reads an archive of `kind` from fd. NULL if libarchive cannot (after decompression); *error says why.
cs_tar *cs_tar_open_fd(int fd, int kind, char *error, size_t error_size);
/// An archive inside the current entry of `outer` (a layer of a saved image), whose first
/// `prefix_size` (at most 64 KiB) bytes were already read from it into `prefix`.
cs_tar *cs_tar_open_nested(cs_tar *outer, const uint8_t *prefix, size_t prefix_size, int kind, char *error, size_t error_size);
/// Advances to the next entry: 1, 0 at the end, -1 on a corrupt or truncated archive.
/// *type is 'f' regular file, 'd' folder, 'l' link (symbolic or hard), 'o' other; *link the
/// target of a link, else NULL.
int cs_tar_next(cs_tar *tar, const char **path, const char **link, int64_t *size, char *type);
/// The current entry's next block of data, without copying: 1 with *block, *size and the
/// block's *offset in the entry (a sparse entry's holes are skipped: the offset jumps), 0 at
/// the entry's end, -1 on error.
int cs_tar_read_block(cs_tar *tar, const void **block, size_t *size, int64_t *offset);
/// The current entry's extended attributes (pax SCHILY.xattr.*, which Docker's extraction
/// applies), one per call, from the first with `first`: 1 with name and value, 0 after the last.
int cs_tar_xattr(cs_tar *tar, int first, const char **name, const void **value, size_t *size);
/// Whether the archive is a compressed stream (libarchive's raw format), known once its entry
/// was read: that entry ("data") is shown as the file itself.
int cs_tar_is_raw(cs_tar *tar);
const char *cs_tar_error(cs_tar *tar);
void cs_tar_close(cs_tar *tar);
