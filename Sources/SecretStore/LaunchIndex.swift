import Glibc
import Namespaces

/// `run`'s way to a secret without SQLite. Beside the database, `launch/` holds a copy of each
/// secret's row (ID, version, times and the sealed value, exactly as stored), one file per
/// name. Opening SQLite (library start-up, the schema parse, locks, the hot-journal check) was
/// most of `run`'s cost; reading one small file is a few microseconds.
///
/// The database stays the one source of truth, and `run` trusts the index only while it
/// provably agrees with it:
/// - `launch/.synced` holds the database's change counter (SQLite's header bytes 24-27, moved
///   by every committed write in rollback-journal mode) and the store's token (the header's
///   application ID, random per store) as of the last time the index was brought in line.
///   `run` compares both with the header. Any other writer (an older secretshim, the sqlite3
///   shell, a database copied in from elsewhere) leaves them different, and `run` asks SQLite
///   until the next create or rm rebuilds the index.
/// - A file exists only for a committed row: create writes it after its commit, rm unlinks it
///   durably before its delete, both under an exclusive lock on `launch/`, so a create's late
///   write cannot land after a concurrent rm of the same name. A missing file only sends `run`
///   to SQLite.
/// - A file is the row's AES-GCM box, authenticated with its ID, name (the file's name) and
///   version: a file renamed or edited fails to decrypt, and `run` then asks SQLite.
/// References shaped like an ID always go to SQLite: an ID beats a name, and the index is by
/// name.
struct LaunchIndex {
    let directory: String
    let databasePath: String

    init(_ location: StoreLocation) {
        directory = location.root + "/launch"
        databasePath = location.databasePath
    }

    /// Names of secrets never start with a dot (Swarm's rule): the stamp and temporary files
    /// here do, so no secret's file can ever be taken for them.
    static var syncedName: String { ".synced" }
    static var temporaryPrefix: String { ".new-" }
    static var magic: String.UTF8View { "secretshim-launch/1\n".utf8 }
    /// The magic (20 bytes), the ID (25), version, created and updated (8 each).
    static var headerSize: Int { 20 + SecretID.length + 3 * 8 }

    /// Where the database stands: its change counter and the store's token.
    struct Stamp: Equatable, Sendable {
        var counter: UInt32
        var token: UInt32
    }

    // MARK: - Reading (run)

    /// Whether `synced` matches the database header: only then may `run` read the index.
    /// `database`: this process's open connection to the store, if it has one; its header is
    /// then read through SQLite's descriptor (`stamp(ofDatabase:)` says why).
    func isCurrent(_ database: Database? = nil) -> Bool {
        let stamp = if let database { Self.stamp(header: database.fileHeader(Self.stampedHeaderSize)) } else {
            Self.stamp(ofDatabase: databasePath)
        }
        guard let stamp, stamp.token != 0 else { return false }
        return syncedStamp() == stamp
    }

    /// Hands the secret named `name` to `found` (as `SecretSource.read` lends it) and returns
    /// true, or returns false when the index cannot vouch for it (no file, not a name,
    /// unreadable, malformed or failing authentication): the caller then asks SQLite.
    func read(_ name: String, key: [UInt8], found: (SecretRecord, inout [UInt8]) -> Void) -> Bool {
        guard SecretRules.isValidName(name), !SecretID.isWellFormed(name) else { return false }
        guard let bytes = Self.readFile(directory + "/" + name, limit: Self.headerSize + SecretRules.maxSize + 28),
            Self.hasValidHeader(bytes)
        else { return false }
        let record = Self.record(in: bytes, name: name)
        let data = Sealing.associatedData(id: record.id, name: name, version: record.version)
        let value = bytes.withUnsafeBytes { raw in
            AESGCM.open(UnsafeRawBufferPointer(rebasing: raw[Self.headerSize...]), key: key, associatedData: data)
        }
        guard var value else { return false }
        found(record, &value)
        wipe(&value)
        return true
    }

    /// Whether `bytes` start with a well-formed header (the magic and an ID) and hold more.
    static func hasValidHeader(_ bytes: [UInt8]) -> Bool {
        guard bytes.count > headerSize else { return false }
        var offset = 0
        for byte in magic {
            if bytes[offset] != byte { return false }
            offset += 1
        }
        for index in offset..<offset + SecretID.length where !SecretID.isIDCharacter(bytes[index]) {
            return false
        }
        return true
    }

    /// The record a file with a valid header (`hasValidHeader`) describes.
    static func record(in bytes: [UInt8], name: String) -> SecretRecord {
        let idStart = headerSize - 24 - SecretID.length
        let idEnd = idStart + SecretID.length
        return SecretRecord(
            id: String(decoding: bytes[idStart..<idEnd], as: UTF8.self), name: name, version: int64(bytes, at: idEnd),
            createdAt: int64(bytes, at: idEnd + 8), updatedAt: int64(bytes, at: idEnd + 16), labels: [])
    }

    static func int64(_ bytes: [UInt8], at offset: Int) -> Int64 {
        var value: UInt64 = 0
        for shift in 0..<8 { value |= UInt64(bytes[offset + shift]) << (8 * UInt64(shift)) }
        return Int64(bitPattern: value)
    }

    /// The bytes of one file: header, then the sealed value as the database holds it.
    static func encode(_ record: SecretRecord, sealed: UnsafeRawBufferPointer) -> [UInt8] {
        var bytes: [UInt8] = []
        bytes.reserveCapacity(headerSize + sealed.count)
        bytes.append(contentsOf: magic)
        bytes.append(contentsOf: record.id.utf8)
        for number in [record.version, record.createdAt, record.updatedAt] {
            var value = UInt64(bitPattern: number)
            for _ in 0..<8 {
                bytes.append(UInt8(truncatingIfNeeded: value))
                value >>= 8
            }
        }
        bytes.append(contentsOf: sealed)
        return bytes
    }

    /// The change counter and application ID from an SQLite header, or nil if the file is not
    /// an SQLite database in rollback-journal mode (in WAL mode the counter does not move).
    /// A writer crashing mid-commit cannot leave the old counter beside changed pages: SQLite
    /// writes page 1, which holds the counter, before any other.
    ///
    /// Only for a process with no SQLite connection to the file (`run`): closing this descriptor
    /// drops every POSIX lock the process holds on the file, SQLite's included. Anyone else reads
    /// the header through SQLite (`Database.fileHeader`, `stamp(header:)`).
    static func stamp(ofDatabase path: String) -> Stamp? {
        guard let fd = try? FileDescriptor.open(path, O_RDONLY | O_NOFOLLOW | O_NONBLOCK) else { return nil }
        defer { fd.close() }
        return stamp(header: try? fd.read(upTo: stampedHeaderSize, at: 0, path: path))
    }

    /// The bytes of an SQLite header that hold the counter and the application ID.
    static var stampedHeaderSize: Int { 72 }

    /// The stamp in the first `stampedHeaderSize` bytes of a database file.
    static func stamp(header: [UInt8]?) -> Stamp? {
        guard let header, header.count == stampedHeaderSize else { return nil }
        let sqliteMagic = "SQLite format 3\0".utf8
        guard header[0..<16].elementsEqual(sqliteMagic), header[18] == 1, header[19] == 1 else { return nil }
        return Stamp(counter: bigEndian(header, at: 24), token: bigEndian(header, at: 68))
    }

    static func bigEndian(_ bytes: [UInt8], at offset: Int) -> UInt32 {
        UInt32(bytes[offset]) << 24 | UInt32(bytes[offset + 1]) << 16 | UInt32(bytes[offset + 2]) << 8
            | UInt32(bytes[offset + 3])
    }

    /// `synced`'s stamp: "COUNTER TOKEN\n" in decimal.
    func syncedStamp() -> Stamp? {
        guard let bytes = Self.readFile(directory + "/" + Self.syncedName, limit: 32), bytes.last == 0x0A,
            let space = bytes.firstIndex(of: 0x20),
            let counter = ASCIIDecimal.value(bytes[..<space], max: UInt64(UInt32.max)),
            let token = ASCIIDecimal.value(bytes[(space + 1)..<(bytes.count - 1)], max: UInt64(UInt32.max))
        else { return nil }
        return Stamp(counter: UInt32(counter), token: UInt32(token))
    }

    /// A whole regular file of at most `limit` bytes, or nil.
    static func readFile(_ path: String, limit: Int) -> [UInt8]? {
        guard let fd = try? FileDescriptor.open(path, O_RDONLY | O_NOFOLLOW | O_NONBLOCK) else { return nil }
        defer { fd.close() }
        guard let st = try? fd.status(path: path), st.st_mode & S_IFMT == S_IFREG, st.st_size > 0, st.st_size <= limit,
            let bytes = try? fd.read(upTo: Int(st.st_size), path: path), bytes.count == Int(st.st_size)
        else { return nil }
        return bytes
    }
}
