import ArgumentParser
import Glibc

/// The release, as `secretshim --version` prints it (scripts/install's manifest records it).
let secretshimVersion = "0.22.0"

struct SecretShimCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "secretshim",
        abstract: "Swarm-style secrets for any process or container, without Swarm.",
        discussion: """
            Run a workload with secrets on a private tmpfs at /run/secrets:
              secretshim run --secret NAME[,target=T,uid=U,gid=G,mode=M] -- COMMAND [ARG...]
            See 'secretshim run --help'; for containers, 'secretshim runtime --help'.
            """,
        version: secretshimVersion,
        subcommands: [
            RunDocumentation.self, RuntimeDocumentation.self, SecretCommand.self, PsCommand.self, UpdateCommand.self, NodeCommand.self, ScanCommand.self, InfoCommand.self, GrantCommand.self,
            PodmanDriver.self, ComposeCommand.self, EventsCommand.self, StoreCommand.self, KeyCommand.self,
        ])

    @OptionGroup var globals: GlobalOptions
}

struct SecretCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "secret",
        abstract: "Manage the encrypted secrets store.",
        subcommands: [SecretCreate.self, SecretLs.self, SecretInspect.self, SecretRm.self, SecretExport.self])
}

/// Parses with ArgumentParser and runs, mapping every error to one line and SPEC.md's exit codes
/// (ArgumentParser's own would be 64 and several lines). A usage error names the command it
/// belongs to and points at that command's own help.
func runParsedCommand(_ arguments: [String]) -> Int32 {
    do {
        var command = try SecretShimCommand.parseAsRoot(arguments)
        try command.run()
        return 0
    } catch let status as ExitStatus {
        return status.code
    } catch let failure as CommandFailure {
        Output.error(failure.what, failure.why)
        return failure.exitCode
    } catch {
        let code = SecretShimCommand.exitCode(for: error)
        if code == .success {
            Output.out(SecretShimCommand.fullMessage(for: error) + "\n")
            return 0
        }
        // The message alone (ArgumentParser's usage lines are left to --help), whole: a line
        // break that the user typed in an argument is escaped by Output.error, not cut there.
        // The few messages ArgumentParser writes over two lines are joined.
        var why = SecretShimCommand.message(for: error).replacing("\n   or: ", with: " or: ").replacing("\n  - ", with: " ")
        if why.isEmpty { why = "invalid arguments" }
        // A sentence's full stop would stand before "; see" ("Please provide one of 'table' and 'json'.").
        if why.hasSuffix(".") { why.removeLast() }
        // ArgumentParser's sentences start upper-case ("Unknown option '--x'"); ours do not.
        if let first = why.first, first.isUppercase, why.dropFirst().first?.isLowercase ?? false {
            why = first.lowercased() + why.dropFirst()
        }
        let path = SecretShimCommand.commandPath(arguments).joined(separator: " ")
        let help = path.isEmpty ? "secretshim --help" : "secretshim \(path) --help"
        Output.error(path.isEmpty ? "usage" : path, why + "; see '\(help)'")
        return 2
    }
}

extension SecretShimCommand {
    /// The subcommands that `arguments` name, by their own names (`secret list` is
    /// `["secret", "ls"]`): which command a usage error belongs to. Only the global options
    /// (`--root`, `--key-file`) take a value before the last subcommand.
    static func commandPath(_ arguments: [String]) -> [String] {
        var command: any ParsableCommand.Type = SecretShimCommand.self
        var path: [String] = []
        var index = 0
        while index < arguments.count {
            let argument = arguments[index]
            index += 1
            if argument == "--" { break }
            if argument.hasPrefix("-") {
                if argument == "--root" || argument == "--key-file" { index += 1 }
                continue
            }
            guard let next = command.configuration.subcommands.first(where: {
                $0.configuration.commandName == argument || $0.configuration.aliases.contains(argument)
            }), let name = next.configuration.commandName else { break }
            path.append(name)
            command = next
        }
        return path
    }
}
