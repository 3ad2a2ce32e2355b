import ArgumentParser
import EtcdStore
import Glibc
import Launcher
import Namespaces
import SecretStore

/// `secretshim node`: this node's agent for an etcd store (SPEC.md "Several nodes";
/// `NodeAgent`). Runs in the foreground until SIGTERM or SIGINT, as systemd runs it
/// (`contrib/systemd/secretshim-node.service`).
struct NodeCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "node",
        abstract: "Keep this node's workloads and the secrets they hold published in an etcd store.",
        discussion: """
            One per node, for an etcd store (--store etcd://...). Keeps an etcd lease alive and
            publishes the node's running workloads and their grants under it, so that 'secret rm'
            on any node refuses a secret held here; a node whose agent stops is forgotten after
            the TTL. 'run' and 'update' on an etcd store need it running.
            """)

    @OptionGroup var globals: GlobalOptions

    @Option(name: .long, help: ArgumentHelp("This node's name (env SECRETSHIM_NODE, config 'node'; default: the host name).", valueName: "name"))
    var node: String?

    @Option(name: .long, help: ArgumentHelp("Seconds until etcd forgets this node once the agent stops renewing.", valueName: "seconds"))
    var ttl: Int64 = 10

    func validate() throws {
        let range = NodeAgent.ttlRange
        if !range.contains(ttl) { throw ValidationError("--ttl must be from \(range.lowerBound) to \(range.upperBound) seconds") }
    }

    func run() throws {
        let location = try globals.location
        guard location.isRemote else {
            throw CommandFailure.usage("node", "the agent is for a store shared by several nodes: give --store etcd://... (or SECRETSHIM_STORE)")
        }
        let name = StoreChoice.given(node, "SECRETSHIM_NODE", try ConfigFile.current()["node"]) ?? Self.hostName()
        do {
            guard let store = try location.openForReading() as? EtcdSecretStore else {
                throw CommandFailure.usage("node", "the agent is for an etcd store")
            }
            // The agent first: it makes the store's client start a helper of its own.
            // It reports the node's ended workloads, and ships the node's audit log to etcd.
            let agent = try NodeAgent(
                store: store, node: name, ttl: ttl, ended: EventLog.revoking(location),
                events: EventShipping(log: EventLog.of(location), stateDirectory: location.stateDirectory, node: name))
            try store.checkKey()
            signal(SIGTERM) { _ in nodeStopRequested = 1 }
            signal(SIGINT) { _ in nodeStopRequested = 1 }
            // A parent's blocked mask is inherited through exec (a test runner's threads block
            // them): the agent must hear SIGTERM to revoke its lease.
            System.unblock([SIGTERM, SIGINT])
            try agent.run(stopRequested: { nodeStopRequested != 0 }, report: { Output.notice("node", $0) })
        } catch let failure as CommandFailure {
            throw failure
        } catch {
            throw CommandFailure.failed("node", error)
        }
    }

    static func hostName() -> String {
        var buffer = [CChar](repeating: 0, count: 256)
        guard gethostname(&buffer, buffer.count - 1) == 0 else { return "localhost" }
        let name = String(decoding: buffer.prefix { $0 != 0 }.map { UInt8(bitPattern: $0) }, as: UTF8.self)
        // A host name is a node name only up to its first dot (as Swarm shows it).
        return String(name.split(separator: ".").first ?? "localhost")
    }
}

/// Set from the signal handler: the agent's loop ends and it revokes its lease.
nonisolated(unsafe) var nodeStopRequested: sig_atomic_t = 0
