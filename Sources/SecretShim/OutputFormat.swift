import ArgumentParser

/// `--format table|json`: one option, shared through `@OptionGroup` by every command that prints
/// a list or a record (`secret ls`, `ps`, `info`, `scan`).
struct FormatOption: ParsableArguments {
    enum Format: String, CaseIterable, ExpressibleByArgument {
        /// Docker's columns (or `key: value` lines).
        case table
        /// Docker's JSON keys.
        case json
    }

    @Option(help: ArgumentHelp("Output format: table or json.", valueName: "format"))
    var format: Format = .table
}
