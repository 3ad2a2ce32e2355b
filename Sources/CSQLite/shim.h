#pragma once
#include <sqlite3.h>

// SQLITE_TRANSIENT is a cast macro Swift cannot import: SQLite copies the bound bytes.
static inline int cs_bind_blob(sqlite3_stmt *s, int i, const void *p, int n) {
    return sqlite3_bind_blob(s, i, p, n, SQLITE_TRANSIENT);
}
static inline int cs_bind_text(sqlite3_stmt *s, int i, const char *p, int n) {
    return sqlite3_bind_text(s, i, p, n, SQLITE_TRANSIENT);
}

// SQLite pre-allocates 20 pages of cache in one block on a connection's first read and touches
// each one: on `run`'s path that is some 40 page faults for a store of a few pages. Must be
// called before the first connection opens (sqlite3_config is variadic: Swift cannot call it).
static inline void cs_disable_bulk_page_cache(void) {
    sqlite3_config(SQLITE_CONFIG_PAGECACHE, (void *)0, 0, 0);
}
