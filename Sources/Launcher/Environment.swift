import Namespaces
import SecretStore

/// The workload's environment: inherited unchanged, then `--env` entries, then the `env=VAR`
/// paths of the grants.
public enum Environment {
    public static func inherited() -> [String] {
        ChildProcess.environment()
    }

    /// Sets `K=V`, replacing an existing `K`.
    public static func set(_ entry: String, in environment: inout [String]) {
        let key = name(of: entry)
        environment.removeAll { name(of: $0).elementsEqual(key) }
        environment.append(entry)
    }

    /// What precedes the first '=' byte, as the kernel and getenv read it (as Characters, an
    /// '=' with a combining mark on it was none: `X=\u{301}v` was not replaced by `X=w`, and,
    /// first in the list, won).
    static func name(of entry: String) -> Substring.UTF8View {
        let bytes = entry.utf8
        return bytes[..<(bytes.firstIndex(of: UInt8(ascii: "=")) ?? bytes.endIndex)]
    }

    public static func value(of key: String, in environment: [String]) -> String? {
        let prefix = key + "="
        return environment.last { $0.hasUTF8Prefix(prefix) }.map {
            String(decoding: $0.utf8.dropFirst(prefix.utf8.count), as: UTF8.self)
        }
    }

    /// The variable whose value holds the secret, if any: the user passed the secret itself
    /// through the environment, which `run` exists to avoid. Equal to it, or, for a secret of
    /// at least `minimumContainedLength` bytes, containing it (`postgres://u:VALUE@h`); a
    /// single trailing newline of the secret is ignored (files made with `echo` carry one; a
    /// variable rarely does).
    public static func leakingVariable(of secret: [UInt8], in environment: [String]) -> String? {
        for entry in environment {
            let bytes = entry.utf8
            guard let equals = bytes.firstIndex(of: UInt8(ascii: "=")) else { continue }
            if holds(bytes[bytes.index(after: equals)...], secret) { return String(entry[..<equals]) }
        }
        return nil
    }

    /// Shorter secrets are only matched whole: a few bytes occur inside unrelated values.
    public static let minimumContainedLength = 8

    /// The first argument that holds the secret (as `leakingVariable` matches): argv is world
    /// readable in /proc/PID/cmdline.
    public static func leakingArgument(of secret: [UInt8], in arguments: [String]) -> Int? {
        arguments.firstIndex { holds($0.utf8[...], secret) }
    }

    static func holds(_ value: Substring.UTF8View, _ secret: [UInt8]) -> Bool {
        var trimmed = secret[...]
        if trimmed.last == UInt8(ascii: "\n") { trimmed = trimmed.dropLast() }
        guard !trimmed.isEmpty, value.count >= trimmed.count else { return false }
        // Lengths first: most values are shorter than the secret, or of another length.
        if value.count == secret.count || value.count == trimmed.count {
            if value.elementsEqual(secret) || value.elementsEqual(trimmed) { return true }
        }
        guard trimmed.count >= minimumContainedLength, value.count > trimmed.count else { return false }
        let first = trimmed.first!
        var index = value.startIndex
        let lastStart = value.index(value.endIndex, offsetBy: -trimmed.count)
        while index <= lastStart {
            if value[index] == first && value[index...].starts(with: trimmed) { return true }
            index = value.index(after: index)
        }
        return false
    }
}
