#include "cl_scan.h"

#include <archive.h>
#include <archive_entry.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

struct cl_tar {
    struct archive *archive;
    cl_tar *outer;
    // The first bytes of a nested tar, already read from the outer one to sniff its type.
    uint8_t prefix[512];
    size_t prefix_size;
    int prefix_given;
    char buffer[65536];
};

static struct archive *new_reader(void) {
    struct archive *a = archive_read_new();
    if (!a) return NULL;
    // Tar dialects (ustar, pax, GNU, v7) and raw; the compressions images use. No other
    // formats: they would pull libxml2 and ICU into a static build, and images are tars.
    archive_read_support_format_tar(a);
    archive_read_support_format_gnutar(a);
    // A single compressed file that is no tar (every Debian image's changelog.Debian.gz) is
    // read as one entry, "data": the tar formats outbid it whenever the content is a tar.
    archive_read_support_format_raw(a);
    archive_read_support_filter_gzip(a);
    archive_read_support_filter_xz(a);
    archive_read_support_filter_zstd(a);
    archive_read_support_filter_bzip2(a);
    archive_read_support_filter_lz4(a);
    return a;
}

static cl_tar *finish_open(cl_tar *tar, int status, char *error, size_t error_size) {
    if (status != ARCHIVE_OK) {
        snprintf(error, error_size, "%s", archive_error_string(tar->archive) ? archive_error_string(tar->archive) : "not a tar archive");
        archive_read_free(tar->archive);
        free(tar);
        return NULL;
    }
    return tar;
}

cl_tar *cl_tar_open_fd(int fd, char *error, size_t error_size) {
    cl_tar *tar = calloc(1, sizeof *tar);
    if (!tar || !(tar->archive = new_reader())) { free(tar); snprintf(error, error_size, "out of memory"); return NULL; }
    return finish_open(tar, archive_read_open_fd(tar->archive, fd, 65536), error, error_size);
}

static la_ssize_t nested_read(struct archive *a, void *context, const void **block) {
    (void)a;
    cl_tar *tar = context;
    if (!tar->prefix_given) {
        tar->prefix_given = 1;
        if (tar->prefix_size) { *block = tar->prefix; return (la_ssize_t)tar->prefix_size; }
    }
    *block = tar->buffer;
    la_ssize_t n = archive_read_data(tar->outer->archive, tar->buffer, sizeof tar->buffer);
    if (n < 0) archive_set_error(a, EIO, "%s", cl_tar_error(tar->outer));
    return n;
}

cl_tar *cl_tar_open_nested(cl_tar *outer, const uint8_t *prefix, size_t prefix_size, char *error, size_t error_size) {
    cl_tar *tar = calloc(1, sizeof *tar);
    if (!tar || !(tar->archive = new_reader())) { free(tar); snprintf(error, error_size, "out of memory"); return NULL; }
    tar->outer = outer;
    if (prefix_size > sizeof tar->prefix) prefix_size = sizeof tar->prefix;
    memcpy(tar->prefix, prefix, prefix_size);
    tar->prefix_size = prefix_size;
    return finish_open(tar, archive_read_open(tar->archive, tar, NULL, nested_read, NULL), error, error_size);
}

int cl_tar_next(cl_tar *tar, const char **path, int64_t *size, char *type) {
    struct archive_entry *entry;
    int status = archive_read_next_header(tar->archive, &entry);
    if (status == ARCHIVE_EOF) return 0;
    if (status != ARCHIVE_OK && status != ARCHIVE_WARN) return -1;
    *path = archive_entry_pathname(entry);
    if (!*path) *path = "";
    *size = archive_entry_size(entry);
    switch (archive_entry_filetype(entry)) {
    case AE_IFREG: *type = archive_entry_hardlink(entry) ? 'l' : 'f'; break;
    case AE_IFDIR: *type = 'd'; break;
    case AE_IFLNK: *type = 'l'; break;
    default: *type = 'o';
    }
    return 1;
}

ssize_t cl_tar_read(cl_tar *tar, void *buffer, size_t size) {
    la_ssize_t n = archive_read_data(tar->archive, buffer, size);
    return n < 0 ? -1 : (ssize_t)n;
}

const char *cl_tar_error(cl_tar *tar) {
    const char *message = archive_error_string(tar->archive);
    return message ? message : "corrupt or truncated archive";
}

void cl_tar_close(cl_tar *tar) {
    if (!tar) return;
    archive_read_free(tar->archive);
    free(tar);
}

// --- Aho-Corasick, compiled to a DFA ---------------------------------------------------

struct cl_matcher {
    uint32_t *next;     // states x 256
    uint32_t *output;   // per state: first pattern ending here + 1 (0: none)
    uint32_t *chain;    // per pattern: next pattern ending at the same state + 1 (via suffix links)
    uint32_t *fail_out; // per state: nearest state on the failure chain with an output
    size_t *lengths;
    uint32_t states;
};

cl_matcher *cl_matcher_new(const uint8_t *const *patterns, const size_t *lengths, size_t count) {
    size_t capacity = 1;
    for (size_t i = 0; i < count; i++) capacity += lengths[i];
    cl_matcher *m = calloc(1, sizeof *m);
    if (!m) return NULL;
    m->next = calloc(capacity * 256, sizeof(uint32_t));
    m->output = calloc(capacity, sizeof(uint32_t));
    m->fail_out = calloc(capacity, sizeof(uint32_t));
    m->chain = calloc(count + 1, sizeof(uint32_t));
    m->lengths = calloc(count + 1, sizeof(size_t));
    uint32_t *fail = calloc(capacity, sizeof(uint32_t));
    uint32_t *queue = calloc(capacity, sizeof(uint32_t));
    if (!m->next || !m->output || !m->fail_out || !m->chain || !m->lengths || !fail || !queue) {
        free(fail); free(queue); cl_matcher_free(m); return NULL;
    }
    // The trie; 0 is the root, and "no edge" is also 0 until the DFA is completed.
    uint32_t states = 1;
    for (size_t i = 0; i < count; i++) {
        uint32_t s = 0;
        for (size_t j = 0; j < lengths[i]; j++) {
            uint32_t *edge = &m->next[(size_t)s * 256 + patterns[i][j]];
            if (!*edge) *edge = states++;
            s = *edge;
        }
        m->lengths[i] = lengths[i];
        m->chain[i] = m->output[s];
        m->output[s] = (uint32_t)i + 1;
    }
    // Breadth-first: failure links, and missing edges filled from the failure state's.
    size_t head = 0, tail = 0;
    for (int c = 0; c < 256; c++) {
        uint32_t t = m->next[c];
        if (t) { fail[t] = 0; queue[tail++] = t; }
    }
    while (head < tail) {
        uint32_t s = queue[head++];
        m->fail_out[s] = m->output[fail[s]] ? fail[s] : m->fail_out[fail[s]];
        for (int c = 0; c < 256; c++) {
            uint32_t *edge = &m->next[(size_t)s * 256 + c];
            uint32_t via_fail = m->next[(size_t)fail[s] * 256 + c];
            if (*edge) { fail[*edge] = via_fail; queue[tail++] = *edge; }
            else *edge = via_fail;
        }
    }
    free(fail);
    free(queue);
    m->states = states;
    return m;
}

void cl_matcher_free(cl_matcher *m) {
    if (!m) return;
    free(m->next); free(m->output); free(m->fail_out); free(m->chain); free(m->lengths); free(m);
}

void cl_matcher_feed(const cl_matcher *m, uint32_t *state, const uint8_t *bytes, size_t size,
                     uint64_t offset, int (*found)(void *context, size_t pattern, uint64_t offset),
                     void *context) {
    uint32_t s = *state;
    const uint32_t *next = m->next;
    for (size_t i = 0; i < size; i++) {
        s = next[(size_t)s * 256 + bytes[i]];
        if (m->output[s] | m->fail_out[s]) {
            for (uint32_t t = s; t; t = m->fail_out[t]) {
                for (uint32_t p = m->output[t]; p; p = m->chain[p - 1]) {
                    if (found(context, p - 1, offset + i + 1 - m->lengths[p - 1])) { *state = s; return; }
                }
            }
        }
    }
    *state = s;
}
