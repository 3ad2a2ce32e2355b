import ArgumentParser
import OrderedCollections
import EtcdStore
import JSON
import Namespaces
import SecretStore

struct PsCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "ps", abstract: "List running workloads and the secrets they hold.")

    @OptionGroup var globals: GlobalOptions

    @OptionGroup var output: FormatOption

    @Flag(name: .customLong("all-nodes"), help: "Every node's workloads, with a NODE column (an etcd store).")
    var allNodes = false

    /// One workload as `ps` shows it.
    struct Row {
        let id: String, name: String, pid: Int64, startedAt: Int64, secrets: [String], node: String?
    }

    func run() throws {
        let location = try globals.location
        var rows: [Row] = []
        do {
            if allNodes {
                guard location.isRemote else {
                    throw CommandFailure.usage("ps", "--all-nodes lists the workloads of a store shared by several nodes: give --store etcd://... (or SECRETSHIM_STORE)")
                }
                guard let store = try location.openForReading() as? EtcdSecretStore else {
                    throw CommandFailure.usage("ps", "--all-nodes needs an etcd store")
                }
                rows = try store.workloads().map {
                    Row(id: $0.workloadID, name: $0.name, pid: $0.pid, startedAt: $0.startedAt, secrets: $0.secrets.map(\.name), node: $0.node)
                }
            } else {
                rows = try Audit.leases(location).liveLeases().map {
                    Row(id: $0.workloadID, name: $0.name, pid: Int64($0.pid), startedAt: $0.startedAt, secrets: $0.secrets.map(\.name), node: nil)
                }
            }
        } catch let failure as CommandFailure {
            throw failure
        } catch {
            throw CommandFailure.failed("ps", error)
        }
        let now = System.nowNanoseconds()
        func item(_ row: Row) -> TemplateValue {
            var members: OrderedDictionary<String, TemplateValue> = [
                "ID": .string(row.id), "Name": .string(row.name), "PID": .number(String(row.pid)),
                "StartedAt": .time(row.startedAt), "Secrets": .list(row.secrets.map { .string($0) }),
            ]
            if let node = row.node { members["Node"] = .string(node) }
            return .map(members)
        }
        let headers = ["ID": "ID", "Name": "NAME", "PID": "PID", "StartedAt": "STARTED", "Secrets": "SECRETS", "Node": "NODE"]
        if let text = try output.rendered(rows.map(item), headers: headers, what: "ps") {
            Output.out(text)
            return
        }
        if output.format == .json {
            for row in rows { Output.out(Formats.json(item(row).json) + "\n") }
            return
        }
        let header = allNodes ? ["ID", "NAME", "PID", "STARTED", "SECRETS", "NODE"] : ["ID", "NAME", "PID", "STARTED", "SECRETS"]
        Output.out(Formats.table([header] + rows.map {
            [$0.id, $0.name, String($0.pid), Formats.age(since: $0.startedAt, now: now), $0.secrets.joined(separator: ",")]
                + ($0.node.map { [$0] } ?? [])
        }))
    }
}
