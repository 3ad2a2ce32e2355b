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
        let leases = LeaseBook(directory: location.stateDirectory)
        var failures: [String] = []
        // Each is removed or refused on its own, as `docker secret rm a b` does.
        for reference in references {
            do {
                try store.remove(try store.find(reference), leases: leases)
                Output.out(reference + "\n")
            } catch {
                failures.append("\(error)")
            }
        }
        if let last = failures.popLast() {
            for failure in failures { Output.error(what, failure) }
            throw CommandFailure(what: what, why: last, exitCode: 1)
        }
    }
}
