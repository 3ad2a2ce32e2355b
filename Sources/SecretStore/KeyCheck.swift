import Namespaces

/// Which key a store belongs to, kept in the store itself: a random 32-byte token sealed under
/// the master key (AES-256-GCM, the rows' own cipher; its associated data names it a key check,
/// so it can be taken for no row), in the one-row table `key_check`. A key that opens it is the
/// store's. It holds nothing secret: the token is random and never used for anything else.
///
/// Without it, a `secrets.db` restored without its `master.key` (or given another key) took a
/// new key on the next `secret create`, and the store held rows under two keys, the older ones
/// lost. Now the store refuses, in one line, any key but its own while it holds secrets.
///
/// When it is written:
/// - with the first row of a new store, in the same transaction;
/// - for a store whose rows are all gone (nothing left to lose), anew under the key in use;
/// - for a store made before key checks, by the first change (create, rm) whose key opens every
///   row. A key that opens some rows but not others (a store that an older secretshim already
///   split between two keys) is used as before, but writes no check: the store cannot say which
///   key is its own, and a check would lock out the rows of the other key for good.
/// Until a store has a check, a key is taken as the store's when it opens one of its rows.
package enum KeyCheck {
    static let associatedData = Array("secretshim/key-check/v1".utf8)
    static let tokenBytes = 32

    /// A fresh check for `key`.
    package static func seal(key: [UInt8]) throws(StoreError) -> [UInt8] {
        var token = System.randomBytes(tokenBytes)
        defer { wipe(&token) }
        guard let sealed = AESGCM.seal(token, key: key, associatedData: associatedData) else {
            throw .corrupt("encryption failed")
        }
        return sealed
    }

    /// Whether `key` opens the sealed check.
    package static func opens(_ sealed: [UInt8], key: [UInt8]) -> Bool {
        guard var token = AESGCM.open(sealed, key: key, associatedData: associatedData) else { return false }
        wipe(&token)
        return true
    }

    /// The stored check; nil for a store without one (made before checks, or never written to).
    static func stored(in database: Database) throws(StoreError) -> [UInt8]? {
        // The table may not exist: a store made before checks, opened read-only.
        let table = try database.prepare("SELECT 1 FROM sqlite_master WHERE type = 'table' AND name = 'key_check'")
        try table.bind([])
        guard try table.step() else { return nil }
        let query = try database.prepare("SELECT sealed FROM key_check LIMIT 1")
        try query.bind([])
        guard try query.step() else { return nil }
        return try query.withBlob(0) { (sealed) throws(StoreError) in Array(sealed) }
    }

    static func hasRows(_ database: Database) throws(StoreError) -> Bool {
        let query = try database.prepare("SELECT 1 FROM secrets LIMIT 1")
        try query.bind([])
        return try query.step()
    }

    /// How many rows `key` opens and how many it does not, oldest first; with `untilOneOpens`,
    /// it stops at the first it opens (usually the first row).
    static func rows(_ database: Database, openedBy key: [UInt8], untilOneOpens: Bool) throws(StoreError) -> (opened: Int, failed: Int) {
        let query = try database.prepare("SELECT id, name, version, sealed FROM secrets ORDER BY version")
        try query.bind([])
        var opened = 0, failed = 0
        while try query.step() {
            let data = Sealing.associatedData(id: query.text(0), name: query.text(1), version: query.int(2))
            let opens = try query.withBlob(3) { (sealed) throws(StoreError) -> Bool in
                guard var value = AESGCM.open(sealed, key: key, associatedData: data) else { return false }
                wipe(&value)
                return true
            }
            if opens {
                opened += 1
                if untilOneOpens { break }
            } else {
                failed += 1
            }
        }
        return (opened, failed)
    }

    /// Whether `key` may be used on this store: it opens the check; or the store holds no
    /// secrets (an empty store has nothing a new key could lose); or, for a store without a
    /// check, it opens one of its rows. Reads only.
    static func accepts(_ key: [UInt8], in database: Database) throws(StoreError) -> Bool {
        if let check = try stored(in: database) {
            if opens(check, key: key) { return true }
            return try !hasRows(database)
        }
        guard try hasRows(database) else { return true }
        return try rows(database, openedBy: key, untilOneOpens: true).opened > 0
    }

    /// In a write transaction, once `accepts` said yes in it: gives the store a check for `key`
    /// unless it has one that `key` opens (see the type's notes for when it writes one).
    static func record(_ key: [UInt8], in database: Database) throws(StoreError) {
        if let check = try stored(in: database) {
            if opens(check, key: key) { return }
            // Another key's check over rows: never replaced (`accepts` refuses this key).
            guard try !hasRows(database) else { return }
        } else if try hasRows(database) {
            guard try rows(database, openedBy: key, untilOneOpens: false).failed == 0 else { return }
        }
        try write(key, in: database)
    }

    /// In a write transaction: the store's check becomes a fresh one for `key`, whatever was
    /// there (`record`, and `key rotate` once every row is re-sealed).
    static func write(_ key: [UInt8], in database: Database) throws(StoreError) {
        try database.execute(
            """
            CREATE TABLE IF NOT EXISTS key_check (sealed BLOB NOT NULL);
            DELETE FROM key_check;
            """)
        try database.prepare("INSERT INTO key_check (sealed) VALUES (?1)").run([.blob(try seal(key: key))])
    }
}
