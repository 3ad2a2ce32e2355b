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
    // The outer entry's next offset, for the zeros of its holes (nested readers).
    int64_t expected;
    // Bytes read from the source already counted in the scan's budget (outermost readers).
    uint64_t source_counted;
    // Bytes of entries handed out (to the caller, or to an archive nested inside): checked
    // against the bytes read from the source (CS_EXPANSION_RATIO).
    uint64_t expanded;
    // A nested reader's block still to hand out, after `zeros_left` zeros of a hole.
    const void *pending;
    size_t pending_size;
    uint64_t zeros_left;
    struct archive_entry *entry; // the current one
    // The current entry's declared size (for a hole at its end).
    int64_t entry_size;
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

// The scan's budget, over every archive it opens: what all of them hand out may exceed what
// was read from the files they came from only by CS_EXPANSION_RATIO times, past a floor. One
// budget, not one per archive: 200 nested bombs of 1 GiB each in a file of 3 KB stay bounded,
// and so do 30,000 small bombs in a folder.
static uint64_t budget_expanded, budget_source;

void cs_budget_reset(void) {
    budget_expanded = 0;
    budget_source = 0;
}

// False (with the reason kept) once the scan's archives handed out more than their sources allow.
static int within_expansion(cs_tar *tar, size_t more) {
    cs_tar *root = tar;
    while (root->outer) root = root->outer;
    uint64_t source = (uint64_t)archive_filter_bytes(root->archive, -1);
    if (source > root->source_counted) {
        budget_source += source - root->source_counted;
        root->source_counted = source;
    }
    budget_expanded += more;
    if (budget_expanded <= CS_EXPANSION_FLOOR || budget_expanded / CS_EXPANSION_RATIO <= budget_source) return 1;
    snprintf(tar->failure, sizeof tar->failure,
             "the scan's archives expand more than %d times their compressed size (a decompression bomb?): not read further",
             CS_EXPANSION_RATIO);
    return 0;
}

static const uint8_t zeros[65536];

// The next block for a nested reader: zeros of a hole first, then the pending data.
static la_ssize_t hand_out(struct archive *a, cs_tar *tar, const void **block) {
    size_t size;
    if (tar->zeros_left) {
        size = tar->zeros_left < sizeof zeros ? (size_t)tar->zeros_left : sizeof zeros;
        tar->zeros_left -= size;
        *block = zeros;
    } else {
        size = tar->pending_size;
        *block = tar->pending;
        tar->pending_size = 0;
    }
    if (!within_expansion(tar->outer, size)) {
        archive_set_error(a, EFBIG, "%s", tar->outer->failure);
        return -1;
    }
    return (la_ssize_t)size;
}

static la_ssize_t nested_read(struct archive *a, void *context, const void **block) {
    cs_tar *tar = context;
    if (!tar->prefix_given) {
        tar->prefix_given = 1;
        if (tar->prefix_size) { *block = tar->prefix; return (la_ssize_t)tar->prefix_size; }
    }
    // The outer entry's blocks as they are, and its holes (if sparse) as the zeros they read
    // as: a nested archive is a byte stream, and a hole dropped would shift it (Go's tar
    // reader, and so `docker load`, fills holes with zeros too).
    cs_tar *outer = tar->outer;
    if (tar->pending_size) return hand_out(a, tar, block);
    const void *data;
    size_t size;
    la_int64_t offset;
    int status = archive_read_data_block(outer->archive, &data, &size, &offset);
    if (status == ARCHIVE_EOF) {
        // A hole at the end: zeros up to the entry's size.
        int64_t end = outer->entry_size;
        if (end > tar->expected) {
            tar->pending = NULL;
            tar->pending_size = 0;
            tar->zeros_left = (uint64_t)(end - tar->expected);
            tar->expected = end;
            return hand_out(a, tar, block);
        }
        return 0;
    }
    if (status != ARCHIVE_OK && status != ARCHIVE_WARN) {
        archive_set_error(a, EIO, "%s", cs_tar_error(outer));
        return -1;
    }
    tar->zeros_left = offset > tar->expected ? (uint64_t)(offset - tar->expected) : 0;
    tar->pending = data;
    tar->pending_size = size;
    tar->expected = offset + (int64_t)size;
    return hand_out(a, tar, block);
}

cs_tar *cs_tar_open_nested(cs_tar *outer, const uint8_t *prefix, size_t prefix_size, int kind, char *error, size_t error_size) {
    cs_tar *tar = calloc(1, sizeof *tar);
    if (!tar || !(tar->archive = new_reader(kind))) { free(tar); snprintf(error, error_size, "out of memory"); return NULL; }
    tar->outer = outer;
    // The caller keeps `prefix` alive and unchanged while the nested archive is open.
    tar->prefix = prefix;
    tar->prefix_size = prefix_size;
    // The prefix came in contiguous blocks from the entry's start (the caller's sniffing).
    tar->expected = (int64_t)prefix_size;
    return finish_open(tar, archive_read_open(tar->archive, tar, NULL, nested_read, NULL), error, error_size);
}

int cs_tar_next(cs_tar *tar, const char **path, const char **link, int64_t *size, char *type) {
    struct archive_entry *entry;
    int status = archive_read_next_header(tar->archive, &entry);
    if (status == ARCHIVE_EOF) return 0;
    if (status != ARCHIVE_OK && status != ARCHIVE_WARN) return -1;
    tar->entry = entry;
    *path = archive_entry_pathname(entry);
    if (!*path) *path = "";
    *size = archive_entry_size(entry);
    tar->entry_size = *size;
    *link = archive_entry_symlink(entry);
    if (!*link) *link = archive_entry_hardlink(entry);
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

int cs_tar_xattr(cs_tar *tar, int first, const char **name, const void **value, size_t *size) {
    struct archive_entry *entry = tar->entry;
    if (!entry) return 0;
    if (first) archive_entry_xattr_reset(entry);
    return archive_entry_xattr_next(entry, name, value, size) == ARCHIVE_OK;
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
