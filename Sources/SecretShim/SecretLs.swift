import ArgumentParser
import JSON
import Namespaces
import SecretStore

struct SecretLs: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "ls", abstract: "List secrets.", aliases: ["list"])

    @OptionGroup var globals: GlobalOptions

    @Flag(name: .shortAndLong, help: "Only display IDs.") var quiet = false

    @OptionGroup var output: FormatOption

    @Option(name: [.customShort("f"), .long], help: ArgumentHelp("Filter: name=PREFIX, id=PREFIX, label=KEY[=VALUE]; repeatable.", valueName: "filter"))
    var filter: [String] = []

    func run() throws {
        let what = "secret ls"
        let secretFilter: SecretFilter
        do { secretFilter = try SecretFilter(filter) } catch { throw CommandFailure.usage(what, "\(error)") }

        let records: [SecretRecord]
        do {
            records = try globals.location.openForReading().list().filter(secretFilter.matches)
        } catch {
            throw CommandFailure.failed(what, error)
        }
        let now = System.nowNanoseconds()
        if !quiet, let text = try output.rendered(records.map { Self.item($0, now: now) }, headers: Self.headers, what: what) {
            Output.out(text)
        } else if quiet {
            Output.out(records.map { $0.id + "\n" }.joined())
        } else if output.format == .json {
            Output.out(records.map { Self.json($0, now: now) + "\n" }.joined())
        } else {
            let rows = [["ID", "NAME", "CREATED", "UPDATED"]]
                + records.map { [$0.id, $0.name, Formats.age(since: $0.createdAt, now: now), Formats.age(since: $0.updatedAt, now: now)] }
            Output.out(Formats.table(rows))
        }
    }

    /// Docker's `secret ls --format json` object: human ages, labels as "k=v,k=v".
    static func json(_ record: SecretRecord, now: Int64) -> String {
        Formats.json(item(record, now: now).json)
    }

    /// What a template sees of a secret, as docker/cli's secret formatter shows it: the JSON
    /// keys, plus `Driver` (always empty: the store is secretshim's own).
    static func item(_ record: SecretRecord, now: Int64) -> TemplateValue {
        let labels = record.labels.map { "\($0.key)=\($0.value)" }.joined(separator: ",")
        return .map([
            "CreatedAt": .string(Formats.age(since: record.createdAt, now: now)),
            "ID": .string(record.id), "Labels": .string(labels), "Name": .string(record.name),
            "UpdatedAt": .string(Formats.age(since: record.updatedAt, now: now)),
        ])
    }

    /// docker/cli's column names for `secret ls --format 'table ...'`.
    static let headers = ["ID": "ID", "Name": "NAME", "Driver": "DRIVER", "CreatedAt": "CREATED", "UpdatedAt": "UPDATED", "Labels": "LABELS"]
}

/// Docker's secret filters: values of one key are OR-ed, different keys AND-ed; `name` and
/// `id` match prefixes (as swarm's NamePrefixes/IDPrefixes), `label` a key or key=value.
struct SecretFilter {
    var names: [String] = []
    var ids: [String] = []
    var labels: [(key: String, value: String?)] = []

    struct Invalid: Error, CustomStringConvertible {
        let description: String
    }

    init(_ expressions: [String]) throws(Invalid) {
        for expression in expressions {
            let parts = expression.split(separator: "=", maxSplits: 1, omittingEmptySubsequences: false)
            guard parts.count == 2, !parts[1].isEmpty else {
                throw Invalid(description: "bad format of filter '\(expression)' (expected name=value)")
            }
            let value = String(parts[1])
            switch parts[0].lowercased() {
            case "name": names.append(value)
            case "id": ids.append(value)
            case "label":
                let label = value.split(separator: "=", maxSplits: 1, omittingEmptySubsequences: false)
                labels.append((String(label[0]), label.count > 1 ? String(label[1]) : nil))
            default:
                throw Invalid(description: "invalid filter '\(parts[0])' (use name, id or label)")
            }
        }
    }

    func matches(_ record: SecretRecord) -> Bool {
        if !names.isEmpty && !names.contains(where: { record.name.hasPrefix($0) }) { return false }
        if !ids.isEmpty && !ids.contains(where: { record.id.hasPrefix($0) }) { return false }
        for wanted in labels {
            guard let actual = record.label(wanted.key) else { return false }
            if let value = wanted.value, value != actual { return false }
        }
        return true
    }
}
