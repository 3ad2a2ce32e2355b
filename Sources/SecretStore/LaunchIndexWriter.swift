import Glibc
import Namespaces

/// Keeps `launch/` in line with the database (LaunchIndex says why it exists and what `run`
/// trusts). One writer holds `launch/` open and locked for one change to the store: from
/// before the database write to after the index matches it.
struct LaunchIndexWriter {
    let index: LaunchIndex
    private let directory: FileDescriptor
    /// `synced` as it was when the lock was taken: no other writer of this kind moves it.
    private let synced: LaunchIndex.Stamp?

    /// Creates `launch/` (0700) if needed and takes its exclusive lock. The lock comes before
    /// SQLite's, in every writer, so two writers never wait on each other in opposite orders.
    init(_ index: LaunchIndex) throws(StoreError) {
        let fd: FileDescriptor
        do throws(SysError) {
            do { try Files.makeDirectory(index.directory, mode: 0o700) } catch where error.errno == EEXIST {}
            fd = try FileDescriptor.open(index.directory, O_RDONLY | O_DIRECTORY | O_NOFOLLOW)
            do { try fd.lock(LOCK_EX, path: index.directory) } catch {
                fd.close()
                throw error
            }
        } catch {
            throw .system(error)
        }
        self.index = index
        directory = fd
        synced = index.syncedStamp()
    }

    /// Releases the lock.
    func close() { directory.close() }

    /// The database's stamp now. Called first thing inside the write transaction, where no
    /// other process can commit.
    func stampBeforeChange(_ database: Database) throws(StoreError) -> LaunchIndex.Stamp? {
        let stamp = LaunchIndex.stamp(header: database.fileHeader(LaunchIndex.stampedHeaderSize))
        if stamp?.token == 0 {
            // The store's token, once: it tells this database from a copy of another store's.
            var token: UInt32 = 0
            while token == 0 {
                token = System.randomBytes(4).reduce(0) { $0 << 8 | UInt32($1) }
            }
            try database.execute("PRAGMA application_id = \(Int32(bitPattern: token))")
        }
        return stamp
    }

    /// Before rm deletes a row: its file goes first, and durably, so no crash leaves a file
    /// whose row is gone. A file that cannot be removed stops the rm.
    func removeEntry(_ name: String) throws(StoreError) {
        do throws(SysError) { try directory.removeEntry(name, path: index.directory + "/" + name) } catch {
            if error.errno != ENOENT { throw .system(error) }
        }
        try? directory.sync(path: index.directory)
    }

    /// After a committed change: in a read transaction (no one can commit meanwhile), either
    /// adds the one file this change needs, when the index matched the database just before
    /// it and this change was the only commit since, or rebuilds the whole index from the
    /// rows. Then records the stamp. A failure leaves `synced` older than the database, so
    /// `run` asks SQLite until the next change mends it: the change itself stands.
    func bringInLine(_ database: Database, before: LaunchIndex.Stamp?, added: (SecretRecord, [UInt8])?) {
        do {
            try database.execute("BEGIN")
            defer { try? database.execute("COMMIT") }
            let lock = try database.prepare("SELECT 1 FROM meta LIMIT 1")
            try lock.bind([])
            _ = try lock.step()
            guard let after = LaunchIndex.stamp(header: database.fileHeader(LaunchIndex.stampedHeaderSize)), after.token != 0 else { return }
            if let before, let synced, synced == before, after.token == before.token,
                after.counter == before.counter &+ 1
            {
                if let (record, sealed) = added {
                    let bytes = sealed.withUnsafeBytes { LaunchIndex.encode(record, sealed: $0) }
                    try write(record.name, bytes, durably: true)
                }
            } else {
                try rebuild(from: database)
            }
            try write(LaunchIndex.syncedName, Array("\(after.counter) \(after.token)\n".utf8), durably: true)
        } catch {
            return
        }
    }

    /// Makes the files exactly the rows: writes what is missing or different, removes the rest
    /// (leftover temporary files too), then flushes them all before `synced` may vouch for them.
    private func rebuild(from database: Database) throws {
        var names = Set<String>()
        let rows = try database.prepare("SELECT id, name, version, created_ns, updated_ns, sealed FROM secrets")
        try rows.bind([])
        while try rows.step() {
            let record = SecretRecord(
                id: rows.text(0), name: rows.text(1), version: rows.int(2), createdAt: rows.int(3),
                updatedAt: rows.int(4), labels: [])
            let bytes = try rows.withBlob(5) { sealed throws(StoreError) in LaunchIndex.encode(record, sealed: sealed) }
            names.insert(record.name)
            if LaunchIndex.readFile(index.directory + "/" + record.name, limit: bytes.count) != bytes {
                try write(record.name, bytes, durably: false)
            }
        }
        for entry in Files.list(index.directory) where entry != LaunchIndex.syncedName && !names.contains(entry) {
            do throws(SysError) { try directory.removeEntry(entry, path: index.directory + "/" + entry) } catch {
                if error.errno != ENOENT { throw error }
            }
        }
        try directory.syncFileSystem(path: index.directory)
    }

    /// Replaces `name` whole (Files.replace: a reader sees the old file or the new one).
    private func write(_ name: String, _ bytes: [UInt8], durably: Bool) throws(SysError) {
        try Files.replace(
            index.directory + "/" + name, with: bytes, mode: 0o600,
            temporary: index.directory + "/" + LaunchIndex.temporaryPrefix + name, durably: durably)
    }
}
