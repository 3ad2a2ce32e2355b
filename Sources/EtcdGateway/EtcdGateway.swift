import AsyncHTTPClient
import FoundationEssentials
import Glibc
import JSON
import Namespaces
import NIOCore
import NIOPosix
import NIOSSL
import EtcdStore
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
final class EtcdGateway {
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

    /// The helper process's loop (`EtcdClient`): answers each request frame on `socket` until
    /// EOF. Nothing but the socket and stdio stays open in it.
    static func serve(_ socket: Namespaces.FileDescriptor, configuration: EtcdConfiguration) {
        let keep: Set<Int32> = [0, 1, 2, socket.rawValue]
        for entry in Files.list("/proc/self/fd") {
            if let fd = Int32(entry), !keep.contains(fd) { Namespaces.FileDescriptor(rawValue: fd).close() }
        }
        let gateway: EtcdGateway
        do {
            gateway = try EtcdGateway(configuration)
        } catch {
            while (try? EtcdClient.receive(on: socket)) != nil {
                try? EtcdClient.send([EtcdClient.unavailable] + Array("\(error)".utf8), on: socket)
            }
            return
        }
        while let frame = try? EtcdClient.receive(on: socket) {
            var reply: [UInt8]
            if let request = try? JSONValue.parse(frame), let path = request["path"]?.stringValue, let body = request["body"] {
                let asked: [JSONValue] = request["accept"]?.arrayValue ?? []
                let accept = asked.compactMap { $0.stringValue }
                do throws(StoreError) {
                    reply = [EtcdClient.answered] + (try gateway.call(path, body, accept: { message in accept.contains { message.contains($0) } }))
                } catch {
                    if case .unavailable(_, let why) = error {
                        reply = [EtcdClient.unavailable] + Array(why.utf8)
                    } else {
                        reply = [EtcdClient.unavailable] + Array("\(error)".utf8)
                    }
                }
            } else {
                reply = [EtcdClient.unavailable] + Array("a malformed request".utf8)
            }
            guard (try? EtcdClient.send(reply, on: socket)) != nil else { return }
        }
    }

    /// POSTs `body` to `path` (e.g. `/v3/kv/range`) and returns the answer's JSON text as etcd
    /// wrote it (parsed once, by the caller: `ls` of 10,000 secrets is megabytes); an etcd error
    /// (`{"error": ..., "code": N}`) or no member answering is `.unavailable`, except the errors
    /// `accept` lets through (returned as the answer: e.g. a lease not found).
    func call(_ path: String, _ body: JSONValue, accept: (String) -> Bool = { _ in false }) throws(StoreError) -> [UInt8] {
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
            let text = response.body.map { Array($0.readableBytesView) } ?? []
            if response.status.code == 200 {
                preferred = index
                return text
            }
            let answer: JSONValue
            do {
                answer = try JSONValue.parse(text)
            } catch {
                failures.append("\(endpoint): HTTP \(response.status.code), not JSON")
                continue
            }
            if let message = answer["error"]?.stringValue ?? answer["message"]?.stringValue {
                if accept(message) { return text }
                // No leader, a member cut off, a timeout inside the cluster: the next may answer.
                failures.append("\(endpoint): \(message)")
                continue
            }
            failures.append("\(endpoint): HTTP \(response.status.code)")
        }
        throw .unavailable(store: configuration.url, why: failures.joined(separator: "; "))
    }

    static func describe(_ error: any Error) -> String {
        let text = "\(error)"
        if text.contains("connectTimeout") || text.contains("deadlineExceeded") { return "no answer in time" }
        if text.contains("connectionRefused") || text.contains("Connection refused") { return "connection refused" }
        return text
    }

}
