import JSON
import Namespaces

/// TOML and YAML documents read by `secretshim-documents` (DocumentReader/main.swift says why it
/// is a program of its own) from a descriptor the caller opened and checked: the configuration
/// file (`ConfigFile`) and Compose files (`ComposeCommand`).
enum Documents {
    enum Kind: String {
        case toml, yaml
    }

    /// The document on `input` as JSON. A malformed document is a usage error (exit 2) with
    /// the reader's one line; a reader that is missing, fails to run, or answers something
    /// else than JSON, a failure (exit 1). `what` names the file in either.
    static func read(_ kind: Kind, from input: FileDescriptor, what: String, limit: Int) throws(CommandFailure) -> JSONValue {
        guard let reader = Exec.companion("secretshim-documents") else {
            throw CommandFailure(what: what, why: "its reader secretshim-documents is not installed beside secretshim", exitCode: 1)
        }
        let answer: ChildProcess.Captured
        do { answer = try ChildProcess.capture([reader, kind.rawValue], input: input, limit: limit) } catch {
            throw CommandFailure(what: what, why: error.description, exitCode: 1)
        }
        guard answer.status == 0 else {
            var why = String(decoding: answer.errors, as: UTF8.self)
            if why.hasUTF8Prefix("secretshim-documents: ") { why = String(why.dropFirst("secretshim-documents: ".count)) }
            throw CommandFailure.usage(what, String(why.split(separator: "\n").first ?? "its reader failed (status \(answer.status))"))
        }
        do { return try JSONValue.parse(answer.output) } catch {
            throw CommandFailure(what: what, why: "its reader answered something else than JSON", exitCode: 1)
        }
    }
}
