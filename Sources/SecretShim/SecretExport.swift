import ArgumentParser
import Glibc
import Namespaces
import SecretStore

/// `secretshim secret export NAME... -o DIR`: a store holding only these secrets, sealed under
/// a fresh key kept in DIR, for an image whose entrypoint is wrapped by `secretshim run`
/// (mounted read-only into the container). The container never holds the host's master key,
/// nor any secret it was not given.
struct SecretExport: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "export",
        abstract: "Write a store holding only the named secrets, under a fresh key of its own, to DIR.")

    @OptionGroup var globals: GlobalOptions

    @Option(name: [.customShort("o"), .long], help: ArgumentHelp("The new store's folder (must not exist, or be empty).", valueName: "dir"))
    var output: String

    @Argument(help: "Secret names or IDs.") var references: [String] = []

    func run() throws {
        let what = "secret export"
        guard !references.isEmpty else { throw CommandFailure.usage(what, "give at least one secret name or ID") }
        if !Files.list(output).isEmpty {
            throw CommandFailure(what: what, why: "\(output) exists and is not empty: give a new folder", exitCode: 1)
        }
        do {
            let source = try globals.location.openForReading()
            try source.checkKey()
            // By `find`, which gives the labels too (the export keeps them).
            var secrets: [(record: SecretRecord, value: [UInt8])] = []
            defer { for index in secrets.indices { wipe(&secrets[index].value) } }
            for reference in references {
                let record = try source.find(reference)
                secrets.append((record, try source.value(of: record)))
            }
            // The new store: its own root, its own key beside it; no state dir of ours in it.
            var target = StoreLocation(root: output, keyFile: output + "/master.key")
            if System.effectiveUserID == 0 { target = try target.trusted() }
            let exported = try target.openForWriting()
            for secret in secrets where (try? exported.find(secret.record.name)) == nil {
                _ = try exported.create(name: secret.record.name, value: secret.value, labels: secret.record.labels)
            }
        } catch {
            throw CommandFailure.failed(what, error)
        }
        Output.out(output + "\n")
    }
}
