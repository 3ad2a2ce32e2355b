import Glibc
import JSON
import Namespaces
import SecretStore

/// The store on etcd: the second `SecretSource`, for several nodes sharing one set of secrets
/// (SPEC.md "Several nodes"). Values are sealed here, on the client, exactly as the local store
/// seals them (`Sealing`: AES-256-GCM under the key file every node holds, the ID, name and
/// version as associated data), so etcd, its WAL, its snapshots and `etcdctl get` only ever hold
/// ciphertext. Every change is one etcd transaction (`EtcdKeys` gives the layout):
/// - create: both keys of the new secret, if neither the name nor the ID exists yet (so of two
///   concurrent creates of a name exactly one wins), and the key check unchanged;
/// - rm: both keys, if the secret is still there and no node holds it (`P/holders/ID/` empty);
/// - hold (a workload started or updated): its holder keys, if every secret is still there.
/// A change that loses a race is retried or refused; nothing is ever half-written.
public final class EtcdSecretStore: SecretSource {
    public let location: StoreLocation
    let configuration: EtcdConfiguration
    let client: EtcdClient
    let keys: EtcdKeys
    public private(set) var createdKey = false
    private var cachedKey: [UInt8]?
    private var keyChecked = false

    public init(_ configuration: EtcdConfiguration, location: StoreLocation) throws(StoreError) {
        self.configuration = configuration
        self.location = location
        client = try EtcdClient(configuration, agentSocket: location.stateDirectory + "/" + NodeAgent.socketName)
        keys = EtcdKeys(prefix: configuration.prefix)
    }

    deinit {
        if cachedKey != nil { wipe(&cachedKey!) }
    }

    var url: String { configuration.url }

    private func notFound(_ reference: String) -> StoreError { .notFound(reference, store: url) }

    private func key(create: Bool = false) throws(StoreError) -> [UInt8] {
        if let cachedKey { return cachedKey }
        let key = try MasterKey.load(location.keyFile, createIfMissing: create)
        cachedKey = key
        return key
    }

    // MARK: - The key check

    /// What a key decision needs: the stored check (and its revision) and whether any secret
    /// exists; asked in the same transaction as `extra` ranges, whose answers follow.
    private struct KeyState {
        var check: EtcdClient.KeyValue?
        var hasSecrets: Bool
        var revision: Int64
        var extra: [[EtcdClient.KeyValue]]
    }

    private func keyState(with extra: [JSONValue] = []) throws(StoreError) -> KeyState {
        let answer = try client.txn([], success: [
            EtcdClient.requestRange(EtcdClient.range(keys.keyCheck)),
            EtcdClient.requestRange(EtcdClient.range(keys.ids, end: EtcdClient.prefixEnd(keys.ids), limit: 1, keysOnly: true)),
        ] + extra.map(EtcdClient.requestRange))
        guard answer.ranges.count == 2 + extra.count else { throw .corrupt("etcd answered \(answer.ranges.count) ranges") }
        return KeyState(
            check: answer.ranges[0].first, hasSecrets: !answer.ranges[1].isEmpty, revision: answer.revision,
            extra: Array(answer.ranges.dropFirst(2)))
    }

    /// Refuses a key that is not the store's, as the local store does (`KeyCheck`): with
    /// secrets stored, a missing key file is `.keyMissing` and another key `.keyMismatch`.
    private func check(_ state: KeyState) throws(StoreError) {
        if keyChecked { return }
        guard Files.exists(location.keyFile) else {
            if state.hasSecrets { throw .keyMissing(store: url, keyFile: location.keyFile) }
            return
        }
        let key = try key()
        if state.hasSecrets {
            // Secrets are only ever written with the check beside them.
            guard let check = state.check, KeyCheck.opens(check.value, key: key) || adoptRotatedKey(check.value) else {
                throw .keyMismatch(store: url, keyFile: location.keyFile)
            }
        }
        keyChecked = true
    }

    /// A key file the store's check refuses may be one rotation behind: the cluster's key was
    /// rotated on another node (or here, killed before its rename) and this node holds the new
    /// key as `<key file>.next` (`MasterKey.adoptNext`), or the key file was replaced since this
    /// process read it. True if the key now cached opens `check`.
    private func adoptRotatedKey(_ check: [UInt8]) -> Bool {
        let opens = { (key: [UInt8]) in KeyCheck.opens(check, key: key) }
        guard let key = MasterKey.rotated(location.keyFile, current: cachedKey, opensCheck: opens, accepts: opens) else { return false }
        if cachedKey != nil { wipe(&cachedKey!) }
        cachedKey = key
        return true
    }

    // MARK: - Rotating the key

    /// `key rotate` on the cluster: every secret's sealed value and the key check re-sealed
    /// under the next key (`MasterKey.next`) in one etcd transaction that compares each key's
    /// `mod_revision` (a create, rm or rotation elsewhere meanwhile makes it fail and it is
    /// tried again on what the store holds then), then the key file replaced here. Other nodes
    /// holding the new key as `<key file>.next` adopt it by themselves; the others refuse with a
    /// key mismatch until it is copied to them. One transaction is bounded by etcd's
    /// `--max-txn-ops` (128 by default): a store with more secrets needs it raised.
    public func rotateKey() throws(StoreError) -> Int {
        guard Files.exists(location.keyFile) else {
            let state = try keyState()
            if state.hasSecrets { throw .keyMissing(store: url, keyFile: location.keyFile) }
            throw .keyFile(path: location.keyFile, why: "there is no key to rotate yet ('secret create' makes the store's key)")
        }
        return try MasterKey.whileLocked(location.keyFile) { () throws(StoreError) -> Int in try rotateKeyLocked() }
    }

    private func rotateKeyLocked() throws(StoreError) -> Int {
        for _ in 0..<8 {
            let state = try keyState(with: [EtcdClient.range(keys.names, end: EtcdClient.prefixEnd(keys.names))])
            keyChecked = false
            // The key as it is now: another rotation may have replaced it while this one waited.
            if cachedKey != nil { wipe(&cachedKey!) }
            cachedKey = nil
            // The cluster already rotated to this node's next key (prepared here and rotated on
            // another node, or rotated here and killed before the rename): adopted, and no
            // further rotation (a fresh-eyes finding: a second rotation took the prepared key
            // and went on to a key of its own, which no prepared node held).
            if let check = state.check, let adopted = MasterKey.adoptNext(location.keyFile, isStores: { KeyCheck.opens(check.value, key: $0) }) {
                cachedKey = adopted
                return state.extra[0].count
            }
            try check(state)
            let old = try key()
            var fresh = try MasterKey.next(location.keyFile)
            defer { wipe(&fresh) }
            guard fresh != old else { throw .keyFile(path: MasterKey.nextPath(location.keyFile), why: "it is the key in use already") }
            var compares: [JSONValue] = []
            var puts: [JSONValue] = []
            if let check = state.check {
                compares.append(EtcdClient.compare(keys.keyCheck, "MOD", "EQUAL", check.modRevision))
            } else {
                compares.append(EtcdClient.compare(keys.keyCheck, "CREATE", "EQUAL", 0))
            }
            puts.append(EtcdClient.requestPut(EtcdClient.put(keys.keyCheck, try KeyCheck.seal(key: fresh))))
            for item in state.extra[0] {
                let (record, sealed) = try EtcdRecord.decode(item.value, key: item.key, keys: keys)
                guard let sealed else { throw .corrupt("no sealed value for secret '\(record.name)'") }
                var value = try Self.open(sealed, of: record, key: old)
                defer { wipe(&value) }
                let resealed = try Sealing.seal(value, key: fresh, associatedData: Sealing.associatedData(id: record.id, name: record.name, version: record.version))
                compares.append(EtcdClient.compare(item.key, "MOD", "EQUAL", item.modRevision))
                puts.append(EtcdClient.requestPut(EtcdClient.put(item.key, EtcdRecord.encode(record, sealed: resealed))))
            }
            // No secret created meanwhile under the old key: the names' range is unchanged.
            compares.append(EtcdClient.compare(keys.names, end: EtcdClient.prefixEnd(keys.names), "MOD", "LESS", state.revision + 1))
            let answer: (succeeded: Bool, ranges: [[EtcdClient.KeyValue]], revision: Int64)
            do {
                answer = try client.txn(compares, success: puts)
            } catch {
                if "\(error)".contains("too many operations") {
                    throw .unavailable(store: url, why: "re-sealing \(state.extra[0].count) secrets needs one transaction of \(puts.count) operations, more than etcd's --max-txn-ops allows: raise it on every member (nothing was changed)")
                }
                throw error
            }
            guard answer.succeeded else { continue }
            try MasterKey.promoteNext(location.keyFile)
            if cachedKey != nil { wipe(&cachedKey!) }
            cachedKey = fresh
            return state.extra[0].count
        }
        throw .unavailable(store: url, why: "rotating the key kept losing races with other changes (nothing was changed)")
    }

    public func checkKey() throws(StoreError) {
        try check(try keyState())
    }

    // MARK: - Reading

    public func list() throws(StoreError) -> [SecretRecord] {
        let state = try keyState(with: [EtcdClient.range(keys.ids, end: EtcdClient.prefixEnd(keys.ids))])
        try check(state)
        var records: [SecretRecord] = []
        for item in state.extra[0] { records.append(try EtcdRecord.decode(item.value, key: item.key, keys: keys).record) }
        records.sort { $0.name < $1.name }
        return records
    }

    public func find(_ reference: String) throws(StoreError) -> SecretRecord {
        let state = try keyState(with: lookups(reference))
        try check(state)
        return try resolve(reference, state.extra[...]).record
    }

    /// The ranges that resolve a reference as Docker does: by full ID, by exact name, by unique
    /// ID prefix (at most two, to tell an ambiguous one). None for a text that cannot be a name
    /// or an ID (it could otherwise reach other keys).
    private func lookups(_ reference: String) -> [JSONValue] {
        guard !reference.isEmpty, !reference.utf8.contains(UInt8(ascii: "/")), reference.utf8.count <= 256 else { return [] }
        var ranges = [EtcdClient.range(keys.id(reference)), EtcdClient.range(keys.name(reference))]
        if SecretID.isWellFormedPrefix(reference) {
            ranges.append(EtcdClient.range(keys.id(reference), end: EtcdClient.prefixEnd(keys.id(reference)), limit: 2))
        }
        return ranges
    }

    /// Resolves `reference` from its `lookups` answers (taken from the front of `answers`):
    /// the record, and the sealed value when it was found by name.
    private func resolve(_ reference: String, _ answers: ArraySlice<[EtcdClient.KeyValue]>) throws(StoreError) -> (record: SecretRecord, sealed: [UInt8]?) {
        guard !lookups(reference).isEmpty else { throw notFound(reference) }
        var answers = answers
        let byID = answers.popFirst() ?? []
        let byName = answers.popFirst() ?? []
        if let item = byID.first { return (try EtcdRecord.decode(item.value, key: item.key, keys: keys).record, nil) }
        if let item = byName.first { return try EtcdRecord.decode(item.value, key: item.key, keys: keys) }
        if SecretID.isWellFormedPrefix(reference), let prefixed = answers.popFirst(), let item = prefixed.first {
            guard prefixed.count == 1 else { throw .ambiguous(reference) }
            return (try EtcdRecord.decode(item.value, key: item.key, keys: keys).record, nil)
        }
        throw notFound(reference)
    }

    public func value(of record: SecretRecord) throws(StoreError) -> [UInt8] {
        var found: [UInt8]?
        try read([record.id]) { _, value in
            found = value
            value = []
        }
        return found ?? []
    }

    /// One transaction resolves every reference and reads the key check; a second one reads the
    /// sealed values of those found by ID (kept under the name), checked to be the same secret.
    public func read(_ references: [String], each: (SecretRecord, inout [UInt8]) -> Void) throws(StoreError) {
        guard !references.isEmpty else { return }
        var ranges: [JSONValue] = []
        var counts: [Int] = []
        for reference in references {
            let asked = lookups(reference)
            counts.append(asked.count)
            ranges += asked
        }
        let state = try keyState(with: ranges)
        guard Files.exists(location.keyFile) else {
            try check(state)
            throw notFound(references[0])
        }
        try check(state)
        let key = try key()
        var found: [(record: SecretRecord, sealed: [UInt8]?)] = []
        var offset = 0
        for (reference, count) in zip(references, counts) {
            found.append(try resolve(reference, state.extra[offset..<offset + count]))
            offset += count
        }
        let missing = found.indices.filter { found[$0].sealed == nil }
        if !missing.isEmpty {
            let answer = try client.txn([], success: missing.map { EtcdClient.requestRange(EtcdClient.range(keys.name(found[$0].record.name))) })
            for (index, items) in zip(missing, answer.ranges) {
                guard let item = items.first else { throw notFound(references[index]) }
                let named = try EtcdRecord.decode(item.value, key: item.key, keys: keys)
                // Removed and made again under the same name between the two reads.
                guard named.record.id == found[index].record.id else { throw notFound(references[index]) }
                found[index] = named
            }
        }
        for (record, sealed) in found {
            guard let sealed else { throw .corrupt("no sealed value for secret '\(record.name)'") }
            var value = try Self.open(sealed, of: record, key: key)
            each(record, &value)
            wipe(&value)
        }
    }

    /// `record`'s value from its sealed bytes (`Sealing`: authenticated with its ID, name and
    /// version); `.undecryptable` under another key or altered.
    private static func open(_ sealed: [UInt8], of record: SecretRecord, key: [UInt8]) throws(StoreError) -> [UInt8] {
        let data = Sealing.associatedData(id: record.id, name: record.name, version: record.version)
        do {
            return try sealed.withUnsafeBytes { try Sealing.open($0, key: key, associatedData: data, name: record.name) }
        } catch let error as StoreError {
            throw error
        } catch {
            throw .corrupt("\(error)")
        }
    }

    // MARK: - Changing

    public func create(name: String, value: [UInt8], labels: [SecretRecord.Label]) throws(StoreError) -> SecretRecord {
        try SecretRules.validateName(name)
        try SecretRules.validateSize(value.count)
        // A lost race (another create's key check, an ID drawn twice) is tried again on what
        // the store holds then; a name taken meanwhile is then a duplicate.
        for _ in 0..<8 {
            let state = try keyState(with: [EtcdClient.range(keys.name(name), keysOnly: true)])
            if !state.extra[0].isEmpty { throw .duplicateName(name) }
            if !Files.exists(location.keyFile) {
                if state.hasSecrets { throw .keyMissing(store: url, keyFile: location.keyFile) }
                if try MasterKey.create(location.keyFile) { createdKey = true }
            }
            var key = try key()
            // The cluster's key rotated elsewhere since this node read its key file.
            if let check = state.check, state.hasSecrets, !KeyCheck.opens(check.value, key: key), adoptRotatedKey(check.value) {
                key = try self.key()
            }
            var compares: [JSONValue] = []
            var puts: [JSONValue] = []
            if let check = state.check, KeyCheck.opens(check.value, key: key) {
                compares.append(EtcdClient.compare(keys.keyCheck, "MOD", "EQUAL", check.modRevision))
            } else {
                if state.hasSecrets { throw .keyMismatch(store: url, keyFile: location.keyFile) }
                // A store without secrets takes this key: its check is written with the first one.
                if let check = state.check {
                    compares.append(EtcdClient.compare(keys.keyCheck, "MOD", "EQUAL", check.modRevision))
                } else {
                    compares.append(EtcdClient.compare(keys.keyCheck, "CREATE", "EQUAL", 0))
                }
                compares.append(EtcdClient.compare(keys.ids, end: EtcdClient.prefixEnd(keys.ids), "CREATE", "EQUAL", 0))
                puts.append(EtcdClient.requestPut(EtcdClient.put(keys.keyCheck, try KeyCheck.seal(key: key))))
            }
            let id = SecretID.generate()
            let now = System.nowNanoseconds()
            // Swarm's Version.Index is its raft index: here the cluster's revision that this
            // create follows.
            let record = SecretRecord(
                id: id, name: name, version: state.revision + 1, createdAt: now, updatedAt: now,
                labels: labels.sorted { $0.key < $1.key })
            let sealed = try Sealing.seal(value, key: key, associatedData: Sealing.associatedData(id: id, name: name, version: record.version))
            compares.append(EtcdClient.compare(keys.name(name), "CREATE", "EQUAL", 0))
            compares.append(EtcdClient.compare(keys.id(id), "CREATE", "EQUAL", 0))
            puts.append(EtcdClient.requestPut(EtcdClient.put(keys.name(name), EtcdRecord.encode(record, sealed: sealed))))
            puts.append(EtcdClient.requestPut(EtcdClient.put(keys.id(id), EtcdRecord.encode(record, sealed: nil))))
            if try client.txn(compares, success: puts).succeeded {
                keyChecked = true
                return record
            }
        }
        throw .unavailable(store: url, why: "creating '\(name)' kept losing races with other changes")
    }

    /// Refused while a workload anywhere holds the secret: this node's leases (checked under the
    /// state dir's exclusive lock, as the local store does, so a `run` starting here cannot slip
    /// between), and every node's published holders, checked by etcd in the delete's own
    /// transaction.
    public func remove(_ record: SecretRecord, leases: LeaseBook) throws(StoreError) {
        try leases.removing(record) { () throws(StoreError) in
            let holders = keys.holders(of: record.id)
            let answer = try client.txn(
                [
                    EtcdClient.compare(keys.id(record.id), "CREATE", "GREATER", 0),
                    EtcdClient.compare(holders, end: EtcdClient.prefixEnd(holders), "CREATE", "EQUAL", 0),
                ],
                success: [
                    EtcdClient.requestDelete(EtcdClient.deleteRange(keys.name(record.name))),
                    EtcdClient.requestDelete(EtcdClient.deleteRange(keys.id(record.id))),
                ],
                failure: [
                    EtcdClient.requestRange(EtcdClient.range(holders, end: EtcdClient.prefixEnd(holders))),
                ])
            if answer.succeeded { return }
            let workloads = (answer.ranges.first ?? []).compactMap { EtcdWorkload($0.value) }
            if workloads.isEmpty { throw notFound(record.name) }
            throw .inUse(secret: record.name, holders: workloads.map(\.described))
        }
    }

    /// Ends the client: its helper process (or its connection to the node agent).
    public func close() {
        client.shutDown()
    }

    /// Publishes the workload `lease` describes as a holder of its secrets, attached to this
    /// node's agent lease, if every one of them is still stored: `secret rm` on any node then
    /// refuses them. `.noNodeAgent` without a live agent here; `.notFound` for a secret removed
    /// since it was read (the workload must not start with it).
    public func hold(_ lease: Lease) throws(StoreError) {
        guard !lease.secrets.isEmpty else { return }
        guard let agent = NodeAgent.running(in: location.stateDirectory) else {
            throw .noNodeAgent(store: url, stateDirectory: location.stateDirectory)
        }
        let workload = EtcdWorkload(lease, node: agent.node)
        let bytes = workload.encoded()
        var compares: [JSONValue] = []
        var puts = [EtcdClient.requestPut(EtcdClient.put(keys.workload(lease.workloadID, on: agent.node), bytes, lease: agent.lease))]
        for held in lease.secrets {
            compares.append(EtcdClient.compare(keys.id(held.id), "CREATE", "GREATER", 0))
            puts.append(EtcdClient.requestPut(EtcdClient.put(keys.holder(of: held.id, node: agent.node, workload: lease.workloadID), bytes, lease: agent.lease)))
        }
        let answer: (succeeded: Bool, ranges: [[EtcdClient.KeyValue]], revision: Int64)
        do {
            answer = try client.txn(compares, success: puts)
        } catch {
            if case .unavailable(_, let why) = error, why.contains("lease not found") {
                throw .noNodeAgent(store: url, stateDirectory: location.stateDirectory)
            }
            throw error
        }
        if !answer.succeeded { throw notFound(lease.secrets[0].name) }
    }

    /// Every node's audit events in etcd (what the agents shipped), in key order: by time,
    /// then node. `after`: only keys past it (`events --follow`). Each as its key and line.
    public func events(after: String? = nil) throws(StoreError) -> [(key: String, line: [UInt8])] {
        let start = after.map { $0 + "\u{0}" } ?? keys.events
        let answer = try client.get(EtcdClient.range(start, end: EtcdClient.prefixEnd(keys.events)))
        return answer.kvs.map { ($0.key, $0.value) }
    }

    /// Every node's live workloads (`ps --all-nodes`), by node then start.
    public func workloads() throws(StoreError) -> [EtcdWorkload] {
        let found = try client.get(EtcdClient.range(keys.nodes, end: EtcdClient.prefixEnd(keys.nodes))).kvs
        return found.filter { $0.key.contains("/workloads/") }.compactMap { EtcdWorkload($0.value) }
            .sorted { ($0.node, $0.startedAt) < ($1.node, $1.startedAt) }
    }
}
