import ArgumentParser
import JSON
import Namespaces
import SecretStore

struct SecretInspect: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "inspect",
        abstract: "Display secrets' metadata as JSON (Docker's shape); never the value unless --show-secret.")

    @OptionGroup var globals: GlobalOptions

    @Flag(name: [.long, .customLong("showsecret")], help: "Also print the secret's value (Podman's \"SecretData\").")
    var showSecret = false

    @Option(name: [.customShort("f"), .long], help: ArgumentHelp("A Go template as Docker's, applied to each secret ('{{.Spec.Name}}', '{{json .}}').", valueName: "template"))
    var format: String?

    @Flag(help: "Print in a human-friendly format (Docker's).") var pretty = false

    @Argument(help: "Secret names or IDs.") var references: [String]

    func validate() throws {
        if references.isEmpty { throw ValidationError("give at least one secret name or ID") }
        if pretty && format != nil { throw ValidationError("--format is incompatible with the human-friendly format") }
        if pretty && showSecret { throw ValidationError("--show-secret is not shown with --pretty") }
        if let format {
            do { _ = try Template(format) } catch { throw ValidationError(error.description) }
        }
    }

    func run() throws {
        let what = "secret inspect"
        let store: any SecretSource
        // The key checked once, before any reference: one line, not one per reference.
        do {
            store = try globals.location.openForReading()
            try store.checkKey()
        } catch {
            throw CommandFailure.failed(what, error)
        }
        var objects: [JSONValue] = []
        var records: [SecretRecord] = []
        var failures: [String] = []
        for reference in references {
            do {
                let record = try store.find(reference)
                var data: [UInt8]? = showSecret ? try store.value(of: record) : nil
                objects.append(Self.json(record, secretData: data))
                records.append(record)
                if data != nil { wipe(&data!) }
            } catch {
                failures.append("\(error)")
            }
        }
        // Like Docker: what was found is printed, what was not is an error (exit 1).
        if let format {
            // Docker runs the template on its swarm.Secret struct: times print as Go's
            // time.Time does; `json` writes them in RFC 3339.
            let items = zip(records, objects).map { record, object -> TemplateValue in
                guard case .map(var members) = TemplateValue(object) else { return TemplateValue(object) }
                members["CreatedAt"] = .time(record.createdAt)
                members["UpdatedAt"] = .time(record.updatedAt)
                return .map(members)
            }
            do { Output.out(try Template(format).output(items, headers: [:])) } catch {
                throw CommandFailure.usage(what, error.description)
            }
        } else if pretty {
            Output.out(records.map(Self.pretty).joined(separator: "\n"))
        } else if !objects.isEmpty || failures.isEmpty {
            Output.out(Formats.json(.array(objects), indent: 4) + "\n")
        }
        if let last = failures.popLast() {
            for failure in failures { Output.error(what, failure) }
            throw CommandFailure(what: what, why: last, exitCode: 1)
        }
    }

    /// `docker secret inspect --pretty` (docker/cli's secretInspectPrettyTemplate): labels only
    /// when there are some, each ` - KEY=VALUE` (or ` - KEY`); no driver, so an empty one.
    static func pretty(_ record: SecretRecord) -> String {
        // Names and labels may hold anything another etcd node wrote: escaped.
        let escaped = Output.escapingControlBytes
        var text = "ID:              \(escaped(record.id))\nName:            \(escaped(record.name))\n"
        if !record.labels.isEmpty {
            text += "Labels:\n" + record.labels.map { " - \(escaped($0.key))" + ($0.value.isEmpty ? "" : "=\(escaped($0.value))") + "\n" }.joined()
        }
        text += "Driver:          \nCreated at:      \(TemplateValue.goTime(record.createdAt))\nUpdated at:      \(TemplateValue.goTime(record.updatedAt))\n"
        return text
    }

    /// Docker's `docker secret inspect` object (indented as Docker indents it by `Formats.json`).
    static func json(_ record: SecretRecord, secretData: [UInt8]?) -> JSONValue {
        var labels = JSONObject()
        for label in record.labels { labels.members[label.key] = .string(label.value) }
        var object: JSONObject = [
            "ID": .string(record.id),
            "Version": .object(["Index": .integer(record.version)]),
            "CreatedAt": .string(Formats.rfc3339(nanoseconds: record.createdAt)),
            "UpdatedAt": .string(Formats.rfc3339(nanoseconds: record.updatedAt)),
            "Spec": .object(["Name": .string(record.name), "Labels": .object(labels)]),
        ]
        if let secretData {
            // JSON holds text only: a value that is not UTF-8 is given in base64 under its own key.
            if let text = String(validating: secretData, as: UTF8.self) {
                object.members["SecretData"] = .string(text)
            } else {
                object.members["SecretDataBase64"] = .string(Base64.encode(secretData))
            }
        }
        return .object(object)
    }
}

enum Base64 {
    static func encode(_ bytes: [UInt8]) -> String {
        let alphabet = Array("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/".utf8)
        var out: [UInt8] = []
        out.reserveCapacity((bytes.count + 2) / 3 * 4)
        var index = 0
        while index < bytes.count {
            let b0 = UInt32(bytes[index])
            let b1 = index + 1 < bytes.count ? UInt32(bytes[index + 1]) : 0
            let b2 = index + 2 < bytes.count ? UInt32(bytes[index + 2]) : 0
            let triple = b0 << 16 | b1 << 8 | b2
            out.append(alphabet[Int(triple >> 18 & 63)])
            out.append(alphabet[Int(triple >> 12 & 63)])
            out.append(index + 1 < bytes.count ? alphabet[Int(triple >> 6 & 63)] : UInt8(ascii: "="))
            out.append(index + 2 < bytes.count ? alphabet[Int(triple & 63)] : UInt8(ascii: "="))
            index += 3
        }
        return String(decoding: out, as: UTF8.self)
    }
}
