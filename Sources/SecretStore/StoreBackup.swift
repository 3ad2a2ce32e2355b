import Glibc
import Namespaces

/// `secretshim store backup FILE` and `store restore [--force] FILE` on the local store.
///
/// A backup is an SQLite database of the store's own schema: the sealed rows, their labels,
/// the version counter and the key check, copied with SQLite's online backup API. Values stay
/// sealed and the key is never in it, so a backup is only as readable as the key kept apart
/// from it (README "Operations"). `launch/` and the audit log are not part of it: the first is
/// rebuilt from the rows, the second belongs to the host.
extension SecretStore {
    /// Copies the store into a new file `path` (0600; refused if anything is there: a backup
    /// never replaces a file), consistent while other processes create and remove: one read
    /// transaction, so the copy is the store as of one commit. The file appears whole or not at
    /// all (`Files.createWhole`, through the folder's descriptor: `backupFolder`). Returns how
    /// many secrets it holds.
    /// Refused: a store whose key is not its own (`.keyMismatch`, `.keyMissing`: a backup that
    /// no key at hand opens helps no one), a store with no database yet, `path` existing.
    public func backup(to path: String) throws(StoreError) -> Int {
        guard let source = try connection() else {
            throw .backupFile(path: path, why: "the store at \(location.root) has no secrets database yet: nothing to back up")
        }
        let folder = try Self.backupFolder(of: path)
        defer { folder.close() }
        if Files.exists(path) || (try? Files.linkStatus(path)) != nil {
            throw .backupFile(path: path, why: "a file is already there: give a new file (a backup never replaces one)")
        }
        let previousMask = umask(0o077)
        defer { umask(previousMask) }
        // SQLite writes its copy (and that copy's journal) in the store's own folder, never in
        // FILE's: whoever owns FILE's folder could plant a link at the journal's name, which
        // SQLite would follow and write through. FILE gets the bytes through our descriptor.
        Self.sweepCopies(in: location.root)
        let copyPath = location.root + "/.backup-\(getpid()).db"
        defer {
            try? Files.remove(copyPath)
            try? Files.remove(copyPath + "-journal")
        }
        let count: Int
        do {
            try? Files.remove(copyPath)
            let copy = try Database(path: copyPath, readOnly: false)
            try source.backup(into: copy)
            count = try Self.rowCount(copy)
        }
        do throws(SysError) {
            let input = try FileDescriptor.open(copyPath, O_RDONLY | O_NOFOLLOW)
            defer { input.close() }
            try Files.createWhole(Files.components(path).last ?? "", in: folder, path: path, mode: 0o600, copying: input)
        } catch {
            throw .backupFile(path: path, why: error.errno == EEXIST ? "a file appeared there meanwhile: give a new file" : error.reason)
        }
        return count
    }

    /// The folder a backup is written in, opened once (everything after goes through it). As
    /// root, it must be named by its real path and be root's own all the way up, as the store's
    /// own folders (`StoreLocation.trustedPath`): a user who owns a folder on the way could
    /// otherwise swap it, or a link in it, for any directory on the disk, and root would make
    /// its file there (a fresh-eyes finding).
    static func backupFolder(of path: String) throws(StoreError) -> FileDescriptor {
        let name = Files.components(path).last ?? ""
        guard !name.isEmpty, name != ".", name != "..", !path.hasUTF8Suffix("/") else {
            throw .backupFile(path: path, why: "give a file's name")
        }
        let given = path.hasUTF8Prefix("/") ? Files.parent(of: path) : StoreLocation.currentDirectory() + "/" + Files.parent(of: path)
        var folder = given
        if System.effectiveUserID == 0 {
            let real = try StoreLocation.trustedPath(given)
            // The path as given, without empty and "." components: what the real path must be.
            let lexical = "/" + Files.components(given).filter { $0 != "." }.joined(separator: "/")
            guard real == lexical else {
                throw .backupFile(path: path, why: "as root, give the folder by its real path (\(real)): a backup is written only through root's own folders")
            }
            folder = real
        }
        do {
            return try FileDescriptor.open(folder, O_RDONLY | O_DIRECTORY | O_NOFOLLOW)
        } catch {
            throw .backupFile(path: path, why: error.reason)
        }
    }

    /// What a restore changed: the secrets it brought and those it removed (for the audit log).
    public struct Restored {
        public var added: [SecretRecord] = []
        public var removed: [SecretRecord] = []
        public var total = 0
    }

    /// Replaces the store at `location` with the backup at `path`, in one SQLite transaction:
    /// a restore that fails or is killed leaves the old store whole. The store and its root
    /// are made if missing (a new host); the key file must be there already, and must be the
    /// backup's (a backup never holds the key).
    ///
    /// Refused, changing nothing, each in one line:
    /// - `path` not a regular file, not an SQLite database, not a store of this schema, or
    ///   failing SQLite's integrity check (`.backupFile`);
    /// - no key file, or a backup whose key check or any row the key does not open
    ///   (`.backupFile`: a backup of another store, forged without the key, or altered), or
    ///   whose rows have shapes this schema never writes, or larger than half the free space;
    /// - a store that already holds secrets, unless `force` (`.storeNotEmpty`);
    /// - with `force`, a secret a live workload holds that the backup does not have (`.inUse`,
    ///   as `secret rm` refuses it: checked under the state dir's exclusive lock, which a
    ///   starting `run` takes to record its lease).
    public static func restore(_ location: StoreLocation, from path: String, force: Bool, leases: LeaseBook) throws(StoreError) -> Restored {
        // Every backup holds a key check, which only the key opens: without the key file there
        // is nothing a restore could check (and a backup never holds the key).
        guard Files.exists(location.keyFile) else {
            throw .backupFile(path: path, why: "the key file \(location.keyFile) is missing: copy the store's key there first (a backup never holds the key)")
        }
        // Under the key's lock: a `key rotate` cannot replace the key between the backup's
        // check and its rows' commit (a fresh-eyes finding: the store was left sealed under
        // the key the rotation had just discarded).
        return try MasterKey.whileLocked(location.keyFile) { () throws(StoreError) -> Restored in
            try restoreLocked(location, from: path, force: force, leases: leases)
        }
    }

    private static func restoreLocked(_ location: StoreLocation, from path: String, force: Bool, leases: LeaseBook) throws(StoreError) -> Restored {
        let madeRoot = !Files.exists(location.root)
        do {
            try Files.makeDirectories(location.root, mode: 0o700)
        } catch {
            throw .system(error)
        }
        sweepCopies(in: location.root)
        let temporary = location.root + "/.restore-\(getpid()).db"
        func removeCopy() {
            try? Files.remove(temporary)
            try? Files.remove(temporary + "-journal")
        }
        defer { removeCopy() }
        do throws(StoreError) {
            let (key, backup) = try validatedBackup(path, copiedTo: temporary, keyFile: location.keyFile, store: location.root)
            let store = try openForWriting(location)
            guard let database = store.database else { throw .database("store is open read-only") }
            let directory = try leases.open(create: true)!
            defer { directory.close() }
            // The backup is read through its own connection, in one read transaction, and
            // written in one transaction of the store's alone: with the backup ATTACHed, SQLite
            // would commit both files through a super-journal, and a restore killed then left a
            // hot journal that read-only openers could not roll back.
            try backup.execute("BEGIN")
            defer { try? backup.execute("COMMIT") }
            // Locks in `secret rm`'s order: the state dir's, then `launch/`'s, then SQLite's.
            return try directory.withExclusiveLock { () throws(StoreError) -> Restored in
                let writer = try LaunchIndexWriter(store.index)
                defer { writer.close() }
                let restored = try database.writeTransaction { () throws(StoreError) -> Restored in
                    _ = try writer.stampBeforeChange(database)
                    return try replaceRows(of: database, from: backup, key: key, force: force, store: location.root, live: directory.liveLeases())
                }
                // Every file of `launch/` is rebuilt from the restored rows (`before` nil).
                writer.bringInLine(database, before: nil, added: nil)
                return restored
            }
        } catch {
            removeCopy()
            if madeRoot { try? Files.removeEmptyDirectory(location.root) }
            throw error
        }
    }

    /// Copies the backup at `path` into `temporary` (the store's own folder: SQLite then never
    /// opens the user's file, which another user could swap after it was checked, or beside
    /// which a stray `-journal` would be taken for its own) and checks it: a regular file, an
    /// SQLite database passing its integrity check, this schema with the shapes it writes, and
    /// the key check and every row opening under the key at `keyFile`. Returns that key and
    /// the copy, opened.
    private static func validatedBackup(_ path: String, copiedTo temporary: String, keyFile: String, store: String) throws(StoreError) -> (key: [UInt8], backup: Database) {
        do throws(SysError) {
            let source = try FileDescriptor.open(path, O_RDONLY | O_NONBLOCK | O_NOCTTY)
            defer { source.close() }
            // A FIFO would block the copy for ever, a device never end it.
            let st = try source.status(path: path)
            guard st.st_mode & S_IFMT == S_IFREG else {
                throw SysError("not a regular file (a FIFO, device, socket or folder)", nil, errno: EINVAL)
            }
            // The copy must fit, with room to spare, on the store's file system: a sparse file
            // of a terabyte would fill it before any check could refuse it.
            if let free = Files.availableBytes(store), UInt64(max(0, st.st_size)) > free / 2 {
                throw SysError("\(st.st_size) bytes, more than the store's file system can take (\(free) bytes free)", nil, errno: EFBIG)
            }
            try? Files.remove(temporary)
            let copy = try FileDescriptor.open(temporary, O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW, mode: 0o600)
            defer { copy.close() }
            try source.copyAll(to: copy, path: temporary)
        } catch {
            throw .backupFile(path: path, why: error.errno == EINVAL || error.errno == EFBIG ? error.operation : error.reason)
        }
        func notABackup(_ why: String) -> StoreError { .backupFile(path: path, why: "corrupt, or not a secretshim store backup (\(why))") }
        let backup: Database
        do {
            backup = try Database(path: temporary, readOnly: true)
            let integrity = try backup.prepare("PRAGMA integrity_check")
            try integrity.bind([])
            guard try integrity.step(), integrity.text(0) == "ok" else {
                throw StoreError.backupFile(path: path, why: "corrupt: SQLite's integrity check failed (\(integrity.text(0)))")
            }
            guard try userVersion(backup) == schemaVersion else { throw notABackup("no secretshim schema") }
            for table in ["secrets (id, name, version, created_ns, updated_ns, sealed)", "labels (secret_id, key, value)", "meta (key, value)", "key_check (sealed)"] {
                let name = table.prefix { $0 != " " }
                let columns = table.drop { $0 != "(" }.dropFirst().dropLast()
                _ = try backup.prepare("SELECT \(columns) FROM \(name) LIMIT 0")
            }
        } catch let error as StoreError {
            if case .backupFile = error { throw error }
            throw notABackup("\(error)")
        } catch {
            throw notABackup("\(error)")
        }
        // What the key does not authenticate (times, labels, the key check's table) must at
        // least have the shapes this schema writes (a fresh-eyes finding: text times and a
        // second key check were taken as they were).
        let shapes = try backup.prepare(
            """
            SELECT (SELECT count(*) FROM secrets WHERE typeof(id) != 'text' OR typeof(name) != 'text'
                    OR typeof(version) != 'integer' OR version < 0 OR typeof(created_ns) != 'integer' OR created_ns < 0
                    OR typeof(updated_ns) != 'integer' OR updated_ns < 0 OR typeof(sealed) != 'blob')
                + (SELECT count(*) FROM labels WHERE typeof(secret_id) != 'text' OR typeof(key) != 'text' OR key = ''
                    OR typeof(value) != 'text')
                + (SELECT count(*) FROM key_check WHERE typeof(sealed) != 'blob'),
                (SELECT count(*) FROM key_check)
            """)
        try shapes.bind([])
        guard try shapes.step(), shapes.int(0) == 0, shapes.int(1) <= 1 else { throw notABackup("rows of the wrong shape") }
        let key = try MasterKey.load(keyFile, createIfMissing: false)
        let opened = try KeyCheck.rows(backup, openedBy: key, untilOneOpens: false)
        // Its key check says whose backup it is. Without one: a store made before checks, if
        // the key opens its rows; an empty one is no store's (a file made without the key).
        let checkOpens = try KeyCheck.stored(in: backup).map { KeyCheck.opens($0, key: key) } ?? (opened.opened > 0)
        guard checkOpens else {
            throw .backupFile(path: path, why: "made under another key than \(keyFile): it is another store's backup, or the key is not this store's")
        }
        guard opened.failed == 0 else {
            throw .backupFile(path: path, why: "\(opened.failed) of its secrets do not open with the key \(keyFile): the backup was altered")
        }
        return (key, backup)
    }

    /// Copies left by backups and restores that were killed (their process is gone).
    static func sweepCopies(in root: String) {
        for entry in Files.list(root) {
            let prefix = entry.hasUTF8Prefix(".restore-") ? ".restore-" : entry.hasUTF8Prefix(".backup-") ? ".backup-" : ""
            guard !prefix.isEmpty else { continue }
            let digits = entry.dropFirst(prefix.count).prefix { $0.isASCII && $0.isNumber }
            guard let pid = pid_t(digits), pid != getpid(), kill(pid, 0) != 0, errno == ESRCH else { continue }
            try? Files.remove(root + "/" + entry)
        }
    }

    /// In the restore's transaction, `backup` in a read transaction of its own: the refusals,
    /// then the rows, labels and key check replaced, and the version counter kept above every
    /// version either side has used (Docker's `Version.Index` only grows).
    private static func replaceRows(of database: Database, from backup: Database, key: [UInt8], force: Bool, store: String, live: [Lease]) throws(StoreError) -> Restored {
        func records(_ database: Database) throws(StoreError) -> [SecretRecord] {
            let query = try database.prepare("SELECT id, name, version, created_ns, updated_ns FROM secrets ORDER BY name")
            try query.bind([])
            var records: [SecretRecord] = []
            while try query.step() { records.append(record(query, labels: [])) }
            return records
        }
        let current = try records(database)
        let incoming = try records(backup)
        if !current.isEmpty && !force { throw .storeNotEmpty(store: store, secrets: current.count) }
        var restored = Restored(total: incoming.count)
        restored.removed = current.filter { old in !incoming.contains { $0.id == old.id } }
        restored.added = incoming.filter { new in !current.contains { $0.id == new.id } }
        for record in restored.removed {
            let holders = live.filter { $0.holds(secretID: record.id, name: record.name) }
            if !holders.isEmpty { throw .inUse(secret: record.name, holders: holders.map { "\($0.name) (pid \($0.pid))" }) }
        }
        try database.execute("DELETE FROM labels; DELETE FROM secrets; DELETE FROM key_check;")
        let rows = try backup.prepare("SELECT id, name, version, created_ns, updated_ns, sealed FROM secrets")
        let insertRow = try database.prepare(
            "INSERT INTO secrets (id, name, version, created_ns, updated_ns, sealed) VALUES (?1, ?2, ?3, ?4, ?5, ?6)")
        try rows.bind([])
        while try rows.step() {
            let sealed = try rows.withBlob(5) { (bytes) throws(StoreError) in Array(bytes) }
            try insertRow.run([.text(rows.text(0)), .text(rows.text(1)), .integer(rows.int(2)), .integer(rows.int(3)), .integer(rows.int(4)), .blob(sealed)])
        }
        let labels = try backup.prepare("SELECT secret_id, key, value FROM labels WHERE secret_id IN (SELECT id FROM secrets)")
        let insertLabel = try database.prepare("INSERT OR REPLACE INTO labels (secret_id, key, value) VALUES (?1, ?2, ?3)")
        try labels.bind([])
        while try labels.step() { try insertLabel.run([.text(labels.text(0)), .text(labels.text(1)), .text(labels.text(2))]) }
        // The backup's own counter is not authenticated: the restored rows' versions are.
        try database.execute("UPDATE meta SET value = max(value, coalesce((SELECT max(version) FROM secrets), 0)) WHERE key = 'index'")
        if !incoming.isEmpty { try KeyCheck.record(key, in: database) }
        return restored
    }
}
