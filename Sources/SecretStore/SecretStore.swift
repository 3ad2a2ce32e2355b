import Glibc
import Namespaces

/// The encrypted secrets store: an SQLite database (atomic, durable, safe under many concurrent
/// processes) whose every value is sealed with AES-256-GCM under the master key.
///
/// It keeps SQLite's rollback journal rather than WAL: writes are rare and short, and a reader
/// (every `run`) then costs an open, a shared lock and a few page reads, where WAL would make
/// it build the shared-memory index afresh each time (about 40 syscalls).
///
/// The local `SecretSource`. The database is the one truth for values and metadata; `launch/`
/// is this class's private cache of the sealed rows, by name, which `run` reads without SQLite
/// while it provably agrees with the database (LaunchIndex). This class is the only writer of
/// both, and every change goes to the database first.
public final class SecretStore: SecretSource {
    public let location: StoreLocation
    /// Opened on first use by a reader: `run` usually needs only the launch index.
    var database: Database?
    let index: LaunchIndex
    var cachedKey: [UInt8]?
    /// Whether the key was checked against the store (`KeyCheck`) and found to be its own.
    private var keyChecked = false
    /// Whether this store made its key file (a `create` on a store that had none): the command
    /// says once where the key is, since it needs a backup of its own.
    public private(set) var createdKey = false

    static let schemaVersion: Int64 = 1

    private init(location: StoreLocation, database: Database?) {
        self.location = location
        self.database = database
        index = LaunchIndex(location)
    }

    deinit {
        if cachedKey != nil { wipe(&cachedKey!) }
    }

    /// Opens the store for changes, creating its root (0700), database and key on first use.
    /// With `creating` false (`secret rm`), a root that does not exist is `.noStore` and a
    /// missing database an empty store: removing makes nothing.
    public static func openForWriting(_ location: StoreLocation, creating: Bool = true) throws(StoreError) -> SecretStore {
        if creating {
            do {
                try Files.makeDirectories(location.root, mode: 0o700)
            } catch {
                throw .system(error)
            }
        } else {
            guard Files.exists(location.root) else { throw .noStore(location.root) }
            guard Files.exists(location.databasePath) else { return SecretStore(location: location, database: nil) }
        }
        let previousMask = umask(0o077)
        defer { umask(previousMask) }
        if Files.exists(location.databasePath) { try requireRegularDatabase(location.databasePath) }
        let database = try Database(path: location.databasePath, readOnly: false)
        try database.execute("PRAGMA synchronous=FULL")
        if try userVersion(database) != schemaVersion {
            try createSchema(database)
        }
        return SecretStore(location: location, database: database)
    }

    /// Opens the store only to read: never creates anything, and works on a read-only mount
    /// (e.g. a store bind-mounted into a container). Nothing is opened yet (`run` usually reads
    /// only `launch/`); the first read fails with `.noStore` if the root does not exist, and
    /// finds an empty store if the root has no database yet.
    public static func openForReading(_ location: StoreLocation) throws(StoreError) -> SecretStore {
        SecretStore(location: location, database: nil)
    }

    /// Opens the database, if there is one, and refuses a key that is not the store's
    /// (`.keyMissing`, `.keyMismatch`; `KeyCheck`) or a root that does not exist (`.noStore`).
    /// What every command but `run` calls first, so that its refusal is one line.
    public func checkKey() throws(StoreError) {
        _ = try connection()
    }

    /// The database, opened read-only on first use, its key checked; nil if the root has no
    /// database yet. With the rollback journal a read-only mount needs nothing more (a shared
    /// lock works on a read-only descriptor).
    func connection() throws(StoreError) -> Database? {
        if let database {
            try checkKeyOnce(database)
            return database
        }
        guard Files.exists(location.databasePath) else {
            guard Files.exists(location.root) else { throw .noStore(location.root) }
            return nil
        }
        try Self.requireRegularDatabase(location.databasePath)
        let opened = try Self.openToRead(location.databasePath)
        database = opened
        try checkKeyOnce(opened)
        return opened
    }

    /// Reading: a store with secrets needs its own key; an empty one needs none.
    private func checkKeyOnce(_ database: Database) throws(StoreError) {
        if keyChecked { return }
        guard Files.exists(location.keyFile) else {
            if try KeyCheck.hasRows(database) { throw .keyMissing(store: location.root, keyFile: location.keyFile) }
            return
        }
        guard try KeyCheck.accepts(try key(create: false), in: database) || adoptRotatedKey(database) else {
            throw .keyMismatch(store: location.root, keyFile: location.keyFile)
        }
        keyChecked = true
    }

    /// The key for a change, checked before anything is written: refused when the store holds
    /// secrets and the key file is missing or not its own. A store without secrets gets a new
    /// key if it has none and `mayCreate` (`createdKey`).
    func keyForChange(_ database: Database, mayCreate: Bool) throws(StoreError) -> [UInt8] {
        if !Files.exists(location.keyFile) {
            if try KeyCheck.hasRows(database) { throw .keyMissing(store: location.root, keyFile: location.keyFile) }
            if mayCreate, try MasterKey.create(location.keyFile) { createdKey = true }
        }
        guard try KeyCheck.accepts(try key(create: false), in: database) || adoptRotatedKey(database) else {
            throw .keyMismatch(store: location.root, keyFile: location.keyFile)
        }
        return try key(create: false)
    }

    /// Inside a change's write transaction: the key checked again (another process may have
    /// changed the store since `keyForChange`, a `key rotate` included), and the store's key
    /// check written if it needs one. The key to seal with: `key`, or the rotated one.
    func recordKeyCheck(_ key: [UInt8], in database: Database) throws(StoreError) -> [UInt8] {
        var key = key
        if try !KeyCheck.accepts(key, in: database) {
            guard adoptRotatedKey(database) else { throw .keyMismatch(store: location.root, keyFile: location.keyFile) }
            key = try self.key(create: false)
        }
        try KeyCheck.record(key, in: database)
        return key
    }

    // MARK: - Reading

    public func list() throws(StoreError) -> [SecretRecord] {
        guard let database = try connection() else { return [] }
        var labels: [String: [SecretRecord.Label]] = [:]
        let labelQuery = try database.prepare("SELECT secret_id, key, value FROM labels ORDER BY secret_id, key")
        try labelQuery.bind([])
        while try labelQuery.step() {
            labels[labelQuery.text(0), default: []].append(.init(key: labelQuery.text(1), value: labelQuery.text(2)))
        }
        let query = try database.prepare(
            "SELECT id, name, version, created_ns, updated_ns FROM secrets ORDER BY name")
        try query.bind([])
        var records: [SecretRecord] = []
        while try query.step() {
            records.append(Self.record(query, labels: labels[query.text(0)] ?? []))
        }
        return records
    }

    /// Finds a secret as Docker does: by full ID, then by exact name, then by unique ID prefix.
    public func find(_ reference: String) throws(StoreError) -> SecretRecord {
        guard let database = try connection(), !reference.isEmpty else { throw notFound(reference) }
        let columns = "SELECT id, name, version, created_ns, updated_ns FROM secrets"
        for sql in ["\(columns) WHERE id = ?1", "\(columns) WHERE name = ?1"] {
            let query = try database.prepare(sql)
            try query.bind([.text(reference)])
            if try query.step() { return Self.record(query, labels: try labels(of: query.text(0))) }
        }
        if SecretID.isWellFormedPrefix(reference) {
            let query = try database.prepare("\(columns) WHERE substr(id, 1, length(?1)) = ?1 LIMIT 2")
            try query.bind([.text(reference)])
            if try query.step() {
                let found = Self.record(query, labels: try labels(of: query.text(0)))
                if try query.step() { throw .ambiguous(reference) }
                return found
            }
        }
        throw notFound(reference)
    }

    private func notFound(_ reference: String) -> StoreError { .notFound(reference, store: location.root) }

    /// The decrypted value. The caller owns the bytes and should `wipe` them when done.
    public func value(of record: SecretRecord) throws(StoreError) -> [UInt8] {
        guard let database = try connection() else { throw notFound(record.name) }
        let query = try database.prepare("SELECT sealed FROM secrets WHERE id = ?1")
        try query.bind([.text(record.id)])
        guard try query.step() else { throw notFound(record.name) }
        return try Self.open(query, column: 0, of: record, key: try key(create: false))
    }

    /// Decrypts the sealed column of `record`'s row straight from SQLite's buffer (no copy of
    /// the sealed bytes).
    private static func open(_ row: Statement, column: Int32, of record: SecretRecord, key: [UInt8]) throws(StoreError) -> [UInt8] {
        let data = Sealing.associatedData(id: record.id, name: record.name, version: record.version)
        return try row.withBlob(column) { (sealed) throws(StoreError) in
            try Sealing.open(sealed, key: key, associatedData: data, name: record.name)
        }
    }

    /// `SecretSource.read`. A name goes through the launch index while it agrees with the
    /// database; anything else (an ID, an ID prefix, a name the index does not vouch for)
    /// through SQLite, one prepared statement in one read transaction for all of them.
    public func read(_ references: [String], each: (SecretRecord, inout [UInt8]) -> Void) throws(StoreError) {
        guard !references.isEmpty else { return }
        var key: [UInt8]
        do {
            key = try self.key(create: false)
        } catch {
            // Without its key file, say what the store says: no store, a store that lost its
            // key, or one with no secrets (and so not this one).
            guard Files.exists(location.keyFile) else {
                _ = try connection()
                throw notFound(references[0])
            }
            throw error
        }
        let indexed = index.isCurrent(database)
        var lookup: BatchedLookup?
        defer { lookup?.finish() }
        for reference in references {
            // A key that opens a record is the store's; a key that is not is refused when SQLite
            // is opened (`connection`), so `run`'s usual path checks nothing more.
            if indexed, index.read(reference, key: key, found: each) { continue }
            if lookup == nil {
                guard let database = try connection() else { throw notFound(reference) }
                // The key the connection accepted: a `key rotate` since it was read is adopted.
                key = try self.key(create: false)
                lookup = try BatchedLookup(database, batched: references.count > 1)
            }
            if try !lookup!.find(reference, key: key, found: each) {
                // An ID prefix: rare, so the general path.
                let record = try find(reference)
                var value = try value(of: record)
                each(record, &value)
                wipe(&value)
            }
        }
    }

    /// SQLite's side of `read`: one prepared statement for all the references it is asked,
    /// in one read transaction (one shared lock and one hot-journal check, not one per lookup).
    private struct BatchedLookup {
        let database: Database
        let query: Statement
        let batched: Bool

        init(_ database: Database, batched: Bool) throws(StoreError) {
            self.database = database
            self.batched = batched
            // Two index lookups and no sort: an ORDER BY here would build a temporary B-tree, with
            // its own pager and cache, on every launch.
            query = try database.prepare(
                "SELECT id, name, version, created_ns, updated_ns, sealed FROM secrets WHERE id = ?1 OR name = ?1")
            if batched { try database.execute("BEGIN") }
        }

        func finish() {
            if batched { try? database.execute("COMMIT") }
        }

        /// Hands `found` the secret whose ID or else name is `reference` (both 25 base-36
        /// characters may match two rows: the ID wins, as in `find`); false if there is none.
        func find(_ reference: String, key: [UInt8], found report: (SecretRecord, inout [UInt8]) -> Void) throws(StoreError) -> Bool {
            try query.bind([.text(reference)])
            var found: SecretRecord?
            var value: [UInt8] = []
            while try query.step() {
                let record = SecretStore.record(query, labels: [])
                guard found == nil || record.id == reference else { continue }
                found = record
                wipe(&value)
                value = try SecretStore.open(query, column: 5, of: record, key: key)
            }
            guard let record = found else { return false }
            report(record, &value)
            wipe(&value)
            return true
        }
    }

    // MARK: - Changing

    public func create(
        name: String, value: [UInt8], labels: [SecretRecord.Label] = []
    ) throws(StoreError) -> SecretRecord {
        try SecretRules.validateName(name)
        try SecretRules.validateSize(value.count)
        guard let database else { throw .database("store is open read-only") }
        // Before anything is written, `launch/` included.
        let key = try keyForChange(database, mayCreate: true)
        let writer = try LaunchIndexWriter(index)
        defer { writer.close() }
        var before: LaunchIndex.Stamp?
        var sealed: [UInt8] = []
        let record = try database.writeTransaction { () throws(StoreError) -> SecretRecord in
            before = try writer.stampBeforeChange(database)
            let key = try recordKeyCheck(key, in: database)
            let existing = try database.prepare("SELECT 1 FROM secrets WHERE name = ?1")
            try existing.bind([.text(name)])
            if try existing.step() { throw .duplicateName(name) }

            try database.prepare("UPDATE meta SET value = value + 1 WHERE key = 'index'").run()
            let index = try database.prepare("SELECT value FROM meta WHERE key = 'index'")
            try index.bind([])
            guard try index.step() else { throw .corrupt("the meta table has no index") }
            let version = index.int(0)

            let id = SecretID.generate()
            let now = System.nowNanoseconds()
            sealed = try Sealing.seal(
                value, key: key, associatedData: Sealing.associatedData(id: id, name: name, version: version))
            try database.prepare(
                "INSERT INTO secrets (id, name, version, created_ns, updated_ns, sealed) VALUES (?1, ?2, ?3, ?4, ?4, ?5)"
            ).run([.text(id), .text(name), .integer(version), .integer(now), .blob(sealed)])
            let insertLabel = try database.prepare("INSERT OR REPLACE INTO labels (secret_id, key, value) VALUES (?1, ?2, ?3)")
            for label in labels {
                try insertLabel.run([.text(id), .text(label.key), .text(label.value)])
            }
            return SecretRecord(
                id: id, name: name, version: version, createdAt: now, updatedAt: now,
                labels: labels.sorted { $0.key < $1.key })
        }
        writer.bringInLine(database, before: before, added: (record, sealed))
        return record
    }

    /// Removes a secret unless a live workload holds it (stale leases are swept, never block).
    /// The check and the delete happen under the state dir's exclusive lock, which a starting
    /// `run` takes (shared) to record its lease before it reads: no workload can get the value
    /// between the check and the delete.
    public func remove(_ record: SecretRecord, leases: LeaseBook) throws(StoreError) {
        guard let database else { throw notFound(record.name) }
        let key = try keyForChange(database, mayCreate: false)
        try leases.removing(record) { () throws(StoreError) in try delete(record, from: database, key: key) }
    }

    private func delete(_ record: SecretRecord, from database: Database, key: [UInt8]) throws(StoreError) {
        let writer = try LaunchIndexWriter(index)
        defer { writer.close() }
        try writer.removeEntry(record.name)
        var before: LaunchIndex.Stamp?
        try database.writeTransaction { () throws(StoreError) in
            before = try writer.stampBeforeChange(database)
            _ = try recordKeyCheck(key, in: database)
            try database.prepare("DELETE FROM labels WHERE secret_id = ?1").run([.text(record.id)])
            try database.prepare("DELETE FROM secrets WHERE id = ?1").run([.text(record.id)])
        }
        writer.bringInLine(database, before: before, added: nil)
    }

    // MARK: - Internals

    /// A read-only connection, unless a writer was killed mid-commit: its hot journal must be
    /// rolled back before anyone reads, which a read-only connection cannot do (SQLite refuses
    /// every read with SQLITE_READONLY_ROLLBACK, and the store stayed unreadable to `run` and
    /// `ls` until the next change). A process that may write the file then opens it read-write,
    /// whose first read rolls the journal back. On a read-only mount the refusal stands.
    static func openToRead(_ path: String) throws(StoreError) -> Database {
        let database = try Database(path: path, readOnly: true)
        do {
            try database.execute("SELECT 1 FROM sqlite_master LIMIT 1")
            return database
        } catch {
            // SQLITE_READONLY_ROLLBACK, (SQLITE_READONLY | (3 << 8)): a macro Swift does not import.
            guard database.lastErrorCode == 776, Files.isAccessible(path, W_OK) else { throw error }
        }
        let writable = try Database(path: path, readOnly: false)
        try writable.execute("SELECT 1 FROM sqlite_master LIMIT 1")
        return writable
    }

    /// SQLite would open a FIFO put in the database's place and block on it for ever.
    static func requireRegularDatabase(_ path: String) throws(StoreError) {
        let st: stat
        do { st = try Files.linkStatus(path) } catch { throw .system(error) }
        guard st.st_mode & S_IFMT == S_IFREG else { throw .corrupt("\(path) is not a regular file") }
    }

    func key(create: Bool) throws(StoreError) -> [UInt8] {
        if let cachedKey { return cachedKey }
        let key = try MasterKey.load(location.keyFile, createIfMissing: create)
        cachedKey = key
        return key
    }

    private func labels(of id: String) throws(StoreError) -> [SecretRecord.Label] {
        guard let database = try connection() else { return [] }
        let query = try database.prepare("SELECT key, value FROM labels WHERE secret_id = ?1 ORDER BY key")
        try query.bind([.text(id)])
        var labels: [SecretRecord.Label] = []
        while try query.step() { labels.append(.init(key: query.text(0), value: query.text(1))) }
        return labels
    }

    static func record(_ row: Statement, labels: [SecretRecord.Label]) -> SecretRecord {
        SecretRecord(
            id: row.text(0), name: row.text(1), version: row.int(2), createdAt: row.int(3),
            updatedAt: row.int(4), labels: labels)
    }

    static func userVersion(_ database: Database) throws(StoreError) -> Int64 {
        let query = try database.prepare("PRAGMA user_version")
        try query.bind([])
        guard try query.step() else { throw .corrupt("no schema version") }
        return query.int(0)
    }

    private static func createSchema(_ database: Database) throws(StoreError) {
        try database.writeTransaction { () throws(StoreError) in
            guard try userVersion(database) != schemaVersion else { return }
            try database.execute(
                """
                CREATE TABLE IF NOT EXISTS secrets (
                    id TEXT PRIMARY KEY NOT NULL,
                    name TEXT NOT NULL UNIQUE,
                    version INTEGER NOT NULL,
                    created_ns INTEGER NOT NULL,
                    updated_ns INTEGER NOT NULL,
                    sealed BLOB NOT NULL
                );
                CREATE TABLE IF NOT EXISTS labels (
                    secret_id TEXT NOT NULL,
                    key TEXT NOT NULL,
                    value TEXT NOT NULL,
                    PRIMARY KEY (secret_id, key)
                );
                CREATE TABLE IF NOT EXISTS meta (key TEXT PRIMARY KEY NOT NULL, value INTEGER NOT NULL);
                CREATE TABLE IF NOT EXISTS key_check (sealed BLOB NOT NULL);
                INSERT OR IGNORE INTO meta (key, value) VALUES ('index', 0);
                PRAGMA user_version = \(schemaVersion);
                """)
        }
    }
}

extension SecretID {
    package static func isWellFormedPrefix(_ text: String) -> Bool {
        !text.isEmpty && text.utf8.count <= length
            && text.utf8.allSatisfy(isIDCharacter)
    }
}
