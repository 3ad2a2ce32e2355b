import CSQLite

/// A minimal wrapper over SQLite's C API: one connection, prepared statements, typed errors.
/// (GRDB would add Foundation and a dispatch thread to `run`'s start-up.)
final class Database {
    private let handle: OpaquePointer

    /// Once per process, before the first connection.
    private static let configured: Void = cs_configure_for_short_reads()

    init(path: String, readOnly: Bool) throws(StoreError) {
        _ = Self.configured
        var db: OpaquePointer?
        let flags = (readOnly ? SQLITE_OPEN_READONLY : SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE)
            | SQLITE_OPEN_NOMUTEX | SQLITE_OPEN_NOFOLLOW
        let status = sqlite3_open_v2(path, &db, flags, nil)
        guard status == SQLITE_OK, let db else {
            let why = db.map { String(cString: sqlite3_errmsg($0)) } ?? String(cString: sqlite3_errstr(status))
            if let db { sqlite3_close_v2(db) }
            throw .database("cannot open \(path): \(why)")
        }
        handle = db
        // Many processes may write at once; a writer waits its turn instead of failing.
        // Two minutes: with eight writers committing durably on a loaded machine (the test
        // suite's own load), a writer was seen to wait past 30 s for its turn.
        sqlite3_busy_timeout(db, 120_000)
    }

    deinit { sqlite3_close_v2(handle) }

    func execute(_ sql: String) throws(StoreError) {
        var message: UnsafeMutablePointer<CChar>?
        if sqlite3_exec(handle, sql, nil, nil, &message) != SQLITE_OK {
            let why = message.map { String(cString: $0) } ?? lastError
            sqlite3_free(message)
            throw .database(why)
        }
    }

    func prepare(_ sql: String) throws(StoreError) -> Statement {
        var statement: OpaquePointer?
        guard sqlite3_prepare_v2(handle, sql, -1, &statement, nil) == SQLITE_OK, let statement else {
            throw .database(lastError)
        }
        return Statement(statement, database: self)
    }

    /// Runs `body` in an IMMEDIATE transaction (the write lock is taken up front, so two
    /// writers never deadlock upgrading read locks); rolls back if it throws.
    func writeTransaction<T>(_ body: () throws(StoreError) -> T) throws(StoreError) -> T {
        try execute("BEGIN IMMEDIATE")
        do {
            let result = try body()
            try execute("COMMIT")
            return result
        } catch {
            try? execute("ROLLBACK")
            throw error
        }
    }

    /// The first `count` bytes of the database file, read through SQLite's own descriptor; nil
    /// for a shorter file or a read error. Never open the database file a second time in a
    /// process that has it open in SQLite: closing that descriptor drops all of the process's
    /// POSIX locks on the file, SQLite's included (`cs_read_main_file`).
    func fileHeader(_ count: Int) -> [UInt8]? {
        var bytes = [UInt8](repeating: 0, count: count)
        let status = bytes.withUnsafeMutableBytes { cs_read_main_file(handle, $0.baseAddress, Int32(count)) }
        return status == SQLITE_OK ? bytes : nil
    }

    /// Copies the whole database into `destination` (a database file, usually new and empty)
    /// with SQLite's online backup API, in one step inside one read transaction of this
    /// connection: a consistent snapshot, taken while writers wait their turn (the busy timeout
    /// applies to taking the shared lock). The destination's commit is SQLite's own, durable.
    func backup(into destination: Database) throws(StoreError) {
        try execute("BEGIN")
        defer { try? execute("COMMIT") }
        // The shared lock, taken now (BEGIN alone takes none), under the busy timeout.
        let lock = try prepare("SELECT count(*) FROM sqlite_master")
        try lock.bind([])
        _ = try lock.step()
        guard let backup = sqlite3_backup_init(destination.handle, "main", handle, "main") else {
            throw .database("backup: \(destination.lastError)")
        }
        let status = sqlite3_backup_step(backup, -1)
        let finished = sqlite3_backup_finish(backup)
        guard status == SQLITE_DONE, finished == SQLITE_OK else {
            throw .database("backup: \(String(cString: sqlite3_errstr(status == SQLITE_DONE ? finished : status)))")
        }
    }

    var lastError: String { String(cString: sqlite3_errmsg(handle)) }
    var lastErrorCode: Int32 { sqlite3_extended_errcode(handle) }
}

/// A prepared statement with positional parameters (1-based, as SQLite counts).
final class Statement {
    private let handle: OpaquePointer
    private let database: Database

    fileprivate init(_ handle: OpaquePointer, database: Database) {
        self.handle = handle
        self.database = database
    }

    deinit { sqlite3_finalize(handle) }

    func bind(_ values: [Value]) throws(StoreError) {
        sqlite3_reset(handle)
        sqlite3_clear_bindings(handle)
        for (offset, value) in values.enumerated() {
            let index = Int32(offset + 1)
            let status: Int32
            switch value {
            case .integer(let n): status = sqlite3_bind_int64(handle, index, n)
            case .text(let s): status = cs_bind_text(handle, index, s, -1)
            case .blob(let bytes):
                status = bytes.withUnsafeBytes { cs_bind_blob(handle, index, $0.baseAddress, Int32($0.count)) }
            }
            if status != SQLITE_OK { throw .database(database.lastError) }
        }
    }

    /// Steps once: true while there is a row to read.
    func step() throws(StoreError) -> Bool {
        switch sqlite3_step(handle) {
        case SQLITE_ROW: return true
        case SQLITE_DONE: return false
        default:
            throw .database(database.lastError)
        }
    }

    func run(_ values: [Value] = []) throws(StoreError) {
        try bind(values)
        while try step() {}
    }

    func int(_ column: Int32) -> Int64 { sqlite3_column_int64(handle, column) }

    func text(_ column: Int32) -> String {
        guard let pointer = sqlite3_column_text(handle, column) else { return "" }
        return String(cString: pointer)
    }

    /// The column's bytes, valid only during `body` (SQLite's own buffer, not a copy).
    func withBlob<T>(_ column: Int32, _ body: (UnsafeRawBufferPointer) throws(StoreError) -> T) throws(StoreError) -> T {
        let count = Int(sqlite3_column_bytes(handle, column))
        return try body(UnsafeRawBufferPointer(start: count > 0 ? sqlite3_column_blob(handle, column) : nil, count: count))
    }

    enum Value {
        case integer(Int64)
        case text(String)
        case blob([UInt8])
    }
}
