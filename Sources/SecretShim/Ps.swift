import ArgumentParser
import Namespaces
import SecretStore

struct PsCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "ps", abstract: "List running workloads and the secrets they hold.")

    @OptionGroup var globals: GlobalOptions

    @Option(help: ArgumentHelp("Output format: table or json.", valueName: "format"))
    var format: String = "table"

    func run() throws {
        guard format == "table" || format == "json" else {
            throw CommandFailure.usage("ps", "unknown format '\(format)': use table or json")
        }
        let leases: [Lease]
        do { leases = try LeaseBook(directory: try globals.location.stateDirectory).liveLeases() } catch {
            throw CommandFailure.failed("ps", error)
        }
        let now = System.nowNanoseconds()
        if format == "json" {
            for lease in leases {
                let secrets = lease.secrets.map { Formats.json($0.name) }.joined(separator: ",")
                Output.out(
                    "{\"ID\":\(Formats.json(lease.workloadID)),\"Name\":\(Formats.json(lease.name)),\"PID\":\(lease.pid),"
                        + "\"StartedAt\":\(Formats.json(Formats.rfc3339(nanoseconds: lease.startedAt))),\"Secrets\":[\(secrets)]}\n")
            }
            return
        }
        let rows = [["ID", "NAME", "PID", "STARTED", "SECRETS"]]
            + leases.map {
                [$0.workloadID, $0.name, String($0.pid), Formats.age(since: $0.startedAt, now: now),
                 $0.secrets.map(\.name).joined(separator: ",")]
            }
        Output.out(Formats.table(rows))
    }
}
