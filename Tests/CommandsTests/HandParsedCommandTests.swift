@testable import SecretShim
import ArgumentParser
import Testing

/// `run` and `runtime` are parsed by hand, and documented for `--help`, the man pages and the
/// completions by ArgumentParser types (`RunDocumentation`, `RuntimeDocumentation`): the two
/// must name the same options.
@Suite struct HandParsedCommandTests {
    /// Every `--long` and `-x` name in a help text's option lines.
    static func optionNames(_ help: String) -> Set<String> {
        var names = Set<String>()
        for line in help.split(separator: "\n") where line.hasPrefix("  -") {
            for word in line.split(separator: " ") {
                let trimmed = word.filter { $0 != "," && $0 != "<" && $0 != ">" }
                guard trimmed.hasPrefix("-"), !trimmed.hasPrefix("---") else { continue }
                names.insert(String(trimmed.split(separator: "=")[0]))
            }
        }
        return names
    }

    @Test func runsDocumentationNamesEveryOptionOfItsTable() {
        var table = Set<String>()
        for option in RunOption.all where !option.help.isEmpty {
            table.insert(option.name)
            if let short = option.short { table.insert(short) }
        }
        let documented = Self.optionNames(RunDocumentation.helpMessage(columns: 400)).subtracting(["-h", "--help"])
        #expect(documented == table)
    }

    @Test func runtimesDocumentationNamesEveryWrapperFlag() {
        let documented = Self.optionNames(RuntimeDocumentation.helpMessage(columns: 400)).subtracting(["-h", "--help"])
        for name in documented {
            #expect(RuntimeCommand.help.contains(name), "\(name) is documented for man pages but not in runtime --help")
        }
        #expect(documented.count == 9)
    }

    @Test func theRootCommandListsRunAndRuntimeAndAVersion() {
        let help = SecretShimCommand.helpMessage(columns: 200)
        #expect(help.contains("\n  run ") && help.contains("\n  runtime "))
        #expect(SecretShimCommand.configuration.version == secretshimVersion && !secretshimVersion.isEmpty)
    }
}
