import ArgumentParser
import Glibc
import Launcher
import SecretStore

struct UpdateCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "update",
        abstract: "Grant, revoke or rotate a running workload's secrets in place.",
        discussion: """
            Removals apply first, then additions (so one command can move a target from one \
            secret to another); the workload sees the old set or the new one, never a mix. \
            WORKLOAD is a --name, an ID or PID from 'secretshim ps', or a unique ID prefix.
            """)

    @OptionGroup var globals: GlobalOptions

    @Option(name: .customLong("secret-add"), help: "A secret to grant, in run's --secret grammar (repeatable).")
    var additions: [String] = []

    @Option(name: .customLong("secret-rm"), help: "A secret (name or ID) whose grants to revoke (repeatable).")
    var removals: [String] = []

    @Option(help: "A signal (name or number) to send the workload after the swap, e.g. HUP.")
    var signal: String?

    @Argument(help: "The workload.") var workload: String

    func validate() throws {
        if additions.isEmpty && removals.isEmpty { throw ValidationError("give --secret-add or --secret-rm") }
        if let signal, Signals.number(signal) == nil { throw ValidationError("unknown signal '\(signal)'") }
    }

    func run() throws {
        let update = SecretsUpdate(
            removals: removals, additions: additions, signal: signal.flatMap(Signals.number), workload: workload)
        let status = Self.perform(update, location: try globals.location)
        if status != 0 { throw ExitStatus(code: status) }
    }

    /// Runs `update` and prints the workload's ID; the exit status (its errors are reported).
    static func perform(_ update: SecretsUpdate, location: StoreLocation) -> Int32 {
        let result = update.perform(location: location) { failure in
            Output.error("update", failure.description)
        }
        guard let id = result.id else { return result.status }
        Output.out(id + "\n")
        return 0
    }

    /// The path an ordinary command line takes (`UpdateArguments`), past ArgumentParser;
    /// nil when ArgumentParser must answer it.
    static func fastPath(_ arguments: ArraySlice<String>) -> Int32? {
        guard let update = UpdateArguments.parse(arguments) else { return nil }
        let location: StoreLocation
        do { location = try StoreChoice.location() } catch let failure as CommandFailure {
            Output.error(failure.what, failure.why)
            return failure.exitCode
        } catch {
            Output.error("store", "\(error)")
            return 1
        }
        return perform(update, location: location)
    }
}

/// Signal names as `kill -l` and Docker's `--signal` take them (HUP, SIGHUP) or numbers.
enum Signals {
    static let names: [(String, Int32)] = [
        ("HUP", SIGHUP), ("INT", SIGINT), ("QUIT", SIGQUIT), ("KILL", SIGKILL), ("USR1", SIGUSR1),
        ("USR2", SIGUSR2), ("TERM", SIGTERM), ("CONT", SIGCONT), ("STOP", SIGSTOP), ("WINCH", SIGWINCH),
        ("ALRM", SIGALRM), ("PIPE", SIGPIPE),
    ]

    static func number(_ text: String) -> Int32? {
        if let number = Int32(text) { return number > 0 && number < 65 ? number : nil }
        var name = text.uppercased()
        if name.hasPrefix("SIG") { name.removeFirst(3) }
        return names.first { $0.0 == name }?.1
    }
}
