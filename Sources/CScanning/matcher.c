#include "cs_matcher.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>

// The hash's modulus, the Mersenne prime 2^61 - 1: a product of two residues fits 122 bits,
// and reducing it is a shift and an add.
#define MODULUS ((uint64_t)0x1FFFFFFFFFFFFFFF)
// The shift table is keyed by the window's last BLOCK bytes: with 4, the patterns' blocks
// cover a small part of the table even for thousands of patterns over a text alphabet.
#define BLOCK 4
#define TABLE_BITS_MIN 10
#define TABLE_BITS_MAX 20
// A bit per block hash (32 KiB: fits the L1 cache) says whether any pattern has the block
// anywhere; most of the input's blocks are in none, and then only this bitmap is read. The
// shift table is consulted only for the rest.
#define FILTER_BITS 18

struct pattern {
    uint8_t head[CS_WINDOW_MAX]; // its first bytes: the window, compared exactly
    uint64_t length;
    uint64_t hash;  // of the whole pattern
    uint64_t power; // base^length: takes a prefix's hash out of a longer one
    uint32_t id;
};

// A pattern whose window ends in a given block, and its window's first 4 bytes (a cheap
// filter before comparing the window).
struct entry {
    uint32_t pattern;
    uint32_t fingerprint;
};

struct cs_matcher {
    struct pattern *patterns;
    size_t count, capacity;
    uint64_t base;
    uint64_t longest;
    int has_zero;
    size_t window;
    unsigned bits;
    uint64_t *filter;       // FILTER_BITS: a pattern holds a block of this hash
    uint8_t *shift;         // per block hash: how far the next window that may match is
    uint32_t *bucket_start; // per block hash: its entries, [start[h], start[h + 1])
    struct entry *entries;
};

// A match whose window was seen, verified when the stream reaches its end.
struct pending {
    uint64_t end;
    uint64_t start_hash; // the running hash at its start
    uint32_t pattern;
};

struct fresh {
    uint64_t start;
    uint32_t pattern;
};

struct cs_stream {
    const cs_matcher *m;
    // The stream's last window - 1 bytes: windows starting there are not complete yet.
    uint8_t carry[CS_WINDOW_MAX];
    size_t carry_length;
    uint64_t offset;     // the stream's end so far
    uint64_t hash_at;    // the running hash covers the bytes before this offset
    uint64_t hash;
    struct pending *heap; // by end
    size_t heap_length, heap_capacity;
    struct fresh *fresh;  // windows found in this feed, by start
    size_t fresh_length, fresh_capacity;
    int overflow;
};

static inline uint64_t mulmod(uint64_t a, uint64_t b) {
    __uint128_t product = (__uint128_t)a * b;
    uint64_t sum = ((uint64_t)product & MODULUS) + (uint64_t)(product >> 61);
    return sum >= MODULUS ? sum - MODULUS : sum;
}

// One more byte into a hash (the byte + 1, so that zero bytes count).
static inline uint64_t extend(uint64_t hash, uint64_t base, uint8_t byte) {
    uint64_t next = mulmod(hash, base) + byte + 1;
    return next >= MODULUS ? next - MODULUS : next;
}

static inline uint32_t load32(const uint8_t *p) {
    uint32_t value;
    memcpy(&value, p, sizeof value);
    return value;
}

static inline uint32_t block_hash(uint32_t block, unsigned bits) {
    return (block * 2654435761u) >> (32 - bits);
}

cs_matcher *cs_matcher_new(void) {
    cs_matcher *m = calloc(1, sizeof *m);
    if (!m) return NULL;
    // A base the input cannot be built against.
    uint64_t random = 0;
    while (getrandom(&random, sizeof random, 0) != (ssize_t)sizeof random) {
        if (errno != EINTR) { free(m); return NULL; }
    }
    m->base = (random % (MODULUS - ((uint64_t)1 << 20))) + ((uint64_t)1 << 20);
    return m;
}

int cs_matcher_add(cs_matcher *m, const uint8_t *pattern, size_t length, uint32_t id) {
    if (m->shift || length < CS_PATTERN_MIN) { errno = EINVAL; return -1; }
    if (m->count == m->capacity) {
        size_t capacity = m->capacity ? m->capacity * 2 : 64;
        struct pattern *grown = realloc(m->patterns, capacity * sizeof *grown);
        if (!grown) return -1;
        m->patterns = grown;
        m->capacity = capacity;
    }
    struct pattern *p = &m->patterns[m->count++];
    memset(p->head, 0, sizeof p->head);
    memcpy(p->head, pattern, length < CS_WINDOW_MAX ? length : CS_WINDOW_MAX);
    p->length = length;
    p->id = id;
    p->hash = 0;
    p->power = 1;
    for (size_t i = 0; i < length; i++) {
        p->hash = extend(p->hash, m->base, pattern[i]);
        p->power = mulmod(p->power, m->base);
    }
    if (length > m->longest) m->longest = length;
    if (!m->has_zero && memchr(pattern, 0, length)) m->has_zero = 1;
    return 0;
}

int cs_matcher_compile(cs_matcher *m) {
    if (m->shift) return 0;
    size_t window = CS_WINDOW_MAX;
    for (size_t i = 0; i < m->count; i++) {
        if (m->patterns[i].length < window) window = (size_t)m->patterns[i].length;
    }
    m->window = window;
    size_t blocks = m->count * (window - BLOCK + 1);
    unsigned bits = TABLE_BITS_MIN;
    while (bits < TABLE_BITS_MAX && ((size_t)1 << bits) < blocks * 8) bits++;
    m->bits = bits;
    size_t size = (size_t)1 << bits;
    m->shift = malloc(size);
    m->filter = calloc(((size_t)1 << FILTER_BITS) / 64, sizeof *m->filter);
    m->bucket_start = calloc(size + 1, sizeof *m->bucket_start);
    m->entries = malloc((m->count ? m->count : 1) * sizeof *m->entries);
    if (!m->shift || !m->filter || !m->bucket_start || !m->entries) {
        free(m->shift); free(m->filter); free(m->bucket_start); free(m->entries);
        m->shift = NULL; m->filter = NULL; m->bucket_start = NULL; m->entries = NULL;
        errno = ENOMEM;
        return -1;
    }
    memset(m->shift, (int)(window - BLOCK + 1), size);
    for (size_t i = 0; i < m->count; i++) {
        const uint8_t *head = m->patterns[i].head;
        for (size_t j = 0; j + BLOCK <= window; j++) {
            uint32_t block = load32(head + j);
            uint32_t f = block_hash(block, FILTER_BITS);
            m->filter[f / 64] |= (uint64_t)1 << (f % 64);
            uint32_t h = block_hash(block, bits);
            uint8_t shift = (uint8_t)(window - BLOCK - j);
            if (shift < m->shift[h]) m->shift[h] = shift;
        }
        m->bucket_start[block_hash(load32(head + window - BLOCK), bits) + 1]++;
    }
    for (size_t h = 0; h < size; h++) m->bucket_start[h + 1] += m->bucket_start[h];
    uint32_t *fill = calloc(size, sizeof *fill);
    if (!fill) { errno = ENOMEM; return -1; }
    for (size_t i = 0; i < m->count; i++) {
        const uint8_t *head = m->patterns[i].head;
        uint32_t h = block_hash(load32(head + window - BLOCK), bits);
        struct entry *e = &m->entries[m->bucket_start[h] + fill[h]++];
        e->pattern = (uint32_t)i;
        e->fingerprint = load32(head);
    }
    free(fill);
    return 0;
}

size_t cs_matcher_count(const cs_matcher *m) { return m->count; }
uint64_t cs_matcher_longest(const cs_matcher *m) { return m->longest; }
int cs_matcher_has_zero_byte(const cs_matcher *m) { return m->has_zero; }

void cs_matcher_free(cs_matcher *m) {
    if (!m) return;
    // The windows are secret bytes.
    if (m->patterns) explicit_bzero(m->patterns, m->capacity * sizeof *m->patterns);
    free(m->patterns);
    free(m->shift);
    free(m->filter);
    free(m->bucket_start);
    free(m->entries);
    free(m);
}

cs_stream *cs_stream_new(const cs_matcher *m) {
    cs_stream *s = calloc(1, sizeof *s);
    if (!s) return NULL;
    s->m = m;
    return s;
}

void cs_stream_reset(cs_stream *s, uint64_t offset) {
    explicit_bzero(s->carry, sizeof s->carry);
    s->carry_length = 0;
    s->offset = offset;
    s->hash_at = offset;
    s->hash = 0;
    s->heap_length = 0;
    s->fresh_length = 0;
    s->overflow = 0;
}

void cs_stream_free(cs_stream *s) {
    if (!s) return;
    explicit_bzero(s->carry, sizeof s->carry);
    free(s->heap);
    free(s->fresh);
    free(s);
}

static int grow(void **items, size_t *capacity, size_t item_size) {
    size_t wanted = *capacity ? *capacity * 2 : 64;
    if (wanted > CS_PENDING_MAX) wanted = CS_PENDING_MAX;
    if (wanted <= *capacity) return -1;
    void *grown = realloc(*items, wanted * item_size);
    if (!grown) return -1;
    *items = grown;
    *capacity = wanted;
    return 0;
}

static void push_fresh(cs_stream *s, uint64_t start, uint32_t pattern) {
    if (s->fresh_length == s->fresh_capacity && grow((void **)&s->fresh, &s->fresh_capacity, sizeof *s->fresh) != 0) {
        s->overflow = 1;
        return;
    }
    s->fresh[s->fresh_length++] = (struct fresh){start, pattern};
}

static void heap_push(cs_stream *s, struct pending item) {
    if (s->heap_length == s->heap_capacity && grow((void **)&s->heap, &s->heap_capacity, sizeof *s->heap) != 0) {
        s->overflow = 1;
        return;
    }
    size_t i = s->heap_length++;
    while (i > 0 && s->heap[(i - 1) / 2].end > item.end) {
        s->heap[i] = s->heap[(i - 1) / 2];
        i = (i - 1) / 2;
    }
    s->heap[i] = item;
}

static struct pending heap_pop(cs_stream *s) {
    struct pending top = s->heap[0];
    struct pending last = s->heap[--s->heap_length];
    size_t i = 0;
    for (;;) {
        size_t child = 2 * i + 1;
        if (child >= s->heap_length) break;
        if (child + 1 < s->heap_length && s->heap[child + 1].end < s->heap[child].end) child++;
        if (s->heap[child].end >= last.end) break;
        s->heap[i] = s->heap[child];
        i = child;
    }
    if (s->heap_length) s->heap[i] = last;
    return top;
}

// Where the bytes of the current feed are: the carry, then the new chunk.
struct view {
    const uint8_t *carry;
    uint64_t carry_start;
    const uint8_t *chunk;
    uint64_t chunk_start;
};

static void hash_to(cs_stream *s, const struct view *v, uint64_t to) {
    uint64_t h = s->hash, base = s->m->base;
    uint64_t at = s->hash_at;
    for (; at < to && at < v->chunk_start; at++) h = extend(h, base, v->carry[at - v->carry_start]);
    for (; at < to; at++) h = extend(h, base, v->chunk[at - v->chunk_start]);
    s->hash = h;
    s->hash_at = at;
}

// Takes the fresh windows in and verifies the pending matches that end before `target`; the
// running hash is kept only while something is pending.
static void settle(cs_stream *s, const struct view *v, uint64_t target, cs_found found, void *context) {
    const struct pattern *patterns = s->m->patterns;
    size_t next_fresh = 0;
    for (;;) {
        uint64_t start = next_fresh < s->fresh_length ? s->fresh[next_fresh].start : UINT64_MAX;
        uint64_t end = s->heap_length ? s->heap[0].end : UINT64_MAX;
        uint64_t at = start < end ? start : end;
        if (at > target || at == UINT64_MAX) break;
        if (!s->heap_length && s->hash_at < at) {
            s->hash_at = at;
            s->hash = 0;
        }
        hash_to(s, v, at);
        if (end <= start) {
            struct pending done = heap_pop(s);
            const struct pattern *p = &patterns[done.pattern];
            uint64_t hash = s->hash + MODULUS - mulmod(done.start_hash, p->power);
            if (hash >= MODULUS) hash -= MODULUS;
            if (hash == p->hash) found(context, p->id, done.end - p->length, p->length);
        } else {
            uint32_t pattern = s->fresh[next_fresh++].pattern;
            heap_push(s, (struct pending){start + patterns[pattern].length, s->hash, pattern});
        }
    }
    s->fresh_length = 0;
    if (s->heap_length) hash_to(s, v, target);
    else if (s->hash_at < target) s->hash_at = target;
}

// Looks at the windows starting at [from, to) of p (n bytes, the first at stream offset
// `offset`), each only if it lies wholly in p.
static void scan_windows(cs_stream *s, const uint8_t *p, size_t n, size_t from, size_t to, uint64_t offset,
                         cs_found found, void *context) {
    const cs_matcher *m = s->m;
    size_t window = m->window;
    if (n < window) return;
    size_t limit = n - window + 1;
    if (to < limit) limit = to;
    const uint8_t *shift = m->shift;
    const uint64_t *filter = m->filter;
    unsigned bits = m->bits;
    size_t most = window - BLOCK + 1;
    size_t i = from;
    while (i < limit) {
        uint32_t block = load32(p + i + window - BLOCK);
        uint32_t f = block_hash(block, FILTER_BITS);
        if (!(filter[f / 64] & ((uint64_t)1 << (f % 64)))) {
            i += most;
            continue;
        }
        uint32_t h = block_hash(block, bits);
        uint8_t step = shift[h];
        if (step) {
            i += step;
            continue;
        }
        uint32_t fingerprint = load32(p + i);
        for (uint32_t k = m->bucket_start[h]; k < m->bucket_start[h + 1]; k++) {
            const struct entry *e = &m->entries[k];
            if (e->fingerprint != fingerprint) continue;
            const struct pattern *pattern = &m->patterns[e->pattern];
            if (memcmp(pattern->head, p + i, window) != 0) continue;
            if (pattern->length == window) found(context, pattern->id, offset + i, window);
            else push_fresh(s, offset + i, e->pattern);
        }
        i++;
    }
}

int cs_stream_feed(cs_stream *s, const uint8_t *bytes, size_t size, cs_found found, void *context) {
    const cs_matcher *m = s->m;
    if (!m->count || !size) { s->offset += size; return 0; }
    size_t window = m->window;
    struct view v = {s->carry, s->offset - s->carry_length, bytes, s->offset};
    if (s->carry_length) {
        // Windows starting in the carry end in this chunk: look at them in a joined copy.
        uint8_t joint[2 * CS_WINDOW_MAX];
        size_t take = size < window - 1 ? size : window - 1;
        memcpy(joint, s->carry, s->carry_length);
        memcpy(joint + s->carry_length, bytes, take);
        scan_windows(s, joint, s->carry_length + take, 0, s->carry_length, v.carry_start, found, context);
        explicit_bzero(joint, sizeof joint);
    }
    scan_windows(s, bytes, size, 0, size, s->offset, found, context);
    uint64_t end = s->offset + size;
    // Every window starting before the last window - 1 bytes has been looked at.
    settle(s, &v, end >= window - 1 ? end - (window - 1) : 0, found, context);
    size_t total = s->carry_length + size;
    size_t keep = total < window - 1 ? total : window - 1;
    if (size >= keep) {
        memcpy(s->carry, bytes + size - keep, keep);
    } else {
        memmove(s->carry, s->carry + (s->carry_length - (keep - size)), keep - size);
        memcpy(s->carry + keep - size, bytes, size);
    }
    s->carry_length = keep;
    s->offset = end;
    if (s->overflow) {
        cs_stream_reset(s, end);
        return -1;
    }
    return 0;
}

void cs_stream_finish(cs_stream *s, cs_found found, void *context) {
    if (s->m->count) {
        struct view v = {s->carry, s->offset - s->carry_length, NULL, s->offset};
        settle(s, &v, s->offset, found, context);
    }
    cs_stream_reset(s, s->offset);
}
