#include "cs_archive.h"

#include <archive.h>
#include <archive_entry.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

struct cs_tar {
    struct archive *archive;
    cs_tar *outer;
    // Bytes of entries handed out (to the caller, or to an archive nested inside): checked
    // against the bytes read from the source (CS_EXPANSION_RATIO).
    uint64_t expanded;
    // The first bytes of a nested archive, already read from the outer one to sniff its type.
    const uint8_t *prefix;
    size_t prefix_size;
    int prefix_given;
    char failure[160];
};

static struct archive *new_reader(int kind) {
    struct archive *a = archive_read_new();
    if (!a) return NULL;
    if (kind == CS_COMPRESSED) {
        // Decompression only: the stream's bytes become one entry, "data", and the caller
        // looks at them as it looks at any entry (a tar inside is opened as a nested archive).
        // Letting libarchive guess the tar format here would read a stream that starts with
        // 1,024 zero bytes as an empty tar, and never look at the rest.
        archive_read_support_format_raw(a);
        archive_read_support_filter_gzip(a);
        archive_read_support_filter_xz(a);
        archive_read_support_filter_zstd(a);
        archive_read_support_filter_bzip2(a);
        archive_read_support_filter_lz4(a);
    } else {
        // Tar dialects (ustar, pax, GNU). No other formats: they would pull libxml2 and ICU
        // into a static build, and images are tars.
        archive_read_support_format_tar(a);
        archive_read_support_format_gnutar(a);
    }
    return a;
}

static cs_tar *finish_open(cs_tar *tar, int status, char *error, size_t error_size) {
    if (status != ARCHIVE_OK) {
        snprintf(error, error_size, "%s", archive_error_string(tar->archive) ? archive_error_string(tar->archive) : "not an archive");
        archive_read_free(tar->archive);
        free(tar);
        return NULL;
    }
    return tar;
}

cs_tar *cs_tar_open_fd(int fd, int kind, char *error, size_t error_size) {
    cs_tar *tar = calloc(1, sizeof *tar);
    if (!tar || !(tar->archive = new_reader(kind))) { free(tar); snprintf(error, error_size, "out of memory"); return NULL; }
    return finish_open(tar, archive_read_open_fd(tar->archive, fd, 65536), error, error_size);
}

// False (with the reason kept) once `tar` handed out more than its source allows.
static int within_expansion(cs_tar *tar, size_t more) {
    tar->expanded += more;
    uint64_t source = (uint64_t)archive_filter_bytes(tar->archive, -1);
    if (tar->expanded <= CS_EXPANSION_FLOOR || tar->expanded / CS_EXPANSION_RATIO <= source) return 1;
    snprintf(tar->failure, sizeof tar->failure,
             "expands more than %d times its compressed size (a decompression bomb?): not read past %llu bytes",
             CS_EXPANSION_RATIO, (unsigned long long)tar->expanded);
    return 0;
}

static la_ssize_t nested_read(struct archive *a, void *context, const void **block) {
    cs_tar *tar = context;
    if (!tar->prefix_given) {
        tar->prefix_given = 1;
        if (tar->prefix_size) { *block = tar->prefix; return (la_ssize_t)tar->prefix_size; }
    }
    // The outer entry's blocks as they are; its holes (if sparse) as zeros, since a nested
    // archive is read as a byte stream.
    cs_tar *outer = tar->outer;
    const void *data;
    size_t size;
    la_int64_t offset;
    int status = archive_read_data_block(outer->archive, &data, &size, &offset);
    if (status == ARCHIVE_EOF) return 0;
    if (status != ARCHIVE_OK && status != ARCHIVE_WARN) {
        archive_set_error(a, EIO, "%s", cs_tar_error(outer));
        return -1;
    }
    if (!within_expansion(outer, size)) {
        archive_set_error(a, EFBIG, "%s", outer->failure);
        return -1;
    }
    (void)offset;
    *block = data;
    return (la_ssize_t)size;
}

cs_tar *cs_tar_open_nested(cs_tar *outer, const uint8_t *prefix, size_t prefix_size, int kind, char *error, size_t error_size) {
    cs_tar *tar = calloc(1, sizeof *tar);
    if (!tar || !(tar->archive = new_reader(kind))) { free(tar); snprintf(error, error_size, "out of memory"); return NULL; }
    tar->outer = outer;
    // The caller keeps `prefix` alive and unchanged while the nested archive is open.
    tar->prefix = prefix;
    tar->prefix_size = prefix_size;
    return finish_open(tar, archive_read_open(tar->archive, tar, NULL, nested_read, NULL), error, error_size);
}

int cs_tar_next(cs_tar *tar, const char **path, int64_t *size, char *type) {
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

int cs_tar_read_block(cs_tar *tar, const void **block, size_t *size, int64_t *offset) {
    la_int64_t at = 0;
    int status = archive_read_data_block(tar->archive, block, size, &at);
    if (status == ARCHIVE_EOF) return 0;
    if (status != ARCHIVE_OK && status != ARCHIVE_WARN) return -1;
    if (!within_expansion(tar, *size)) return -1;
    *offset = at;
    return 1;
}

int cs_tar_is_raw(cs_tar *tar) {
    return archive_format(tar->archive) == ARCHIVE_FORMAT_RAW;
}

const char *cs_tar_error(cs_tar *tar) {
    if (tar->failure[0]) return tar->failure;
    const char *message = archive_error_string(tar->archive);
    return message ? message : "corrupt or truncated archive";
}

void cs_tar_close(cs_tar *tar) {
    if (!tar) return;
    archive_read_free(tar->archive);
    free(tar);
}
