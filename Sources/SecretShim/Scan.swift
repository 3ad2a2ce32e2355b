import ArgumentParser
import JSON
import Namespaces
import Scanner
import SecretStore

/// `secretshim scan PATH...`: proves that nothing leaked. Exit 0 clean, 1 findings, 2 when
/// anything could not be read (as grep: an error outranks a match, since the scan then
/// proved nothing about what it could not read) or on a usage or store error.
struct ScanCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "scan",
        abstract: "Find secret values, and entries under run/secrets, in trees, tars, saved images and OCI layouts.")

    @OptionGroup var globals: GlobalOptions

    @OptionGroup var output: FormatOption

    @Argument(help: "Directories, tars (plain or compressed), compressed files, `docker save` archives, OCI layouts.")
    var paths: [String] = []

    func run() throws {
        guard !paths.isEmpty else { throw CommandFailure.usage("scan", "no path given") }
        if case .template = output.format { throw CommandFailure.usage("scan", "--format takes table or json") }
        let printer = FindingPrinter(json: output.format == .json)
        let scanner: Scanner
        do {
            scanner = try Scanner { report in
                switch report {
                case .finding(let finding): printer.print(finding)
                case .warning(let message): Output.error("scan: warning", message)
                case .unreadable(let message): Output.error("scan", message)
                }
            }
            let store = try globals.location.openForReading()
            // One secret at a time: the scanner keeps a window and a hash of each, never the
            // values, so ten thousand large secrets fit in a few megabytes.
            var failure: ScanError?
            try store.read(store.list().map(\.id)) { record, value in
                guard failure == nil else { return }
                do throws(ScanError) { try scanner.add(secret: record.name, value: value) } catch { failure = error }
            }
            if let failure { throw failure }
        } catch {
            throw CommandFailure(what: "scan", why: "\(error)", exitCode: 2)
        }
        for path in paths { scanner.scan(path) }
        printer.finish()
        if scanner.unreadableCount > 0 { throw ExitStatus(code: 2) }
        if scanner.findingCount > 0 { throw ExitStatus(code: 1) }
    }
}

/// Prints findings as they come: a JSON array, or a table whose path column comes last so
/// that rows can be aligned without first holding them all. Nothing printed for no findings
/// in a table; `[]` in JSON.
final class FindingPrinter {
    private let json: Bool
    private var count = 0
    private var pending = ""

    init(json: Bool) { self.json = json }

    func print(_ finding: Finding) {
        if json {
            // One object at a time, the array's brackets around them: findings stream.
            let object: JSONValue = .object([
                "Path": .string(finding.path), "Kind": .string(finding.kind.rawValue),
                "Secret": finding.secret.map { JSONValue.string($0) } ?? .null, "Offset": finding.offset.map { JSONValue.integer($0) } ?? .null,
                "Count": finding.count.map { JSONValue.integer($0) } ?? .null,
            ])
            pending += (count == 0 ? "[" : ",") + Formats.json(object)
        } else {
            if count == 0 { pending += Self.row("KIND", "SECRET", "OFFSET", "PATH") }
            let secret = finding.kind == .moreValues ? "\(finding.count ?? 0) more values" : finding.secret ?? "-"
            pending += Self.row(finding.kind.rawValue, secret, finding.offset.map { String($0) } ?? "-", finding.path)
        }
        count += 1
        if pending.utf8.count >= 1 << 16 { flush() }
    }

    func finish() {
        if json { pending += count == 0 ? "[]\n" : "]\n" }
        flush()
    }

    private func flush() {
        Output.out(pending)
        pending = ""
    }

    /// Columns as Docker's tabwriter pads them (at least 10 wide, 3 apart); control bytes in a
    /// name or path escaped, so an entry name cannot erase a finding on a terminal.
    private static func row(_ kind: String, _ secret: String, _ offset: String, _ path: String) -> String {
        func cell(_ text: String, _ width: Int) -> String {
            let text = Output.escapingControlBytes(text)
            return text + String(repeating: " ", count: max(3, width - text.count))
        }
        return cell(kind, 16) + cell(secret, 24) + cell(offset, 12) + Output.escapingControlBytes(path) + "\n"
    }
}

/// Ends a command with this status and no message (scan's "findings" status).
struct ExitStatus: Error {
    let code: Int32
}
