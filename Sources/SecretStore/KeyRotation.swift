import Glibc
import Namespaces

/// `secretshim key rotate` on the local store: a fresh master key, every row and the key check
/// re-sealed under it in one SQLite transaction, then the key file replaced. What Swarm offers
/// as `swarm unlock-key --rotate`, for the key that seals the values themselves.
///
/// The new key is written beside the key file, as `<key file>.next` (0400, durable, file and
/// name; `MasterKey.next`), before the transaction; only after the commit is it renamed over
/// the key file, which is how the old key is removed. A `.next` already there is the key to
/// rotate to: one prepared for a cluster (`key rotate --prepare`, copied to every node first),
/// or the leftover of a rotation killed before its commit. The store's key check (`KeyCheck`)
/// says which of the two files is the store's own, so a `kill -9` or a power loss at any moment
/// leaves a store that opens with exactly one of them:
/// - before the commit, the store is under the old key, which the key file still holds; the
///   leftover `.next` opens nothing, and the next rotation rotates to it;
/// - after the commit and before the rename, the store is under the new key, which `.next`
///   holds: the first command that finds the key file refused and `.next` opening the key
///   check finishes the rename (`adoptRotatedKey`), `run` included.
/// Running workloads keep their files (their tmpfs was written when they started).
extension SecretStore {
    /// Re-seals every secret under the next key (`MasterKey.next`) and makes it the key file's;
    /// returns how many secrets were re-sealed. Refused, changing nothing: a store without a key
    /// of its own (`.keyMissing`, `.keyMismatch`), a row the key does not open
    /// (`.undecryptable`: a store an older secretshim split between two keys), a key file whose
    /// folder cannot take the new key (`.keyFile`).
    public func rotateKey() throws(StoreError) -> Int {
        guard let database else { throw .database("store is open read-only") }
        guard Files.exists(location.keyFile) else {
            if try KeyCheck.hasRows(database) { throw .keyMissing(store: location.root, keyFile: location.keyFile) }
            throw .keyFile(path: location.keyFile, why: "there is no key to rotate yet ('secret create' makes the store's key)")
        }
        return try MasterKey.whileLocked(location.keyFile) { () throws(StoreError) -> Int in try rotateKeyLocked(database) }
    }

    private func rotateKeyLocked(_ database: Database) throws(StoreError) -> Int {
        // The key as it is now: another rotation may have replaced it while this one waited.
        if cachedKey != nil { wipe(&cachedKey!) }
        cachedKey = nil
        // A rotation to the next key that committed and was killed before its rename: finished,
        // and no further rotation.
        if let check = try KeyCheck.stored(in: database),
            let adopted = MasterKey.adoptNext(location.keyFile, isStores: { KeyCheck.opens(check, key: $0) })
        {
            cachedKey = adopted
            return try Self.rowCount(database)
        }
        let old = try keyForChange(database, mayCreate: false)
        var fresh = try MasterKey.next(location.keyFile)
        defer { wipe(&fresh) }
        guard fresh != old else { throw .keyFile(path: MasterKey.nextPath(location.keyFile), why: "it is the key in use already") }
        let writer = try LaunchIndexWriter(index)
        defer { writer.close() }
        let count = try database.writeTransaction { () throws(StoreError) -> Int in
            _ = try writer.stampBeforeChange(database)
            let key = try recordKeyCheck(old, in: database)
            return try Self.reseal(database, from: key, to: fresh)
        }
        // Committed: the store is the new key's. A failed rename is finished by the next command.
        try MasterKey.promoteNext(location.keyFile)
        if cachedKey != nil { wipe(&cachedKey!) }
        cachedKey = fresh
        // Every file of `launch/` was sealed under the old key: rebuilt (`before` nil).
        writer.bringInLine(database, before: nil, added: nil)
        return count
    }

    static func rowCount(_ database: Database) throws(StoreError) -> Int {
        let query = try database.prepare("SELECT count(*) FROM secrets")
        try query.bind([])
        _ = try query.step()
        return Int(query.int(0))
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
        try KeyCheck.write(new, in: database)
        return resealed.count
    }

    /// A key file that `database` refuses may be one rotation behind (`MasterKey.adoptNext`),
    /// or replaced by a rotation in another process since this one read it (read again). True
    /// if the key now cached is the store's.
    func adoptRotatedKey(_ database: Database) -> Bool {
        let check = (try? KeyCheck.stored(in: database)).flatMap { $0 }
        guard let key = MasterKey.rotated(
            location.keyFile, current: cachedKey, opensCheck: { key in check.map { KeyCheck.opens($0, key: key) } ?? false },
            accepts: { key in (try? KeyCheck.accepts(key, in: database)) == true })
        else { return false }
        if cachedKey != nil { wipe(&cachedKey!) }
        cachedKey = key
        return true
    }
}
