import ArgumentParser
import Glibc

struct SecretShimCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "secretshim",
        abstract: "Swarm-style secrets for any process or container, without Swarm.",
        discussion: """
            Run a workload with secrets on a private tmpfs at /run/secrets:
              secretshim run --secret NAME[,target=T,uid=U,gid=G,mode=M] -- COMMAND [ARG...]
            See 'secretshim run --help'.
            """,
        subcommands: [SecretCommand.self, PsCommand.self, ScanCommand.self, InfoCommand.self, GrantCommand.self])

    @OptionGroup var globals: GlobalOptions
}

struct SecretCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "secret",
        abstract: "Manage the encrypted secrets store.",
        subcommands: [SecretCreate.self, SecretLs.self, SecretInspect.self, SecretRm.self, SecretExport.self])
}

/// Parses with ArgumentParser and runs, mapping every error to one line and SPEC.md's exit codes
/// (ArgumentParser's own would be 64 and several lines).
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
        let message = SecretShimCommand.message(for: error)
        let firstLine = message.split(separator: "\n").first.map(String.init) ?? "invalid arguments"
        Output.error("usage", firstLine + " (see 'secretshim --help')")
        return 2
    }
}
