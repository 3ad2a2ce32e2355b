#pragma once
// Finds many byte strings at once in a stream, in memory that does not grow with their length.
//
// Each pattern is indexed by its first W bytes (its window; W is the shortest pattern's
// length, at most CS_WINDOW_MAX), searched Wu-Manber style: a table of shifts keyed by the
// window's last 4 bytes skips most of the input without looking at it, and a window that may
// match is compared byte for byte. The rest of a longer pattern is verified by a polynomial
// hash modulo 2^61-1 with a base drawn at random per matcher (Rabin-Karp): a pending match
// costs 32 bytes however long the pattern, so a matcher for 10,000 secrets of 500 KiB holds a
// few megabytes, not the patterns. Two different strings of length L collide with probability
// at most L / 2^61 for a base an attacker does not know.
#include <stddef.h>
#include <stdint.h>

#define CS_WINDOW_MAX 32
/// A pattern must be at least this long (the block the shift table is keyed by, twice).
#define CS_PATTERN_MIN 8
/// Matches begun and not yet verified, per stream: past this, `cs_stream_feed` returns -1
/// (input built to make the verification quadratic or unbounded; the caller says it could
/// not verify that input).
#define CS_PENDING_MAX ((size_t)1 << 18)

typedef struct cs_matcher cs_matcher;
typedef struct cs_stream cs_stream;
/// Called for each match: the caller's pattern id, the offset of its first byte in the
/// stream, its length. Return 0.
typedef int (*cs_found)(void *context, uint32_t id, uint64_t offset, uint64_t length);

cs_matcher *cs_matcher_new(void);
/// Adds a pattern (at least CS_PATTERN_MIN bytes) under the caller's id (ids may repeat).
/// Keeps its first CS_WINDOW_MAX bytes and its hash, not the pattern. 0, or -1 with errno.
int cs_matcher_add(cs_matcher *matcher, const uint8_t *pattern, size_t length, uint32_t id);
/// Builds the tables; after it no pattern may be added. 0, or -1 with errno.
int cs_matcher_compile(cs_matcher *matcher);
/// The number of patterns added, the longest one's length, and whether any holds a zero byte.
size_t cs_matcher_count(const cs_matcher *matcher);
uint64_t cs_matcher_longest(const cs_matcher *matcher);
int cs_matcher_has_zero_byte(const cs_matcher *matcher);
void cs_matcher_free(cs_matcher *matcher);

/// One stream's search state (the window carried across reads, the pending matches), at offset 0.
cs_stream *cs_stream_new(const cs_matcher *matcher);
/// A new stream starting at `offset` (or, within one, a discontinuity: nothing spans it).
void cs_stream_reset(cs_stream *stream, uint64_t offset);
/// Feeds the stream's next bytes; a match straddling two feeds is found. 0, or -1 when more
/// than CS_PENDING_MAX matches were pending (the stream is then reset).
int cs_stream_feed(cs_stream *stream, const uint8_t *bytes, size_t size, cs_found found, void *context);
/// The stream's end: reports the matches that end exactly there, drops the unfinished ones.
void cs_stream_finish(cs_stream *stream, cs_found found, void *context);
void cs_stream_free(cs_stream *stream);
