import ArgumentParser

/// `--format table|json|TEMPLATE`: one option, shared through `@OptionGroup` by every command
/// that prints a list or a record (`secret ls`, `ps`, `info`, `scan`). A template is Docker's
/// (`Template`); a malformed one is a usage error (exit 2) before anything runs.
struct FormatOption: ParsableArguments {
    enum Format: Equatable {
        /// Docker's columns (or `key: value` lines).
        case table
        /// Docker's JSON keys.
        case json
        /// A Go template as Docker takes it (`{{.Name}}`, `table {{.ID}}\t{{.Name}}`, `{{json .}}`).
        case template(Template)
    }

    @Option(name: .customLong("format"), help: ArgumentHelp("Output format: table, json, or a Go template as Docker's ('{{.Name}}', 'table {{.ID}}\\t{{.Name}}', '{{json .}}').", valueName: "format"))
    var text: String = "table"

    /// The format given; `validate` has refused a malformed template already.
    var format: Format { (try? Self.parse(text)) ?? .table }

    static func parse(_ text: String) throws(Template.Invalid) -> Format {
        switch text {
        case "table": return .table
        case "json": return .json
        default: return .template(try Template(text))
        }
    }

    func validate() throws {
        do { _ = try Self.parse(text) } catch { throw ValidationError(error.description) }
    }

    /// `items` through the template, or nil when the format is not a template. An error of a
    /// field the items do not have is a usage error, found before anything is printed.
    func rendered(_ items: @autoclosure () -> [TemplateValue], headers: [String: String], what: String) throws(CommandFailure) -> String? {
        guard case .template(let template) = format else { return nil }
        do { return try template.output(items(), headers: headers) } catch { throw CommandFailure.usage(what, error.description) }
    }
}
