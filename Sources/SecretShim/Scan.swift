import ArgumentParser
import Namespaces
import Scanner
import SecretStore

/// `secretshim scan PATH...`: proves that nothing leaked. Exit 0 clean, 1 findings, 2 error.
struct ScanCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "scan",
        abstract: "Find secret values, and entries under run/secrets, in trees, tars, saved images and OCI layouts.")

    @OptionGroup var globals: GlobalOptions

    @Option(help: ArgumentHelp("Output format: table or json.", valueName: "format"))
    var format: String = "table"

    @Argument(help: "Directories, tars (plain or compressed), `docker save` archives, OCI layouts.")
    var paths: [String] = []

    func run() throws {
        guard format == "table" || format == "json" else {
            throw CommandFailure.usage("scan", "unknown format '\(format)': use table or json")
        }
        guard !paths.isEmpty else { throw CommandFailure.usage("scan", "no path given") }
        var secrets: [(name: String, value: [UInt8])] = []
        defer { for index in secrets.indices { wipe(&secrets[index].value) } }
        do {
            let store = try SecretStore.openForReading(try globals.location)
            // By ID: one prepared statement for all of them (the store's batch read).
            for secret in try store.read(store.list().map(\.id)) { secrets.append((secret.record.name, secret.value)) }
        } catch {
            throw CommandFailure(what: "scan", why: "\(error)", exitCode: 2)
        }
        let scanner: Scanner
        do { scanner = try Scanner(secrets: secrets) } catch { throw CommandFailure(what: "scan", why: error.description, exitCode: 2) }
        for index in secrets.indices { wipe(&secrets[index].value) }
        var printed = 0
        func printWarnings() {
            for warning in scanner.warnings.dropFirst(printed) { Output.error("scan: warning", warning) }
            printed = scanner.warnings.count
        }
        printWarnings()
        for path in paths {
            do { try scanner.scan(path) } catch {
                printWarnings()
                throw CommandFailure(what: "scan", why: error.description, exitCode: 2)
            }
        }
        printWarnings()
        let findings = scanner.findings
        if format == "json" {
            let items = findings.map { finding in
                "{\"Path\":\(Formats.json(finding.path)),\"Kind\":\(Formats.json(finding.kind.rawValue)),"
                    + "\"Secret\":\(finding.secret.map(Formats.json) ?? "null"),\"Offset\":\(finding.offset.map { String($0) } ?? "null")}"
            }
            Output.out("[" + items.joined(separator: ",") + "]\n")
        } else if !findings.isEmpty {
            let rows = [["PATH", "SECRET", "OFFSET"]] + findings.map { finding in
                switch finding.kind {
                case .value: return [finding.path, finding.secret ?? "", finding.offset.map { String($0) } ?? "-"]
                case .secretsEntry: return [finding.path, "(file under run/secrets)", "-"]
                case .secretsStub: return [finding.path, "(empty stub under run/secrets, left by an engine)", "-"]
                case .pathName: return [finding.path, (finding.secret ?? "") + " (in the path name)", "-"]
                }
            }
            Output.out(Formats.table(rows))
        }
        if !findings.isEmpty { throw ExitStatus(code: 1) }
    }
}

/// Ends a command with this status and no message (scan's "findings" status).
struct ExitStatus: Error {
    let code: Int32
}
