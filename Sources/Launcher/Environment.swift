import CLinux
import SecretStore

/// The workload's environment: inherited unchanged, then `--env` entries, then the `env=VAR`
/// paths of the grants.
public enum Environment {
    public static func inherited() -> [String] {
        var entries: [String] = []
        guard var pointer = cl_environ() else { return entries }
        while let entry = pointer.pointee {
            entries.append(String(cString: entry))
            pointer += 1
        }
        return entries
    }

    /// Sets `K=V`, replacing an existing `K`.
    public static func set(_ entry: String, in environment: inout [String]) {
        let key = entry.split(separator: "=", maxSplits: 1, omittingEmptySubsequences: false)[0]
        environment.removeAll { $0.split(separator: "=", maxSplits: 1, omittingEmptySubsequences: false)[0] == key }
        environment.append(entry)
    }

    public static func value(of key: String, in environment: [String]) -> String? {
        let prefix = key + "="
        return environment.last { $0.hasUTF8Prefix(prefix) }.map {
            String(decoding: $0.utf8.dropFirst(prefix.utf8.count), as: UTF8.self)
        }
    }

    /// The variable whose value equals the secret's, if any: the user passed the secret itself
    /// through the environment, which `run` exists to avoid. A single trailing newline of the
    /// secret is ignored (files made with `echo` carry one; a variable rarely does).
    public static func leakingVariable(of secret: [UInt8], in environment: [String]) -> String? {
        var trimmed = secret[...]
        if trimmed.last == UInt8(ascii: "\n") { trimmed = trimmed.dropLast() }
        guard !trimmed.isEmpty else { return nil }
        for entry in environment {
            let bytes = entry.utf8
            // Lengths first: most values are shorter or longer than the secret.
            guard bytes.count > trimmed.count, let equals = bytes.firstIndex(of: UInt8(ascii: "=")) else { continue }
            let value = bytes[bytes.index(after: equals)...]
            guard value.count == secret.count || value.count == trimmed.count else { continue }
            if value.elementsEqual(secret) || value.elementsEqual(trimmed) {
                return String(entry[..<equals])
            }
        }
        return nil
    }
}
