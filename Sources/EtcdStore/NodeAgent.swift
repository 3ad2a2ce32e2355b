import Glibc
import JSON
import Namespaces
import SecretStore

/// `secretshim node`: one per node, a daemon that keeps an etcd lease alive (TTL `ttl`
/// seconds, renewed every third of it) and publishes the node's live workloads and the secrets
/// they hold under it (`EtcdKeys`: `P/holders/ID/NODE/WORKLOAD` and
/// `P/nodes/NODE/workloads/WORKLOAD`), read from this node's leases as they start, change with
/// `update`, and end.
///
/// It also relays this node's requests to etcd (`EtcdClient`), over `<state dir>/node.sock`,
/// through its own etcd client, whose connection is already open: that is most of what `run` on
/// etcd costs otherwise. It relays for its own user only (the socket is 0600, and each peer's
/// user ID is checked) and for its own store only (the client's first frame names it).
///
/// A node whose agent stops renewing (killed, cut off) is forgotten by etcd after the TTL: its
/// keys go with its lease, and its secrets can be removed. The agent tells this node's commands
/// which lease to hold secrets under through `<state dir>/node.etcd` (`NODE LEASE-ID`), written
/// atomically; `run` and `update` publish their own holders under it at once
/// (`EtcdSecretStore.hold`), so no remove elsewhere can slip in before the agent's next round.
///
/// One agent per node, and one per state dir (fresh-eyes findings: two agents of one node name,
/// on two hosts called `localhost`, deleted each other's holders, and `secret rm` then removed
/// a secret in use):
/// - it holds `<state dir>/node.lock` (flock) while it runs: a second agent for the state dir
///   is refused, and `running(in:)` tells a live agent from the file a killed one left;
/// - it claims the node name in etcd, `P/nodes/NODE/agent`, attached to its lease: an agent for
///   a name another agent holds is refused, until that one's lease ends.
/// An agent restarted on the same state dir (killed, or stopped while workloads held secrets)
/// takes over its predecessor's lease while that lease lives, so the node's holders never lapse.
public final class NodeAgent {
    let store: EtcdSecretStore
    public let node: String
    let ttl: Int64
    let leases: LeaseBook
    private var lease: Int64 = 0

    static let fileName = "node.etcd"
    static let lockName = "node.lock"
    package static let socketName = "node.sock"
    /// How often the node's leases are read again (seconds).
    static let interval = 0.2
    /// The relay's connections at once; more wait in the listen queue.
    static let maximumClients = 64
    /// Seconds a client may take to send a whole frame, and to take its answer.
    static let clientTimeout = 2.0
    /// The largest request a client may send: a create of a 500 KB secret, sealed and in
    /// base64, is under 1 MB. (Answers, from etcd, may be larger: `EtcdClient.maximumFrame`.)
    static let maximumRequest = 4 << 20
    private var listener: FileDescriptor?
    /// A connected client: what it has sent of its next frame, since when, and whether it has
    /// said which store it means. Read only when the kernel has bytes for it, so no client can
    /// hold the agent (a fresh-eyes finding: a client trickling a frame, byte by byte, kept a
    /// blocking agent from renewing its lease).
    private struct Client {
        let socket: FileDescriptor
        var pending: [UInt8] = []
        var since = 0.0
        var greeted = false
    }
    private var clients: [Client] = []
    /// The TTL etcd gave the lease held (an adopted lease keeps its own).
    private var leaseTTL: Int64 = 0

    /// This node's audit events, read from its own log and shipped to `P/events/` (the
    /// commands layer reads the log; this module does not know its format).
    public protocol EventSource: AnyObject {
        /// Whole events written since the last `shipped()`: each one's time and JSON line.
        func pending() -> [(time: Int64, line: [UInt8])]
        /// The events `pending` returned are in etcd: not to be returned again.
        func shipped()
    }
    private let events: EventSource?
    /// Events older than this are deleted from etcd by the agents (nanoseconds: 30 days).
    static let eventRetention: Int64 = 30 * 24 * 3600 * 1_000_000_000

    /// `ended`: what this node's finished workloads' leases are reported to (the audit log's
    /// `revoke`); `events`: this node's audit log, shipped to etcd.
    public init(
        store: EtcdSecretStore, node: String, ttl: Int64, ended: (@Sendable (Lease, Int64) -> Void)? = nil, events: EventSource? = nil
    ) throws(StoreError) {
        guard SecretRules.isValidName(node) else {
            throw .invalidName(node)
        }
        guard Self.ttlRange.contains(ttl) else { throw .corrupt("--ttl must be \(Self.ttlRange.lowerBound) to \(Self.ttlRange.upperBound) seconds") }
        self.store = store
        self.node = node
        self.ttl = ttl
        leases = LeaseBook(directory: store.location.stateDirectory, ended: ended)
        self.events = events
        // Its own requests go to its own helper, never to a socket (its own, or a stale one).
        store.client.agentSocket = nil
    }

    /// Seconds: at least 5, since a renewal may wait 3 s for a member that accepts connections
    /// and never answers before it tries the next (a fresh-eyes finding: with a TTL of 2, one
    /// frozen member let the lease expire while the agent ran).
    public static let ttlRange: ClosedRange<Int64> = 5...3600

    /// The agent running for `stateDirectory`: its node and lease as its file says, if an agent
    /// holds the state dir's lock (a file that a killed agent left names no live one). Not
    /// checked with etcd: a lease that has expired makes the holder's put fail.
    public static func running(in stateDirectory: String) -> (node: String, lease: Int64)? {
        guard let lock = try? FileDescriptor.open(stateDirectory + "/" + lockName, O_RDONLY | O_NOFOLLOW | O_NONBLOCK) else { return nil }
        defer { lock.close() }
        do {
            try lock.lock(LOCK_SH | LOCK_NB)
            // Nobody holds it: no agent runs.
            return nil
        } catch {
            guard error.errno == EWOULDBLOCK else { return nil }
        }
        return recorded(in: stateDirectory)
    }

    /// What `node.etcd` says, live agent or not.
    static func recorded(in stateDirectory: String) -> (node: String, lease: Int64)? {
        guard let bytes = try? Files.read(stateDirectory + "/" + fileName, limit: 4096) else { return nil }
        let fields = String(decoding: bytes, as: UTF8.self).split(whereSeparator: { $0 == " " || $0 == "\n" })
        guard fields.count == 2, let lease = Int64(fields[1]), lease != 0 else { return nil }
        return (String(fields[0]), lease)
    }

    /// Why an agent does not start: another one runs for the state dir or holds the node name.
    public struct Refused: Error, CustomStringConvertible {
        public let description: String
    }

    /// Runs until `stopRequested` says so, then revokes its lease (its keys go at once) and
    /// removes its file, unless workloads here still hold secrets: then the lease lives out its
    /// TTL for a restarted agent to take over. Errors from etcd are reported through `report`
    /// and retried: a member may come back; the lease, if it expired meanwhile, is granted anew
    /// and everything published again. Throws `Refused` (another agent for the state dir or the
    /// node name), or a `SysError`/`StoreError` for a state dir it cannot use.
    public func run(stopRequested: () -> Bool, report: (String) -> Void) throws {
        guard let directory = try leases.open(create: true) else { throw StoreError.corrupt("no state dir") }
        directory.close()
        let lockPath = leases.directory + "/" + Self.lockName
        let lock = try FileDescriptor.open(lockPath, O_RDWR | O_CREAT | O_NOFOLLOW, mode: 0o600)
        defer { lock.close() }
        // `running(in:)` takes the lock shared for a moment: a few tries before refusing.
        var tries = 0
        while true {
            do {
                try lock.lock(LOCK_EX | LOCK_NB)
                break
            } catch {
                guard error.errno == EWOULDBLOCK else { throw error }
                tries += 1
                guard tries < 50 else {
                    throw Refused(description: "another agent runs for the state dir \(leases.directory): one agent per node")
                }
                Self.sleep(0.02)
            }
        }
        let socketPath = leases.directory + "/" + Self.socketName
        do {
            listener = try LocalSocket.listen(at: socketPath, mode: 0o600)
        } catch {
            report("no relay for this node's commands (each starts its own etcd client): \(error)")
        }
        defer {
            for client in clients { client.socket.close() }
            clients = []
            if let listener {
                listener.close()
                try? Files.remove(socketPath)
            }
        }
        var lastRenewal = 0.0
        var failing = false
        // A predecessor's file: its lease may be taken over, but no command may hold under it
        // before this agent has (`running` reads the file once the lock is held).
        var previous = Self.recorded(in: leases.directory).flatMap { $0.node == node ? $0.lease : nil }
        try? Files.remove(leases.directory + "/" + Self.fileName)
        while !stopRequested() {
            do {
                let now = Self.monotonicSeconds()
                if lease == 0 {
                    let adopting = previous
                    lease = try acquireLease(previous: previous)
                    previous = nil
                    try writeFile()
                    lastRenewal = now
                    let how = lease == adopting ? ", the lease of the agent before it" + (leaseTTL != ttl ? "; --ttl \(ttl) applies to the next" : "") : ""
                    report("publishing the workloads of node \(node) to \(store.url) (TTL \(leaseTTL) s\(how))")
                } else if now - lastRenewal >= Double(leaseTTL) / 3 {
                    if try store.client.keepAlive(lease) <= 0 {
                        // Expired (the agent was stopped or cut off longer than the TTL).
                        lease = 0
                        continue
                    }
                    lastRenewal = now
                }
                try publish()
                try shipEvents()
                if failing { report("etcd answers again") }
                failing = false
            } catch let refused as Refused {
                throw refused
            } catch {
                if !failing { report("\(error)") }
                failing = true
            }
            serve(for: Self.interval)
        }
        // Workloads still holding secrets keep them held: the lease lives out its TTL, and an
        // agent restarted here within it takes it over (`systemctl restart` leaves no window).
        let holding = (try? leases.liveLeases())?.filter { !$0.secrets.isEmpty }.count ?? 0
        if holding > 0 && lease != 0 {
            report("\(holding) workload(s) here still hold secrets: their holds stay for \(leaseTTL) s (the lease's TTL), for a restarted agent to take over")
            return
        }
        try? Files.remove(leases.directory + "/" + Self.fileName)
        if lease != 0 { try? store.client.revokeLease(lease) }
    }

    /// This agent's lease, with the node name claimed under it: the lease `previous` (a
    /// predecessor's on this state dir) while it lives, else a new one. `Refused` if another
    /// agent holds the name.
    private func acquireLease(previous: Int64?) throws -> Int64 {
        var lease: Int64 = 0
        // An adopted lease keeps the TTL it was granted with, and is renewed by it (a fresh-eyes
        // finding: renewed by a longer new --ttl, it expired under the node's workloads).
        if let previous {
            let left = try store.client.keepAlive(previous)
            if left > 0 {
                lease = previous
                leaseTTL = left
            }
        }
        if lease == 0 {
            lease = try store.client.grantLease(ttl: ttl)
            leaseTTL = ttl
        }
        let claim = store.keys.agent(of: node)
        let answer = try store.client.txn(
            [EtcdClient.compare(claim, "CREATE", "EQUAL", 0)],
            success: [EtcdClient.requestPut(EtcdClient.put(claim, Array("\(lease)".utf8), lease: lease))],
            failure: [EtcdClient.requestRange(EtcdClient.range(claim))])
        if answer.succeeded { return lease }
        let holder = answer.ranges.first?.first
        if let holder, holder.lease == lease { return lease }
        if lease != previous { try? store.client.revokeLease(lease) }
        throw Refused(description: "node '\(node)' already has an agent (etcd lease \(holder.map { String($0.lease) } ?? "?"), on another host or state dir): give each node its own name with --node or SECRETSHIM_NODE, or stop the other agent (its claim ends with its lease's TTL)")
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

    /// This node's new audit events into `P/events/`, keyed by time, node and a number, so
    /// that every node's read in one order; those older than `eventRetention` are deleted.
    func shipEvents() throws(StoreError) {
        guard let events else { return }
        let pending = events.pending()
        guard !pending.isEmpty else { return }
        var operations: [JSONValue] = []
        for event in pending {
            eventNumber += 1
            let key = store.keys.event(time: event.time, node: node, number: eventNumber)
            operations.append(EtcdClient.requestPut(EtcdClient.put(key, event.line)))
        }
        let cutoff = store.keys.event(time: System.nowNanoseconds() - Self.eventRetention, node: "", number: 0)
        operations.append(EtcdClient.requestDelete(EtcdClient.deleteRange(store.keys.events, end: cutoff)))
        try apply(operations)
        events.shipped()
    }
    /// Numbers this agent's events apart within one nanosecond (with its start time, unique).
    private lazy var eventNumber: UInt64 = UInt64(max(0, System.nowNanoseconds())) % 1_000_000_000 * 1_000_000

    /// In transactions of at most 100 operations (etcd's default limit is 128).
    private func apply(_ operations: [JSONValue]) throws(StoreError) {
        var rest = operations[...]
        while !rest.isEmpty {
            _ = try store.client.txn([], success: Array(rest.prefix(100)))
            rest = rest.dropFirst(100)
        }
    }

    /// Relays clients' requests for `seconds` (or sleeps, without a socket).
    private func serve(for seconds: Double) {
        guard let listener else { return Self.sleep(seconds) }
        let deadline = Self.monotonicSeconds() + seconds
        while true {
            let now = Self.monotonicSeconds()
            // A client that has sent part of a frame and nothing more for too long is dropped.
            for client in clients where !client.pending.isEmpty && now - client.since > Self.clientTimeout { drop(client.socket) }
            let left = deadline - now
            guard left > 0 else { return }
            let waiting = [listener] + clients.map(\.socket)
            guard let ready = try? LocalSocket.readable(waiting, milliseconds: Int32(min(left, Self.clientTimeout) * 1000) + 1), !ready.isEmpty else { continue }
            for socket in ready {
                if socket.rawValue == listener.rawValue { accept(listener) } else { read(socket) }
            }
        }
    }

    private func accept(_ listener: FileDescriptor) {
        while let client = try? LocalSocket.accept(listener) {
            guard clients.count < Self.maximumClients, (try? LocalSocket.peerUserID(client)) == System.effectiveUserID else {
                client.close()
                continue
            }
            clients.append(Client(socket: client))
        }
    }

    private func drop(_ socket: FileDescriptor) {
        socket.close()
        clients.removeAll { $0.socket.rawValue == socket.rawValue }
    }

    /// What a client has sent, kept until its frame is whole; then its hello is answered, or
    /// its request relayed to etcd. A client that ends, sends something else or too much, or
    /// does not take its answer in time, is dropped (it then starts its own helper, or fails).
    private func read(_ socket: FileDescriptor) {
        guard let index = clients.firstIndex(where: { $0.socket.rawValue == socket.rawValue }) else { return }
        guard let bytes = LocalSocket.receiveAvailable(socket, limit: 1 << 16) else { return drop(socket) }
        if clients[index].pending.isEmpty { clients[index].since = Self.monotonicSeconds() }
        clients[index].pending += bytes
        let pending = clients[index].pending
        guard pending.count >= 4 else { return }
        let length = EtcdClient.frameLength(Array(pending.prefix(4)))
        guard length <= Self.maximumRequest, pending.count <= 4 + length else { return drop(socket) }
        guard pending.count == 4 + length else { return }
        clients[index].pending = []
        let frame = Array(pending[4...])
        let reply: [UInt8]
        if clients[index].greeted {
            reply = store.client.relay(frame)
        } else {
            guard frame == EtcdClient.hello(store.configuration) else {
                _ = LocalSocket.sendAll(EtcdClient.frame([EtcdClient.unavailable]), on: socket, milliseconds: 100)
                return drop(socket)
            }
            clients[index].greeted = true
            reply = [EtcdClient.answered]
        }
        if !LocalSocket.sendAll(EtcdClient.frame(reply), on: socket, milliseconds: Int(Self.clientTimeout * 1000)) { drop(socket) }
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
