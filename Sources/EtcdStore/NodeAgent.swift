import Glibc
import JSON
import Namespaces
import SecretStore

/// `secretshim node`: one per node, a daemon that keeps an etcd lease alive (TTL `ttl`
/// seconds, renewed every third of it) and publishes the node's live workloads and the secrets
/// they hold under it (`EtcdKeys`: `P/holders/ID/NODE/WORKLOAD` and
/// `P/nodes/NODE/workloads/WORKLOAD`), read from this node's leases as they start, change with
/// `update`, and end. It answers nothing else.
///
/// A node whose agent stops renewing (killed, cut off) is forgotten by etcd after the TTL: its
/// keys go with its lease, and its secrets can be removed. The agent tells this node's commands
/// which lease to hold secrets under through `<state dir>/node.etcd` (`NODE LEASE-ID`), written
/// atomically and removed when it stops; `run` and `update` publish their own holders under it
/// at once (`EtcdSecretStore.hold`), so no remove elsewhere can slip in before the agent's next
/// round.
public final class NodeAgent {
    let store: EtcdSecretStore
    public let node: String
    let ttl: Int64
    let leases: LeaseBook
    private var lease: Int64 = 0

    static let fileName = "node.etcd"
    /// How often the node's leases are read again (seconds).
    static let interval = 0.2

    public init(store: EtcdSecretStore, node: String, ttl: Int64) throws(StoreError) {
        guard SecretRules.isValidName(node) else {
            throw .invalidName(node)
        }
        guard (2...3600).contains(ttl) else { throw .corrupt("--ttl must be 2 to 3600 seconds") }
        self.store = store
        self.node = node
        self.ttl = ttl
        leases = LeaseBook(directory: store.location.stateDirectory)
    }

    /// The agent running for `stateDirectory`, as its file says (not checked with etcd: a
    /// lease that has expired makes the holder's put fail).
    public static func running(in stateDirectory: String) -> (node: String, lease: Int64)? {
        guard let bytes = try? Files.read(stateDirectory + "/" + fileName, limit: 4096) else { return nil }
        let fields = String(decoding: bytes, as: UTF8.self).split(whereSeparator: { $0 == " " || $0 == "\n" })
        guard fields.count == 2, let lease = Int64(fields[1]), lease != 0 else { return nil }
        return (String(fields[0]), lease)
    }

    /// Runs until `stopRequested` says so, then revokes its lease (its keys go at once) and
    /// removes its file. Errors from etcd are reported through `report` and retried: a member
    /// may come back; the lease, if it expired meanwhile, is granted anew and everything
    /// published again.
    public func run(stopRequested: () -> Bool, report: (String) -> Void) throws(StoreError) {
        guard let directory = try leases.open(create: true) else { throw .corrupt("no state dir") }
        directory.close()
        var lastRenewal = 0.0
        var failing = false
        while !stopRequested() {
            do {
                let now = Self.monotonicSeconds()
                if lease == 0 {
                    lease = try store.client.grantLease(ttl: ttl)
                    try writeFile()
                    lastRenewal = now
                } else if now - lastRenewal >= Double(ttl) / 3 {
                    if try store.client.keepAlive(lease) <= 0 {
                        // Expired (the agent was stopped or cut off longer than the TTL).
                        lease = 0
                        continue
                    }
                    lastRenewal = now
                }
                try publish()
                if failing { report("etcd answers again") }
                failing = false
            } catch {
                if !failing { report("\(error)") }
                failing = true
            }
            Self.sleep(Self.interval)
        }
        try? Files.remove(leases.directory + "/" + Self.fileName)
        if lease != 0 { try? store.client.revokeLease(lease) }
    }

    /// One round: what etcd shows of this node, made to agree with its live leases.
    ///
    /// etcd is read before the leases: a workload that `run` or `update` holds secrets for
    /// (`EtcdSecretStore.hold`) recorded its lease before that, so a workload seen in etcd whose
    /// lease is not live has ended, and its keys go. A lease in the middle of an `update` (a
    /// pending set) keeps every key it has: the new set was published by `update` itself.
    func publish() throws(StoreError) {
        let prefix = store.keys.workloads(on: node)
        var shown: [String: (bytes: [UInt8], lease: Int64, workload: EtcdWorkload?)] = [:]
        for item in try store.client.get(EtcdClient.range(prefix, end: EtcdClient.prefixEnd(prefix))).kvs {
            shown[String(item.key.dropFirst(prefix.count))] = (item.value, item.lease, EtcdWorkload(item.value))
        }
        var live: [String: Lease] = [:]
        for lease in try leases.liveLeases() { live[lease.workloadID] = lease }
        var operations: [JSONValue] = []
        func delete(_ key: String) { operations.append(EtcdClient.requestDelete(EtcdClient.deleteRange(key))) }
        func put(_ key: String, _ bytes: [UInt8]) { operations.append(EtcdClient.requestPut(EtcdClient.put(key, bytes, lease: self.lease))) }
        for (id, entry) in shown where live[id] == nil {
            delete(store.keys.workload(id, on: node))
            for held in entry.workload?.secrets ?? [] { delete(store.keys.holder(of: held.id, node: node, workload: id)) }
        }
        for (id, lease) in live where !lease.secrets.isEmpty {
            let bytes = EtcdWorkload(lease, node: node).encoded()
            // Published already, under this agent's lease (a previous agent's expires).
            if shown[id]?.bytes == bytes && shown[id]?.lease == self.lease { continue }
            let updating = lease.workload?.pending != nil
            if !updating {
                put(store.keys.workload(id, on: node), bytes)
                for held in shown[id]?.workload?.secrets ?? [] where !lease.secrets.contains(held) {
                    delete(store.keys.holder(of: held.id, node: node, workload: id))
                }
            } else if shown[id] == nil {
                put(store.keys.workload(id, on: node), bytes)
            }
            for held in lease.secrets { put(store.keys.holder(of: held.id, node: node, workload: id), bytes) }
        }
        try apply(operations)
    }

    /// In transactions of at most 100 operations (etcd's default limit is 128).
    private func apply(_ operations: [JSONValue]) throws(StoreError) {
        var rest = operations[...]
        while !rest.isEmpty {
            _ = try store.client.txn([], success: Array(rest.prefix(100)))
            rest = rest.dropFirst(100)
        }
    }

    private func writeFile() throws(StoreError) {
        let path = leases.directory + "/" + Self.fileName
        do {
            try Files.replace(path, with: Array("\(node) \(lease)\n".utf8), mode: 0o600, temporary: path + ".new", durably: false)
        } catch {
            throw .system(error)
        }
    }

    static func monotonicSeconds() -> Double {
        var now = timespec()
        clock_gettime(CLOCK_MONOTONIC, &now)
        return Double(now.tv_sec) + Double(now.tv_nsec) / 1e9
    }

    static func sleep(_ seconds: Double) {
        var time = timespec(tv_sec: Int(seconds), tv_nsec: Int((seconds - Double(Int(seconds))) * 1e9))
        _ = nanosleep(&time, nil)
    }
}
