import Namespaces
import SecretStore

/// A command's failure, carrying SPEC.md's exit code: 1 the command failed, 2 usage error.
/// Mapped from the layers' errors here, at the top, and nowhere else.
struct CommandFailure: Error, CustomStringConvertible {
    /// Its `<why>`: what a command wrapping it says.
    var description: String { why }

    let what: String
    let why: String
    let exitCode: Int32

    /// `error` as a failure of `what` (exit 1); a `CommandFailure` from a step inside (a
    /// usage error in the global options, say) keeps its own line and code.
    static func failed(_ what: String, _ error: any Error) -> CommandFailure {
        if let failure = error as? CommandFailure { return failure }
        return CommandFailure(what: what, why: "\(error)", exitCode: 1)
    }

    /// `<what>: <why>`, for a command that reports it under its own name (`run`, `runtime`).
    var line: String { "\(what): \(why)" }

    static func usage(_ what: String, _ why: String) -> CommandFailure {
        CommandFailure(what: what, why: why, exitCode: 2)
    }
}
