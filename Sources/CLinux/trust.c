#define _GNU_SOURCE
#include "cl_trust.h"

#include <errno.h>
#include <limits.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

int cl_trusted_path(const char *path, char *out, size_t out_size, char *bad, size_t bad_size, unsigned *uid,
                    unsigned *mode) {
    char existing[PATH_MAX], real[PATH_MAX];
    size_t length = strlen(path);
    if (length == 0 || length >= sizeof existing || path[0] != '/') {
        errno = EINVAL;
        return -1;
    }
    memcpy(existing, path, length + 1);
    // The missing tail, as an offset into `path` where it starts (0: none missing).
    size_t missing = 0;
    while (!realpath(existing, real)) {
        if (errno != ENOENT) return -1;
        char *slash = strrchr(existing, '/');
        if (!slash || slash == existing) {
            if (strcmp(existing, "/") == 0) return -1;
            existing[1] = 0;
        } else {
            *slash = 0;
        }
        missing = strlen(existing);
        if (strcmp(existing, "/") == 0) missing = 0;
    }
    size_t real_length = strlen(real);
    char prefix[PATH_MAX];
    for (size_t i = 0; i <= real_length; i++) {
        if (i > 0 && real[i] != '/' && real[i] != 0) continue;
        size_t end = i == 0 ? 1 : i;
        memcpy(prefix, real, end);
        prefix[end] = 0;
        struct stat st;
        if (lstat(prefix, &st) != 0) return -1;
        int is_directory = S_ISDIR(st.st_mode);
        int others_write = (st.st_mode & 022) && !(st.st_mode & S_ISVTX);
        if (!is_directory || st.st_uid != 0 || others_write) {
            size_t n = strlen(prefix) < bad_size - 1 ? strlen(prefix) : bad_size - 1;
            memcpy(bad, prefix, n);
            bad[n] = 0;
            *uid = (unsigned)st.st_uid;
            *mode = (unsigned)st.st_mode;
            return -2;
        }
        if (real[i] == 0) break;
    }
    // real + the part of `path` past the existing ancestor.
    const char *tail = missing ? path + missing : (strcmp(existing, path) == 0 ? "" : path + strlen(existing));
    if (strcmp(real, "/") == 0 && tail[0] == '/') real[0] = 0;
    if (strlen(real) + strlen(tail) + 1 > out_size) {
        errno = ENAMETOOLONG;
        return -1;
    }
    strcpy(out, real);
    strcat(out, tail);
    if (out[0] == 0) strcpy(out, "/");
    return 0;
}
