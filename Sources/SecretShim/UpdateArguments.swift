import Launcher

/// `update`'s command line when it is an ordinary one (only `--secret-add`, `--secret-rm` and
/// `--signal`, each with a value, and one WORKLOAD), read without ArgumentParser, whose parse
/// was most of an update's time (bench/update). Anything else (`--help`, a global option after
/// the command, an unknown or incomplete option, a bad signal, nothing to add or remove) is
/// nil: `UpdateCommand`, through ArgumentParser, then answers it, errors and help included, so
/// the two never differ on a command line both accept.
enum UpdateArguments {
    static func parse(_ arguments: ArraySlice<String>) -> SecretsUpdate? {
        var additions: [String] = [], removals: [String] = [], signal: Int32?, workload: String?
        var index = arguments.startIndex
        while index < arguments.endIndex {
            let argument = arguments[index]
            index += 1
            guard argument.hasUTF8Prefix("-") else {
                guard workload == nil else { return nil }
                workload = argument
                continue
            }
            let (name, inline) = LeadingGlobals.splitFlag(argument)
            let value: String
            if let inline {
                // `--secret-rm= w`: ArgumentParser takes `w` as the value.
                guard !inline.isEmpty else { return nil }
                value = inline
            } else {
                guard index < arguments.endIndex, !arguments[index].hasUTF8Prefix("-") else { return nil }
                value = arguments[index]
                index += 1
            }
            switch name {
            case "--secret-add": additions.append(value)
            case "--secret-rm": removals.append(value)
            case "--signal":
                guard let number = Signals.number(value) else { return nil }
                signal = number
            default: return nil
            }
        }
        guard let workload, !additions.isEmpty || !removals.isEmpty else { return nil }
        return SecretsUpdate(removals: removals, additions: additions, signal: signal, workload: workload)
    }
}
