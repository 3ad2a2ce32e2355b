import Namespaces

/// Where secrets are kept: the one boundary every command reads and changes them through.
/// `SecretStore` (SQLite, with `launch/` as its private cache for `run`) is the local
/// implementation; a store on etcd will be a second one. Each implementation is the only
/// writer of what it keeps.
///
/// References resolve as Docker's do: by full ID, then by exact name, then by unique ID
/// prefix. Values are plaintext the caller owns and wipes (`wipe`, `SecretValues.wipe`).
public protocol SecretSource: AnyObject {
    /// Whether this store made its key (a first `create`): the command then says where the key
    /// is, since it needs a backup of its own.
    var createdKey: Bool { get }

    /// Refuses a key that is not the store's (`.keyMissing`, `.keyMismatch`) or a store that
    /// does not exist (`.noStore`). What every command but `run` calls first.
    func checkKey() throws(StoreError)

    /// Every secret's record (no values), by name.
    func list() throws(StoreError) -> [SecretRecord]

    /// The record `reference` names; `.notFound` or `.ambiguous` (an ID prefix of two).
    func find(_ reference: String) throws(StoreError) -> SecretRecord

    /// The decrypted value of `record`.
    func value(of record: SecretRecord) throws(StoreError) -> [UInt8]

    /// Finds and decrypts the secrets `references` name, handing each to `each` in the order
    /// asked (a reference asked twice is answered twice); `.notFound` for the first that names
    /// none. The value is lent `inout`: `each` may take it (`let mine = value; value = []`,
    /// leaving it the one owner, to wipe later); whatever is left there is wiped after `each`
    /// returns. The streaming form, for `scan`, which must not hold every value at once.
    func read(_ references: [String], each: (SecretRecord, inout [UInt8]) -> Void) throws(StoreError)

    /// Stores a new secret (Swarm's name rule, 0 < size <= 500 KiB); `.duplicateName`.
    func create(name: String, value: [UInt8], labels: [SecretRecord.Label]) throws(StoreError) -> SecretRecord

    /// Removes `record` unless a live workload holds it (`.inUse`), atomically with that check.
    func remove(_ record: SecretRecord, leases: LeaseBook) throws(StoreError)

    /// Says that the workload `lease` describes holds the secrets it lists, atomically with
    /// checking that each is still stored (`.notFound` if one was removed since it was read),
    /// once that lease is recorded. A store shared by several nodes publishes it, so that no
    /// node removes a secret this one uses; the local store has nothing to do (the lease file,
    /// recorded under the lock `remove` takes, is the hold).
    func hold(_ lease: Lease) throws(StoreError)

    /// `key rotate`: every secret and the key check re-sealed under the next key
    /// (`MasterKey.next`) in one transaction, then that key made the key file's; how many
    /// secrets were re-sealed. Killed at any moment, the store opens with exactly one of the two
    /// keys (KeyRotation).
    func rotateKey() throws(StoreError) -> Int

    /// Lets go of what the store keeps open: a cluster store's client threads. A process must be
    /// single-threaded to enter or make a mount namespace (setns(2) and unshare(2) refuse with
    /// EINVAL otherwise), so `run`, `update` and the runtime wrapper close the store once they
    /// have read and held their secrets. Nothing may be asked of it after.
    func close()
}

extension SecretSource {
    public func hold(_ lease: Lease) throws(StoreError) {}
    public func close() {}
}

extension SecretSource {
    /// `read`, answered by reference: `run` and the runtime wrapper look each grant's value up
    /// by the grant's source, never by position.
    public func read(_ references: [String]) throws(StoreError) -> SecretValues {
        var values = SecretValues()
        var pending = references.makeIterator()
        do {
            try read(references) { record, value in values.add(pending.next()!, record, taking: &value) }
        } catch {
            values.wipe()
            throw error
        }
        return values
    }
}

/// The secrets one `read` found, each under the reference it was asked by (a grant's source).
/// Holds plaintext: the owner calls `wipe` when done.
public struct SecretValues {
    public struct Secret {
        public let record: SecretRecord
        public var value: [UInt8]
    }

    // Few (a workload's grants, at most `Lease.maximumGrants`): a linear search beats hashing.
    private var references: [String] = []
    /// Each secret found, once per distinct reference, in the order asked.
    public private(set) var secrets: [Secret] = []

    public init() {}

    /// What `reference` found, or nil if it was not asked.
    public subscript(reference: String) -> Secret? {
        guard let index = references.firstIndex(of: reference) else { return nil }
        return secrets[index]
    }

    /// Every distinct secret found (one per ID), in the order first asked.
    public var records: [SecretRecord] {
        var seen: [SecretRecord] = []
        for secret in secrets where !seen.contains(where: { $0.id == secret.record.id }) { seen.append(secret.record) }
        return seen
    }

    /// What a lease records of them: each distinct secret (one per ID), in the order first asked.
    public var held: [Lease.Held] {
        var held: [Lease.Held] = []
        for secret in secrets where !held.contains(where: { $0.id == secret.record.id }) {
            held.append(Lease.Held(id: secret.record.id, name: secret.record.name))
        }
        return held
    }

    /// What a lease records of the secrets `grants` name (by ID), each once, in grant order.
    public func held(by grants: [Lease.Grant]) -> [Lease.Held] {
        var held: [Lease.Held] = []
        for grant in grants where !held.contains(where: { $0.id == grant.id }) {
            if let secret = secrets.first(where: { $0.record.id == grant.id }) {
                held.append(Lease.Held(id: secret.record.id, name: secret.record.name))
            }
        }
        return held
    }

    /// Keeps `value` (leaving `[]` in its place) unless `reference` was answered already.
    mutating func add(_ reference: String, _ record: SecretRecord, taking value: inout [UInt8]) {
        guard !references.contains(reference) else { return }
        references.append(reference)
        secrets.append(Secret(record: record, value: value))
        value = []
    }

    /// Zeroes every value (and forgets them).
    public mutating func wipe() {
        for index in secrets.indices { Namespaces.wipe(&secrets[index].value) }
        secrets.removeAll()
        references.removeAll()
    }
}

extension StoreLocation {
    /// The store kept here, only to read: never creates anything (see `SecretStore.openForReading`).
    public func openForReading() throws(StoreError) -> any SecretSource {
        if isRemote { return try openRemote() }
        return try SecretStore.openForReading(self)
    }

    /// The store kept here, for changes: with `creating`, its root, database and key are made
    /// on first use (see `SecretStore.openForWriting`).
    public func openForWriting(creating: Bool = true) throws(StoreError) -> any SecretSource {
        if isRemote { return try openRemote() }
        return try SecretStore.openForWriting(self, creating: creating)
    }

    private func openRemote() throws(StoreError) -> any SecretSource {
        guard let opener = Self.opener else { throw .corrupt("no client for the store at \(storeName) in this program") }
        return try opener(self)
    }
}
