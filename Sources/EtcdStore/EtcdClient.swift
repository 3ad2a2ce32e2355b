import FoundationEssentials
import Glibc
import JSON
import Namespaces
import SecretStore

/// etcd's v3 API (`/v3/kv/range`, `/v3/kv/txn`, `/v3/lease/*`) as the store and the agent call
/// it, synchronously. The requests themselves are made by `secretshim-etcd` (`EtcdGateway`, on
/// AsyncHTTPClient), a helper program started on the first call, while this process is still
/// single-threaded, and spoken to over a socket pair: NIO's event loop and blocking pool, and
/// Dispatch, start threads that cannot all be joined, and a multi-threaded process can neither
/// enter a mount namespace (setns(2): EINVAL, which `update` needs) nor make one (unshare(2),
/// which `run --rootfs` needs after it has read its secrets). The helper holds no key and no
/// plaintext: only the sealed records and the requests pass through it. It dies with this
/// process (parent-death signal, and EOF on the socket), and holds no descriptor of it but the
/// socket and stdio.
///
/// Frames both ways: a 4-byte big-endian length, then the bytes. Request: JSON
/// `{"path","body","accept":[...]}`; answer: `answered` and etcd's JSON as it came, or
/// `unavailable` and why, in UTF-8.
///
/// Where this node's agent runs (`NodeAgent`), the client speaks to it instead, over its socket
/// in the state dir: the agent relays the same frames to its own helper, whose connection to
/// etcd is already open. A process then pays neither the helper's start nor a TLS handshake
/// (about half of what `run` on etcd cost: 37 ms to 18 ms on the test VM). The socket is the agent's user's only (0600, and the
/// agent checks the peer's user ID), and the agent serves only a client of its own store
/// (`hello`); anything else, or no agent, and the client starts its own helper.
package final class EtcdClient {
    let configuration: EtcdConfiguration
    /// The node agent's socket to try first; nil in the agent itself.
    package var agentSocket: String?
    /// The helper's socket and pid, or the agent's socket and no pid.
    private var helper: (socket: FileDescriptor, pid: pid_t?)?
    private var isShutDown = false
    /// The largest frame either side takes: `ls` of 10,000 secrets is about 4 MB.
    static let maximumFrame = 256 << 20
    package static let answered: UInt8 = 1
    package static let unavailable: UInt8 = 0

    init(_ configuration: EtcdConfiguration, agentSocket: String?) throws(StoreError) {
        self.configuration = configuration
        self.agentSocket = agentSocket
    }

    deinit {
        shutDown()
    }

    /// Ends the helper (EOF on its socket) and reaps it.
    func shutDown() {
        guard !isShutDown else { return }
        isShutDown = true
        // It holds nothing to save, and its HTTP client's graceful shutdown waited 5 s for a
        // member that never answered before a failed command could say so.
        discardHelper()
    }

    /// POSTs `body` to `path` (e.g. `/v3/kv/range`) through the helper and returns etcd's answer;
    /// `.unavailable` when no member answered (or answered an error that `accept` does not name).
    func call(_ path: String, _ body: JSONValue, accept: [String] = []) throws(StoreError) -> JSONValue {
        guard !isShutDown else { throw .unavailable(store: configuration.url, why: "the client was closed") }
        let socket = try startHelper()
        let request: JSONValue = .object(["path": .string(path), "body": body, "accept": .array(accept.map { .string($0) })])
        let reply = try exchange(JSONWriter().bytes(request), on: socket)
        guard reply.first == Self.answered else {
            throw .unavailable(store: configuration.url, why: String(decoding: reply.dropFirst(), as: UTF8.self))
        }
        do {
            return try JSONValue.parse(Array(reply.dropFirst()))
        } catch {
            throw .unavailable(store: configuration.url, why: "etcd's answer is not JSON: \(error)")
        }
    }

    /// One request frame out, its answer frame back. A helper or agent that failed (ended,
    /// stopped answering) is let go, so that the next call starts a fresh helper: an agent
    /// whose helper was killed otherwise kept its dead socket and stopped renewing its lease
    /// (a fresh-eyes finding).
    private func exchange(_ request: [UInt8], on socket: FileDescriptor) throws(StoreError) -> [UInt8] {
        let through = helper?.pid == nil ? "the node agent" : "the etcd client process"
        func failed(_ why: String) -> StoreError {
            discardHelper()
            return .unavailable(store: configuration.url, why: why)
        }
        let reply: [UInt8]?
        do throws(SysError) {
            try Self.send(request, on: socket)
            reply = try Self.receive(on: socket)
        } catch {
            if error.errno == EAGAIN || error.errno == EWOULDBLOCK { throw failed("\(through) did not answer within \(Self.agentTimeout) s") }
            throw failed("\(through): \(error)")
        }
        guard let reply else { throw failed("\(through) ended") }
        return reply
    }

    private func discardHelper() {
        guard let helper else { return }
        helper.socket.close()
        if let pid = helper.pid {
            kill(pid, SIGKILL)
            _ = ChildProcess.wait(pid)
        }
        self.helper = nil
    }

    /// Seconds a client waits for the agent: to answer its hello (else it starts its own
    /// helper), and for each answer (etcd's worst: 3 s for each member that does not answer).
    static let agentHelloTimeout = 1
    static let agentTimeout = 15

    /// For the agent: one client's request frame, sent on to this client's helper as it came,
    /// and the helper's answer frame as it came (or `unavailable` and why).
    func relay(_ request: [UInt8]) -> [UInt8] {
        do {
            let socket = try startHelper()
            return try exchange(request, on: socket)
        } catch {
            if case .unavailable(_, let why) = error { return [Self.unavailable] + Array("the node agent's etcd client: \(why)".utf8) }
            return [Self.unavailable] + Array("the node agent's etcd client: \(error)".utf8)
        }
    }

    /// The first frame a client sends the agent: the store it means, with the credentials it
    /// would use. The agent answers `answered` only if it is its own.
    static func hello(_ configuration: EtcdConfiguration) -> [UInt8] {
        JSONWriter().bytes(.object([
            "store": .string(configuration.url), "cacert": .string(configuration.caCertificate ?? ""),
            "cert": .string(configuration.certificate ?? ""), "key": .string(configuration.key ?? ""),
        ]))
    }

    /// The agent's socket, if an agent of this store listens on it.
    private func connectToAgent(_ path: String) -> FileDescriptor? {
        guard let socket = try? LocalSocket.connect(to: path, timeout: Self.agentHelloTimeout) else { return nil }
        if (try? Self.send(Self.hello(configuration), on: socket)) != nil,
           let reply = try? Self.receive(on: socket), reply == [Self.answered],
           (try? LocalSocket.setTimeouts(socket, seconds: Self.agentTimeout)) != nil {
            return socket
        }
        socket.close()
        return nil
    }

    private func startHelper() throws(StoreError) -> FileDescriptor {
        if let helper { return helper.socket }
        if let agentSocket, let socket = connectToAgent(agentSocket) {
            helper = (socket, nil)
            return socket
        }
        // A FIFO or a device would block the helper's read for ever (a fresh-eyes finding).
        for file in [configuration.caCertificate, configuration.certificate, configuration.key].compactMap({ $0 }) {
            let st: stat
            do { st = try Files.status(file) } catch { throw .unavailable(store: configuration.url, why: "TLS file \(error)") }
            guard st.st_mode & S_IFMT == S_IFREG else {
                throw .unavailable(store: configuration.url, why: "the TLS file \(file) is not a regular file")
            }
        }
        var ends: [Int32] = [-1, -1]
        do {
            _ = try sys("socketpair") { socketpair(AF_UNIX, Int32(SOCK_STREAM.rawValue) | Int32(SOCK_CLOEXEC.rawValue), 0, &ends) }
            let program = try Self.helperPath(configuration)
            let arguments = [
                program, configuration.url, configuration.caCertificate ?? "", configuration.certificate ?? "", configuration.key ?? "",
            ]
            let pid = try ChildProcess.fork()
            if pid == 0 {
                // The helper's socket is its fd 3; it closes everything else it finds open.
                if ends[1] != 3 {
                    dup2(ends[1], 3)
                } else {
                    _ = fcntl(3, F_SETFD, 0)
                }
                ChildProcess.setParentDeathSignal(SIGKILL)
                _ = Exec.execute(arguments, environment: [], searchPath: nil)
                _exit(127)
            }
            Glibc.close(ends[1])
            let socket = FileDescriptor(rawValue: ends[0])
            helper = (socket, pid)
            return socket
        } catch {
            if ends[0] >= 0 { Glibc.close(ends[0]) }
            if ends[1] >= 0 { Glibc.close(ends[1]) }
            throw .unavailable(store: configuration.url, why: "cannot start the etcd client process: \(error)")
        }
    }

    /// `secretshim-etcd`, installed beside this program (`/proc/self/exe`'s folder): the etcd
    /// client, a program of its own so that neither `run`'s path nor any other command of the
    /// local store carries NIO's code (the Swift runtime's start-up and every conformance check
    /// grow with what a binary links).
    static func helperPath(_ configuration: EtcdConfiguration) throws(StoreError) -> String {
        guard let helper = Exec.companion("secretshim-etcd") else {
            throw .unavailable(store: configuration.url, why: "its client secretshim-etcd is not installed beside secretshim")
        }
        return helper
    }

    /// `bytes` as a frame: its length, 4 bytes big-endian, then the bytes.
    static func frame(_ bytes: [UInt8]) -> [UInt8] {
        let count = UInt32(bytes.count)
        var frame: [UInt8] = [UInt8(count >> 24), UInt8((count >> 16) & 0xFF), UInt8((count >> 8) & 0xFF), UInt8(count & 0xFF)]
        frame.append(contentsOf: bytes)
        return frame
    }

    package static func send(_ bytes: [UInt8], on socket: FileDescriptor) throws(SysError) {
        let frame = frame(bytes)
        var sent = 0
        while sent < frame.count {
            let wrote = try sys("send") {
                frame.withUnsafeBytes { Glibc.send(socket.rawValue, $0.baseAddress! + sent, $0.count - sent, Int32(MSG_NOSIGNAL)) }
            }
            sent += wrote
        }
    }

    /// The length a frame's first 4 bytes give (big-endian), `frame`'s inverse.
    static func frameLength(_ head: [UInt8]) -> Int {
        Int(head[0]) << 24 | Int(head[1]) << 16 | Int(head[2]) << 8 | Int(head[3])
    }

    /// One frame, nil at EOF before it.
    package static func receive(on socket: FileDescriptor) throws(SysError) -> [UInt8]? {
        guard let head = try readExactly(4, from: socket) else { return nil }
        let count = frameLength(head)
        guard count <= maximumFrame else { throw SysError("read a frame of \(count) bytes", errno: EMSGSIZE) }
        return try readExactly(count, from: socket)
    }

    static func readExactly(_ count: Int, from socket: FileDescriptor) throws(SysError) -> [UInt8]? {
        var bytes = [UInt8](repeating: 0, count: count)
        var got = 0
        while got < count {
            let read = try sys("recv") {
                bytes.withUnsafeMutableBytes { Glibc.recv(socket.rawValue, $0.baseAddress! + got, count - got, 0) }
            }
            if read == 0 { return nil }
            got += read
        }
        return bytes
    }

    // MARK: - The v3 calls

    struct KeyValue {
        let key: String
        let value: [UInt8]
        let createRevision: Int64
        let modRevision: Int64
        let lease: Int64
    }

    /// A `RangeRequest` as the gateway takes it: `key` alone, or every key from `key` up to
    /// `rangeEnd` (exclusive; `prefixEnd(key)` for a prefix).
    static func range(_ key: String, end: String? = nil, limit: Int = 0, keysOnly: Bool = false, countOnly: Bool = false) -> JSONValue {
        var request: JSONObject = ["key": .string(base64(key))]
        if let end { request.members["range_end"] = .string(base64(end)) }
        if limit > 0 { request.members["limit"] = .string(String(limit)) }
        if keysOnly { request.members["keys_only"] = .bool(true) }
        if countOnly { request.members["count_only"] = .bool(true) }
        return .object(request)
    }

    static func put(_ key: String, _ value: [UInt8], lease: Int64 = 0) -> JSONValue {
        var request: JSONObject = ["key": .string(base64(key)), "value": .string(base64(value))]
        if lease != 0 { request.members["lease"] = .string(String(lease)) }
        return .object(request)
    }

    static func deleteRange(_ key: String, end: String? = nil) -> JSONValue {
        var request: JSONObject = ["key": .string(base64(key))]
        if let end { request.members["range_end"] = .string(base64(end)) }
        return .object(request)
    }

    /// A `Compare` on `key` (or every key up to `end`): its `target` (CREATE, MOD, VERSION)
    /// against `revision` with `result` (EQUAL, GREATER, LESS, NOT_EQUAL). Over a range with
    /// no key, etcd compares an absent key (revision 0): "none exists" is CREATE EQUAL 0.
    static func compare(_ key: String, end: String? = nil, _ target: String, _ result: String, _ revision: Int64) -> JSONValue {
        var compare: JSONObject = [
            "key": .string(base64(key)), "target": .string(target), "result": .string(result),
        ]
        compare.members[target == "CREATE" ? "create_revision" : target == "MOD" ? "mod_revision" : "version"] = .string(String(revision))
        if let end { compare.members["range_end"] = .string(base64(end)) }
        return .object(compare)
    }

    /// `/v3/kv/range`.
    func get(_ request: JSONValue) throws(StoreError) -> (kvs: [KeyValue], count: Int64, revision: Int64) {
        let answer = try call("/v3/kv/range", request)
        return (try Self.keyValues(answer["kvs"]), Int64(answer["count"]?.stringValue ?? "0") ?? 0, Self.revision(answer))
    }

    /// `/v3/kv/txn`: whether the compares held, the answers of the branch that ran (each a
    /// `response_range` answer's key-values, empty for the others), and the revision.
    func txn(_ compares: [JSONValue], success: [JSONValue], failure: [JSONValue] = []) throws(StoreError) -> (succeeded: Bool, ranges: [[KeyValue]], revision: Int64) {
        let answer = try call("/v3/kv/txn", .object(["compare": .array(compares), "success": .array(success), "failure": .array(failure)]))
        var ranges: [[KeyValue]] = []
        for response in answer["responses"]?.arrayValue ?? [] {
            ranges.append(try Self.keyValues(response["response_range"]?["kvs"]))
        }
        return (answer["succeeded"] == .bool(true), ranges, Self.revision(answer))
    }

    static func requestRange(_ range: JSONValue) -> JSONValue { .object(["request_range": range]) }
    static func requestPut(_ put: JSONValue) -> JSONValue { .object(["request_put": put]) }
    static func requestDelete(_ delete: JSONValue) -> JSONValue { .object(["request_delete_range": delete]) }

    /// `/v3/lease/grant`: a new lease of `ttl` seconds; its ID.
    func grantLease(ttl: Int64) throws(StoreError) -> Int64 {
        let answer = try call("/v3/lease/grant", .object(["TTL": .string(String(ttl))]))
        guard let id = answer["ID"]?.stringValue.flatMap({ Int64($0) }), id != 0 else {
            throw .unavailable(store: configuration.url, why: "lease grant: \(answer["error"]?.stringValue ?? "no lease ID")")
        }
        return id
    }

    /// `/v3/lease/keepalive` (one round of the stream): the lease's remaining TTL, 0 once it
    /// has expired (etcd then no longer knows it).
    func keepAlive(_ lease: Int64) throws(StoreError) -> Int64 {
        let answer = try call("/v3/lease/keepalive", .object(["ID": .string(String(lease))]))
        let ttl = answer["result"]?["TTL"]?.stringValue ?? answer["TTL"]?.stringValue
        return Int64(ttl ?? "0") ?? 0
    }

    /// `/v3/lease/revoke`: the lease and every key attached to it are gone.
    func revokeLease(_ lease: Int64) throws(StoreError) {
        _ = try call("/v3/lease/revoke", .object(["ID": .string(String(lease))]), accept: ["lease not found"])
    }

    // MARK: - Encoding

    static func base64(_ text: String) -> String { Data(text.utf8).base64EncodedString() }
    static func base64(_ bytes: [UInt8]) -> String { Data(bytes).base64EncodedString() }

    static func revision(_ answer: JSONValue) -> Int64 {
        Int64(answer["header"]?["revision"]?.stringValue ?? "0") ?? 0
    }

    static func keyValues(_ list: JSONValue?) throws(StoreError) -> [KeyValue] {
        var found: [KeyValue] = []
        for item in list?.arrayValue ?? [] {
            guard let key = item["key"]?.stringValue.flatMap({ Data(base64Encoded: $0) }),
                  let name = String(validating: key, as: UTF8.self) else {
                throw .corrupt("etcd answered a key that is not base64 UTF-8")
            }
            // An empty value is left out by the gateway.
            guard let value = Data(base64Encoded: item["value"]?.stringValue ?? "") else {
                throw .corrupt("etcd answered a value that is not base64 (key \(name))")
            }
            found.append(KeyValue(
                key: name, value: Array(value),
                createRevision: Int64(item["create_revision"]?.stringValue ?? "0") ?? 0,
                modRevision: Int64(item["mod_revision"]?.stringValue ?? "0") ?? 0,
                lease: Int64(item["lease"]?.stringValue ?? "0") ?? 0))
        }
        return found
    }

    /// The first key after every key that starts with `prefix` (etcd's "prefix end").
    static func prefixEnd(_ prefix: String) -> String {
        var bytes = Array(prefix.utf8)
        while let last = bytes.last {
            if last < 0xFF {
                bytes[bytes.count - 1] = last + 1
                return String(decoding: bytes, as: UTF8.self)
            }
            bytes.removeLast()
        }
        return "\0"
    }
}
