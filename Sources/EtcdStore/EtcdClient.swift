import AsyncHTTPClient
import Foundation
import JSON
import NIOCore
import NIOPosix
import NIOSSL
import SecretStore

/// etcd's v3 API through its JSON gateway (`POST /v3/kv/range`, `/v3/kv/txn`, `/v3/lease/*`;
/// etcd 3.4's grpc-gateway, on the client port), over AsyncHTTPClient with NIOSSL, called
/// synchronously: every command is one short sequence of requests.
///
/// Shapes as the gateway writes them (proto3's JSON mapping): keys and values base64, 64-bit
/// integers as decimal strings, false and zero fields left out. Requests go to the first
/// endpoint that answers; a member that cannot be reached, or that answers without quorum, is
/// skipped for the next. Every call is bounded (`requestTimeout` per member, connect 1 s), so a
/// cluster without quorum fails in one line, in bounded time. Reads are linearizable (etcd's
/// default): a member cut off from the quorum does not answer from stale data.
final class EtcdClient {
    let configuration: EtcdConfiguration
    private let group: MultiThreadedEventLoopGroup
    private let http: HTTPClient
    /// The member that answered last: asked first next time.
    private var preferred = 0
    static let requestTimeout: Int64 = 3

    init(_ configuration: EtcdConfiguration) throws(StoreError) {
        self.configuration = configuration
        var tls: TLSConfiguration?
        if !configuration.insecure {
            var made = TLSConfiguration.makeClientConfiguration()
            do {
                if let ca = configuration.caCertificate {
                    made.trustRoots = .certificates(try NIOSSLCertificate.fromPEMFile(ca))
                }
                if let certificate = configuration.certificate, let key = configuration.key {
                    made.certificateChain = try NIOSSLCertificate.fromPEMFile(certificate).map { .certificate($0) }
                    made.privateKey = .privateKey(try ClientKey.load(key))
                }
            } catch let error as StoreError {
                throw error
            } catch {
                throw .unavailable(store: configuration.url, why: "TLS files: \(error)")
            }
            tls = made
        }
        // One thread: a command makes a few requests in sequence.
        group = MultiThreadedEventLoopGroup(numberOfThreads: 1)
        http = HTTPClient(
            eventLoopGroupProvider: .shared(group),
            configuration: HTTPClient.Configuration(
                tlsConfiguration: tls,
                timeout: .init(connect: .seconds(1), read: .seconds(Self.requestTimeout))))
    }

    deinit {
        try? http.syncShutdown()
        try? group.syncShutdownGracefully()
    }

    /// POSTs `body` to `path` (e.g. `/v3/kv/range`) and returns the answer's JSON; an etcd error
    /// (`{"error": ..., "code": N}`) or no member answering is `.unavailable`, except the errors
    /// `accept` lets through (returned as the answer: e.g. a lease not found).
    func call(_ path: String, _ body: JSONValue, accept: (String) -> Bool = { _ in false }) throws(StoreError) -> JSONValue {
        let bytes = JSONWriter().bytes(body)
        var failures: [String] = []
        for attempt in 0..<configuration.endpoints.count {
            let index = (preferred + attempt) % configuration.endpoints.count
            let endpoint = configuration.endpoints[index]
            let response: HTTPClient.Response
            do {
                var request = try HTTPClient.Request(url: endpoint + path, method: .POST)
                request.headers.add(name: "Content-Type", value: "application/json")
                request.body = .bytes(bytes)
                response = try http.execute(request: request, deadline: .now() + .seconds(Self.requestTimeout)).wait()
            } catch {
                failures.append("\(endpoint): \(Self.describe(error))")
                continue
            }
            let answer: JSONValue
            do {
                answer = try JSONValue.parse(response.body.map { Array($0.readableBytesView) } ?? [])
            } catch {
                failures.append("\(endpoint): HTTP \(response.status.code), not JSON")
                continue
            }
            if let message = answer["error"]?.stringValue ?? answer["message"]?.stringValue, response.status.code != 200 {
                if accept(message) { return answer }
                // No leader, a member cut off, a timeout inside the cluster: the next may answer.
                failures.append("\(endpoint): \(message)")
                continue
            }
            guard response.status.code == 200 else {
                failures.append("\(endpoint): HTTP \(response.status.code)")
                continue
            }
            preferred = index
            return answer
        }
        throw .unavailable(store: configuration.url, why: failures.joined(separator: "; "))
    }

    static func describe(_ error: any Error) -> String {
        let text = "\(error)"
        if text.contains("connectTimeout") || text.contains("deadlineExceeded") { return "no answer in time" }
        if text.contains("connectionRefused") || text.contains("Connection refused") { return "connection refused" }
        return text
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
        _ = try call("/v3/lease/revoke", .object(["ID": .string(String(lease))]), accept: { $0.contains("lease not found") })
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
