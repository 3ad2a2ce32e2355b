import Namespaces

// A file of its own, without ArgumentParser: fuzz/ compiles it with RunArguments.swift to
// reach `run`'s parser without the executable.

/// The global options given before the command name, peeled off by `main` before dispatch
/// (so the hand-parsed `run` sees them too).
enum LeadingGlobals {
    /// `--config FILE`, however given: before the command, `run --config`, after an
    /// ArgumentParser command, the runtime's `--secretshim-config` (`ConfigFile` reads it).
    nonisolated(unsafe) static var config: String?
    nonisolated(unsafe) static var root: String?
    nonisolated(unsafe) static var keyFile: String?
    /// `--store` and the etcd client's TLS files (`StoreChoice`).
    nonisolated(unsafe) static var store: String?
    nonisolated(unsafe) static var etcdCACert: String?
    nonisolated(unsafe) static var etcdCert: String?
    nonisolated(unsafe) static var etcdKey: String?

    static let flags = ["--config", "--root", "--key-file", "--store", "--etcd-cacert", "--etcd-cert", "--etcd-key"]

    /// Consumes leading `--config FILE`, `--root X`, `--root=X`, `--key-file X`, `--store X`, `--etcd-cacert X`,
    /// `--etcd-cert X`, `--etcd-key X` (each also as `--flag=X`); returns the rest.
    /// A flag with no value is left in place for the parser to report.
    static func peel(_ arguments: ArraySlice<String>) -> ArraySlice<String> {
        var rest = arguments
        while let first = rest.first {
            let (flag, inline) = splitFlag(first)
            guard flags.contains(flag) else { break }
            let value: String
            if let inline {
                value = inline
                rest = rest.dropFirst()
            } else {
                guard rest.count >= 2 else { break }
                value = rest[rest.startIndex + 1]
                rest = rest.dropFirst(2)
            }
            switch flag {
            case "--config": config = value
            case "--root": root = value
            case "--key-file": keyFile = value
            case "--store": store = value
            case "--etcd-cacert": etcdCACert = value
            case "--etcd-cert": etcdCert = value
            default: etcdKey = value
            }
        }
        return rest
    }

    static func splitFlag(_ argument: String) -> (String, String?) {
        // On UTF-8 bytes: a Character search would page in grapheme breaking on `run`'s path.
        guard argument.hasUTF8Prefix("--"), let equals = argument.utf8.firstIndex(of: UInt8(ascii: "=")) else {
            return (argument, nil)
        }
        return (String(argument[..<equals]), String(argument[argument.utf8.index(after: equals)...]))
    }
}
