import Launcher
import Namespaces
import SecretStore

/// `run`'s command line, parsed by hand: ArgumentParser's start-up cost would land on every
/// workload's start. Options end at `--` or at the first argument that is not an option.
struct RunArguments {
    var plan = LaunchPlan()
    var root: String?
    var keyFile: String?
    var showHelp = false
    var bundle: String?

    struct Invalid: Error, CustomStringConvertible {
        let description: String
        init(_ description: String) { self.description = description }
    }

    /// `--secret` specs as given; they become grants once the secrets dir is known.
    var secretSpecs: [String] = []

    /// Options (`RunOption.all`) up to `--` or the first argument that is not one; the rest is
    /// the command.
    static func parse(_ arguments: ArraySlice<String>) throws(Invalid) -> RunArguments {
        var parsed = RunArguments()
        var index = arguments.startIndex
        while index < arguments.endIndex {
            let argument = arguments[index]
            if argument == "--" {
                index += 1
                break
            }
            guard argument.hasUTF8Prefix("-"), argument != "-" else { break }
            let (name, inline) = LeadingGlobals.splitFlag(argument)
            guard let found = RunOption.index(named: name) else { throw Invalid("unknown option '\(name)'; \(seeHelp)") }
            let option = RunOption.all[found]
            index += 1
            switch option.action {
            case .flag(let apply):
                guard inline == nil else { throw Invalid("option '\(name)' takes no value; \(seeHelp)") }
                apply(&parsed)
            case .value(_, let apply):
                let value: String
                if let inline {
                    value = inline
                } else {
                    guard index < arguments.endIndex else { throw Invalid("option '\(name)' needs a value; \(seeHelp)") }
                    value = arguments[index]
                    index += 1
                }
                try apply(&parsed, value)
            }
        }
        for spec in parsed.secretSpecs {
            do {
                parsed.plan.grants.append(try SecretGrant.parse(spec, secretsDirectory: parsed.plan.secretsDirectory))
            } catch {
                throw Invalid("--secret: \(error)")
            }
        }
        do { try SecretGrant.checkTargets(parsed.plan.grants) } catch { throw Invalid("--secret: \(error)") }
        parsed.plan.command = Array(arguments[index...])
        if parsed.bundle != nil && parsed.plan.root != nil { throw Invalid("--rootfs and --bundle cannot be combined") }
        if parsed.plan.command.isEmpty && !parsed.showHelp && parsed.bundle == nil { throw Invalid("no command given (secretshim run [OPTIONS] [--] COMMAND [ARG...])") }
        return parsed
    }

    /// Where a usage error points (every command points at its own help).
    static var seeHelp: String { "see 'secretshim run --help'" }

    /// Bytes, with an optional k/m/g suffix (powers of 1024), as `docker run --tmpfs size=`.
    static func parseSize(_ text: String) throws(Invalid) -> UInt64 {
        let invalid = Invalid("invalid --tmpfs-size '\(text)': expected bytes (optionally with k, m or g), at most 1 TiB")
        var digits = text.utf8[...]
        var multiplier: UInt64 = 1
        switch digits.last {
        case UInt8(ascii: "k"), UInt8(ascii: "K"): multiplier = 1 << 10
        case UInt8(ascii: "m"), UInt8(ascii: "M"): multiplier = 1 << 20
        case UInt8(ascii: "g"), UInt8(ascii: "G"): multiplier = 1 << 30
        default: break
        }
        if multiplier > 1 { digits = digits.dropLast() }
        guard let number = ASCIIDecimal.value(digits, max: (1 << 40) / multiplier), number > 0 else { throw invalid }
        return number * multiplier
    }

    /// `run --help` (and `help run`): the options from `RunOption.all`, in two columns.
    static var help: String {
        var text = """
            Usage: secretshim run [OPTIONS] [--] COMMAND [ARG...]

            Run COMMAND with secrets on a private, read-only tmpfs at /run/secrets.

            Options:

            """
        let column = 23
        for option in RunOption.all where !option.help.isEmpty {
            let synopsis = option.synopsis
            let lines = option.help.split(separator: "\n")
            text += "  " + synopsis + String(repeating: " ", count: max(1, column - synopsis.count)) + lines[0] + "\n"
            for line in lines.dropFirst() { text += String(repeating: " ", count: column + 2) + line + "\n" }
        }
        text += """

            Exit status: the workload's own; 125 shim error; 126 not executable; 127 not found.

            """
        return text
    }
}
