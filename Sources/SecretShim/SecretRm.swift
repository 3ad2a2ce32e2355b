import ArgumentParser
import SecretStore

struct SecretRm: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "rm", abstract: "Remove secrets not held by a running workload.", aliases: ["remove"])

    @OptionGroup var globals: GlobalOptions

    @Argument(help: "Secret names or IDs.") var references: [String]

    func validate() throws {
        if references.isEmpty { throw ValidationError("give at least one secret name or ID") }
    }

    func run() throws {
        let what = "secret rm"
        let location = try globals.location
        let store: any SecretSource
        // Removing makes no store; a key that is not the store's stops every removal at once.
        do {
            store = try location.openForWriting(creating: false)
            try store.checkKey()
        } catch {
            throw CommandFailure.failed(what, error)
        }
        let leases = Audit.leases(location)
        var failures: [String] = []
        // Each is removed or refused on its own, as `docker secret rm a b` does.
        for reference in references {
            var found: SecretRecord?
            do {
                let record = try store.find(reference)
                found = record
                try store.remove(record, leases: leases)
                Audit.removed(record, location)
                Output.out(reference + "\n")
            } catch {
                if let found { Audit.refusedRemoval(found, location, reason: "\(error)") }
                failures.append("\(error)")
            }
        }
        if let last = failures.popLast() {
            for failure in failures { Output.error(what, failure) }
            throw CommandFailure(what: what, why: last, exitCode: 1)
        }
    }
}
