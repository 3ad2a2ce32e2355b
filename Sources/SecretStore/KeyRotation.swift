import Glibc
import Namespaces

/// `secretshim key rotate` on the local store: a fresh master key, every row and the key check
/// re-sealed under it in one SQLite transaction, then the key file replaced. What Swarm offers
/// as `swarm unlock-key --rotate`, for the key that seals the values themselves.
///
/// The new key is written beside the key file, as `<key file>.next` (0400, durable, file and
/// name), before the transaction; only after the commit is it renamed over the key file, which
/// is how the old key is removed. The store's key check (`KeyCheck`) says which of the two
/// files is the store's own, so a `kill -9` or a power loss at any moment leaves a store that
/// opens with exactly one of them:
/// - before the commit, the store is under the old key, which the key file still holds; the
///   leftover `.next` opens nothing, and the next rotation replaces it;
/// - after the commit and before the rename, the store is under the new key, which `.next`
///   holds: the first command that finds the key file refused and `.next` opening the key
///   check finishes the rename (`adoptRotatedKey`), `run` included.
/// Running workloads keep their files (their tmpfs was written when they started).
extension SecretStore {
    /// Where a rotation keeps the new key until its commit.
    static func nextKeyPath(_ keyFile: String) -> String { keyFile + ".next" }

    /// Re-seals every secret under a fresh key and makes it the key file's; returns how many
    /// secrets were re-sealed. Refused, changing nothing: a store without a key of its own
    /// (`.keyMissing`, `.keyMismatch`), a row the key does not open (`.undecryptable`: a store
    /// an older secretshim split between two keys), a key file whose folder cannot take the new
    /// key (`.keyFile`).
    public func rotateKey() throws(StoreError) -> Int {
        guard let database else { throw .database("store is open read-only") }
        guard Files.exists(location.keyFile) else {
            if try KeyCheck.hasRows(database) { throw .keyMissing(store: location.root, keyFile: location.keyFile) }
            throw .keyFile(path: location.keyFile, why: "there is no key to rotate yet ('secret create' makes the store's key)")
        }
        let old = try keyForChange(database, mayCreate: false)
        let next = Self.nextKeyPath(location.keyFile)
        var fresh = System.randomBytes(MasterKey.size)
        defer { wipe(&fresh) }
        // A leftover of a rotation killed before its commit (one killed after it was adopted by
        // `keyForChange`): it opens nothing, so it is replaced.
        do {
            try Files.replace(next, with: fresh, mode: 0o400, temporary: next + ".new", durably: true)
        } catch {
            throw .keyFile(path: next, why: "cannot write the new key: \(error.reason)")
        }
        let writer = try LaunchIndexWriter(index)
        defer { writer.close() }
        let count: Int
        do {
            count = try database.writeTransaction { () throws(StoreError) -> Int in
                _ = try writer.stampBeforeChange(database)
                let key = try recordKeyCheck(old, in: database)
                return try Self.reseal(database, from: key, to: fresh)
            }
        } catch {
            try? Files.remove(next)
            throw error
        }
        // Committed: the store is the new key's. From here on a failure is finished by the next
        // command (`adoptRotatedKey`); the rename is tried here first.
        do {
            try Files.rename(next, to: location.keyFile)
            Files.syncDirectory(of: location.keyFile)
        } catch {
            throw .keyFile(path: location.keyFile, why: "the store was re-sealed under the key in \(next), which could not replace it (\(error.reason)); the next command will retry")
        }
        if cachedKey != nil { wipe(&cachedKey!) }
        cachedKey = fresh
        // Every file of `launch/` was sealed under the old key: rebuilt (`before` nil).
        writer.bringInLine(database, before: nil, added: nil)
        return count
    }

    /// In the rotation's transaction: each row opened with `old` and sealed anew under `new`
    /// with the same associated data (ID, name, version), and the key check replaced.
    private static func reseal(_ database: Database, from old: [UInt8], to new: [UInt8]) throws(StoreError) -> Int {
        let rows = try database.prepare("SELECT id, name, version, sealed FROM secrets")
        let update = try database.prepare("UPDATE secrets SET sealed = ?2 WHERE id = ?1")
        var resealed: [(id: String, sealed: [UInt8])] = []
        try rows.bind([])
        while try rows.step() {
            let record = SecretRecord(id: rows.text(0), name: rows.text(1), version: rows.int(2), createdAt: 0, updatedAt: 0, labels: [])
            let data = Sealing.associatedData(id: record.id, name: record.name, version: record.version)
            var value = try rows.withBlob(3) { (sealed) throws(StoreError) in
                try Sealing.open(sealed, key: old, associatedData: data, name: record.name)
            }
            defer { wipe(&value) }
            resealed.append((record.id, try Sealing.seal(value, key: new, associatedData: data)))
        }
        for row in resealed { try update.run([.text(row.id), .blob(row.sealed)]) }
        try database.execute("DELETE FROM key_check")
        try database.prepare("INSERT INTO key_check (sealed) VALUES (?1)").run([.blob(try KeyCheck.seal(key: new))])
        return resealed.count
    }

    /// A key file that `database` refuses may be one rotation behind: a `key rotate` killed
    /// between its commit and its rename, or one finished by another process since this one
    /// read the key. If `.next` opens the store's key check it replaces the key file (on a
    /// read-only folder it is used as it is); else the key file is read again. True if the key
    /// now cached is the store's.
    func adoptRotatedKey(_ database: Database) -> Bool {
        let next = Self.nextKeyPath(location.keyFile)
        let candidate: [UInt8]
        if Files.exists(next), let key = try? MasterKey.load(next, createIfMissing: false),
            let check = try? KeyCheck.stored(in: database), KeyCheck.opens(check, key: key)
        {
            candidate = key
            if (try? Files.rename(next, to: location.keyFile)) != nil { Files.syncDirectory(of: location.keyFile) }
        } else {
            guard let key = try? MasterKey.load(location.keyFile, createIfMissing: false), key != cachedKey,
                (try? KeyCheck.accepts(key, in: database)) == true
            else { return false }
            candidate = key
        }
        if cachedKey != nil { wipe(&cachedKey!) }
        cachedKey = candidate
        return true
    }
}
