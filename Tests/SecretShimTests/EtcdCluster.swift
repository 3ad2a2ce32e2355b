import Foundation
import Synchronization
import Testing

/// A real 3-member etcd cluster on loopback with mutual TLS (`scripts/etcd-cluster`), and
/// "nodes": each a store root, state dir and `secretshim node` agent of its own on this machine,
/// sharing one key file and one store URL.
final class EtcdCluster: @unchecked Sendable {
    let directory: String
    let url: String
    var pki: String { directory + "/pki" }

    /// Base ports handed out in one place: the etcd suites run side by side, and two clusters
    /// given the same ports by hand once made a member fail to listen (a CI failure). Each
    /// cluster takes six ports (client and peer for three members) from its own block of ten,
    /// from 24000 up, clear of `bench/etcd` (23900) and the README's 23790.
    private static let nextBasePort = Mutex(24000)

    /// nil when etcd is not installed (scripts/setup installs it) or the members do not start.
    /// `settings`: etcd's own environment variables for every member (`ETCD_MAX_TXN_OPS=4`).
    init?(settings: String = "") {
        let basePort = Self.nextBasePort.withLock { port in
            defer { port += 10 }
            return port
        }
        directory = NSTemporaryDirectory() + "/secretshim-etcd-\(UUID().uuidString.prefix(8))"
        let script = Shim.packageRoot.appendingPathComponent("scripts/etcd-cluster").path
        let started = shell("\(settings) '\(script)' start '\(directory)' \(basePort)")
        guard started.status == 0, let line = started.output.split(separator: "\n").last, line.hasPrefix("etcd://") else {
            Issue.record("etcd cluster did not start: \(started.output)")
            return nil
        }
        url = String(line)
    }

    func shutDown() {
        stop()
        try? FileManager.default.removeItem(atPath: directory)
    }

    func stop(_ members: String...) {
        let script = Shim.packageRoot.appendingPathComponent("scripts/etcd-cluster").path
        shell("'\(script)' stop '\(directory)' \(members.joined(separator: " "))")
    }

    func resume(_ members: String...) {
        let script = Shim.packageRoot.appendingPathComponent("scripts/etcd-cluster").path
        shell("'\(script)' resume '\(directory)' \(members.joined(separator: " "))")
    }

    /// The store under `prefix` (each test its own), with the client's TLS files.
    func environment(prefix: String) -> [String: String] {
        [
            "SECRETSHIM_STORE": url + "/" + prefix,
            "SECRETSHIM_ETCD_CACERT": pki + "/ca.pem",
            "SECRETSHIM_ETCD_CERT": pki + "/client.pem",
            "SECRETSHIM_ETCD_KEY": pki + "/client-key.pem",
        ]
    }

    /// `etcdctl` with the client's certificate against every member.
    func etcdctl(_ arguments: String) -> (status: Int32, output: String) {
        let endpoints = url.dropFirst("etcd://".count)
        return shell(
            "ETCDCTL_API=3 etcdctl --endpoints '\(endpoints)' --cacert '\(pki)/ca.pem' --cert '\(pki)/client.pem' --key '\(pki)/client-key.pem' \(arguments)")
    }
}

/// One node of a test cluster: its own root and state dir (a `Shim`), the shared key file, and
/// its agent while `startAgent` has one running.
final class EtcdNode: @unchecked Sendable {
    let shim = Shim()
    let name: String
    let environment: [String: String]
    private var agent: Process?

    init(_ name: String, cluster: EtcdCluster, prefix: String, keyFile: String) {
        self.name = name
        var environment = cluster.environment(prefix: prefix)
        environment["SECRETSHIM_KEY_FILE"] = keyFile
        environment["SECRETSHIM_NODE"] = name
        self.environment = environment
    }

    @discardableResult
    func callAsFunction(_ arguments: [String], stdin: Data? = nil, env extra: [String: String] = [:]) -> Shim.Result {
        shim(arguments, stdin: stdin, env: environment.merging(extra) { $1 })
    }

    /// Starts `secretshim node --ttl TTL`; waits until it has published its lease.
    func startAgent(ttl: Int = 5) {
        let process = Process()
        process.executableURL = URL(fileURLWithPath: Shim.binary)
        process.arguments = ["node", "--ttl", String(ttl)]
        process.environment = shim.environment.merging(environment) { $1 }
        process.standardInput = FileHandle.nullDevice
        process.standardOutput = FileHandle.nullDevice
        process.standardError = FileHandle.nullDevice
        try! process.run()
        agent = process
        #expect(eventually(10) { FileManager.default.fileExists(atPath: self.shim.state + "/node.etcd") }, "agent of \(name) did not start")
    }

    /// The running agent's pid.
    var agentPID: pid_t? { agent?.processIdentifier }

    /// SIGTERM: the agent revokes its lease and removes its file (unless workloads here still
    /// hold secrets: then the lease lives out its TTL).
    func stopAgent() {
        guard let agent else { return }
        agent.terminate()
        agent.waitUntilExit()
        self.agent = nil
    }

    /// kill -9: its lease lives on until the TTL passes.
    func killAgent() {
        guard let agent else { return }
        kill(agent.processIdentifier, SIGKILL)
        agent.waitUntilExit()
        self.agent = nil
    }

    func cleanUp() {
        stopAgent()
        shim.cleanUp()
    }
}

/// Polls `condition` every 50 ms for up to `seconds`.
func eventually(_ seconds: Double, _ condition: () -> Bool) -> Bool {
    let deadline = Date().addingTimeInterval(seconds)
    while Date() < deadline {
        if condition() { return true }
        usleep(50_000)
    }
    return condition()
}
