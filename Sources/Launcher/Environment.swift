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
            var entry = entry
            let name: String? = entry.withUTF8 { bytes in
                guard let equals = bytes.firstIndex(of: UInt8(ascii: "=")),
                    holds(UnsafeBufferPointer(rebasing: bytes[(equals + 1)...]), secret)
                else { return nil }
                // A name that holds the value too is not repeated (the refusal reaches stderr
                // and the audit log): a fresh-eyes finding.
                let name = UnsafeBufferPointer(rebasing: bytes[..<equals])
                if holds(name, secret) { return "(a variable whose name holds the value too)" }
                return String(decoding: name, as: UTF8.self)
            }
            if let name { return name }
        }
        return nil
    }

    /// Shorter secrets are only matched whole: a few bytes occur inside unrelated values.
    public static let minimumContainedLength = 8

    /// The first argument that holds the secret (as `leakingVariable` matches): argv is world
    /// readable in /proc/PID/cmdline.
    public static func leakingArgument(of secret: [UInt8], in arguments: [String]) -> Int? {
        arguments.firstIndex { argument in
            var argument = argument
            return argument.withUTF8 { holds($0, secret) }
        }
    }

    /// Compared as contiguous bytes (`withUTF8`): walked through String's UTF-8 view, index by
    /// index, the check of an ordinary environment cost more than the rest of run's argument
    /// handling (bench/budget counts it).
    static func holds(_ value: UnsafeBufferPointer<UInt8>, _ secret: [UInt8]) -> Bool {
        secret.withUnsafeBufferPointer { secret in
            var trimmed = secret[...]
            if trimmed.last == UInt8(ascii: "\n") { trimmed = trimmed.dropLast() }
            guard !trimmed.isEmpty, value.count >= trimmed.count else { return false }
            if value.count == secret.count && value.elementsEqual(secret) { return true }
            if value.count == trimmed.count { return value.elementsEqual(trimmed) }
            guard trimmed.count >= minimumContainedLength else { return false }
            let first = trimmed[0]
            for start in 0...(value.count - trimmed.count) where value[start] == first {
                if UnsafeBufferPointer(rebasing: value[start..<(start + trimmed.count)]).elementsEqual(trimmed) { return true }
            }
            return false
        }
    }
}
