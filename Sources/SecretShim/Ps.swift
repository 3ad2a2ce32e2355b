import ArgumentParser
import JSON
import Namespaces
import SecretStore

struct PsCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "ps", abstract: "List running workloads and the secrets they hold.")

    @OptionGroup var globals: GlobalOptions

    @OptionGroup var output: FormatOption

    func run() throws {
        let leases: [Lease]
        do { leases = try LeaseBook(directory: try globals.location.stateDirectory).liveLeases() } catch {
            throw CommandFailure.failed("ps", error)
        }
        let now = System.nowNanoseconds()
        if output.format == .json {
            for lease in leases {
                let object: JSONValue = .object([
                    "ID": .string(lease.workloadID), "Name": .string(lease.name), "PID": .integer(lease.pid),
                    "StartedAt": .string(Formats.rfc3339(nanoseconds: lease.startedAt)),
                    "Secrets": .array(lease.secrets.map { .string($0.name) }),
                ])
                Output.out(Formats.json(object) + "\n")
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
