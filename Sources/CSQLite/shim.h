#pragma once
#include <sqlite3.h>

// SQLITE_TRANSIENT is a cast macro Swift cannot import: SQLite copies the bound bytes.
static inline int cs_bind_blob(sqlite3_stmt *s, int i, const void *p, int n) {
    return sqlite3_bind_blob(s, i, p, n, SQLITE_TRANSIENT);
}
static inline int cs_bind_text(sqlite3_stmt *s, int i, const char *p, int n) {
    return sqlite3_bind_text(s, i, p, n, SQLITE_TRANSIENT);
}

// Process-wide settings for a short-lived process that reads a few rows, set before the first
// connection opens (sqlite3_config is variadic: Swift cannot call it):
// - no bulk page cache: SQLite would pre-allocate 20 pages in one block on a connection's first
//   read and touch each one (some 40 page faults on `run`'s path for a store of a few pages);
// - no lookaside: each connection would carve a 120 KB arena and walk all of it to build its
//   free list (30 page faults) to speed up allocations a short read never makes;
// - no memory statistics: a mutex and counters on every allocation.
static inline void cs_configure_for_short_reads(void) {
    sqlite3_config(SQLITE_CONFIG_PAGECACHE, (void *)0, 0, 0);
    sqlite3_config(SQLITE_CONFIG_LOOKASIDE, 0, 0);
    sqlite3_config(SQLITE_CONFIG_MEMSTATUS, 0);
}

// Reads `n` bytes at offset 0 of the main database file through SQLite's own descriptor.
// Opening the file again and closing that descriptor would drop every POSIX lock this process
// holds on the file, SQLite's included: fcntl locks belong to the process and the file, not to
// a descriptor (sqlite.org/howtocorrupt.html, 2.2). A writer would lose its RESERVED lock in the
// middle of its transaction, and a reader its SHARED lock. SQLITE_IOERR_SHORT_READ for a file
// shorter than `n` (the rest zero-filled).
static inline int cs_read_main_file(sqlite3 *db, void *buffer, int n) {
    sqlite3_file *file = 0;
    if (sqlite3_file_control(db, "main", SQLITE_FCNTL_FILE_POINTER, &file) != SQLITE_OK || !file || !file->pMethods) {
        return SQLITE_ERROR;
    }
    return file->pMethods->xRead(file, buffer, n, 0);
}
