import Namespaces
import SecretStore

/// Where an etcd store lives and how to reach it: SPEC.md's
/// `etcd://HOST:PORT[,HOST:PORT...][/PREFIX]` with client TLS (mutual when a client certificate
/// is given), or `etcd+insecure://` (plain HTTP, loopback addresses only: a secret's metadata and
/// every node's holders would otherwise cross the network in the clear).
///
/// Shapes: a HOST is an IPv4 address, a DNS name, or an IPv6 address in brackets; PORT 1-65535;
/// PREFIX (default `/secretshim`) a path under which every key lives, so several stores can
/// share a cluster. Errors: `EtcdConfiguration.Invalid`, one line naming what is wrong.
public struct EtcdConfiguration: Sendable, Equatable {
    /// `https://HOST:PORT` (or `http://` for `etcd+insecure://`), in the order given: the
    /// client tries them in turn.
    public var endpoints: [String]
    /// No trailing slash; keys are `PREFIX/...`.
    public var prefix: String
    public var insecure: Bool
    /// `--etcd-cacert`: the CA that signed the members' certificates (else the system's roots).
    public var caCertificate: String?
    /// `--etcd-cert` and `--etcd-key`: this node's client certificate and its key (PEM; the key
    /// in its traditional form or PKCS#8).
    public var certificate: String?
    public var key: String?
    /// The URL as given: what messages name (it holds no credential).
    public var url: String

    public static let defaultPrefix = "/secretshim"

    public struct Invalid: Error, CustomStringConvertible {
        public let description: String
    }

    /// Whether `text` names an etcd store (else it is `local` or an error).
    public static func isEtcd(_ text: String) -> Bool {
        text.hasUTF8Prefix("etcd://") || text.hasUTF8Prefix("etcd+insecure://")
    }

    public static func parse(
        _ text: String, caCertificate: String? = nil, certificate: String? = nil, key: String? = nil
    ) throws(Invalid) -> EtcdConfiguration {
        // Control bytes are escaped where the line is printed (`Output.error`).
        let shown = text
        func invalid(_ why: String) -> Invalid { Invalid(description: "invalid store URL '\(shown)': \(why)") }
        let insecure: Bool
        let rest: Substring
        if text.hasUTF8Prefix("etcd://") {
            insecure = false
            rest = text.dropFirst("etcd://".count)
        } else if text.hasUTF8Prefix("etcd+insecure://") {
            insecure = true
            rest = text.dropFirst("etcd+insecure://".count)
        } else {
            throw invalid("expected local, etcd://HOST:PORT[,HOST:PORT...][/PREFIX] or etcd+insecure://")
        }
        guard !text.utf8.contains(where: { $0 < 0x20 || $0 == 0x7F || $0 == UInt8(ascii: " ") }) else {
            throw invalid("it holds a space or a control character")
        }
        let hostsPart: Substring
        var prefix = defaultPrefix
        if let slash = rest.firstIndex(of: "/") {
            hostsPart = rest[..<slash]
            let given = String(rest[slash...])
            let trimmed = given.hasSuffix("/") ? String(given.dropLast()) : given
            if !trimmed.isEmpty {
                guard !trimmed.split(separator: "/", omittingEmptySubsequences: false).dropFirst().contains(where: { $0.isEmpty || $0 == "." || $0 == ".." }) else {
                    throw invalid("the prefix must be a plain path (no empty, '.' or '..' parts)")
                }
                prefix = trimmed
            }
        } else {
            hostsPart = rest
        }
        guard !hostsPart.isEmpty else { throw invalid("no HOST:PORT") }
        var endpoints: [String] = []
        for member in hostsPart.split(separator: ",", omittingEmptySubsequences: false) {
            guard let (host, port) = splitHostPort(member) else {
                throw invalid("'\(member)' is not HOST:PORT (an IPv6 address goes in brackets)")
            }
            guard let number = Int(port), (1...65535).contains(number), port.first != "+" else {
                throw invalid("port '\(port)' is not a number from 1 to 65535")
            }
            if insecure && !isLoopback(host) {
                throw invalid("etcd+insecure:// (plain HTTP) is accepted only for loopback addresses, and \(host) is not one: use etcd:// with TLS")
            }
            endpoints.append((insecure ? "http://" : "https://") + host + ":" + port)
        }
        if insecure && (certificate != nil || key != nil || caCertificate != nil) {
            throw invalid("etcd+insecure:// takes no --etcd-cacert, --etcd-cert or --etcd-key: use etcd:// for TLS")
        }
        if (certificate == nil) != (key == nil) {
            throw Invalid(description: "--etcd-cert and --etcd-key go together: a client certificate needs its key")
        }
        return EtcdConfiguration(
            endpoints: endpoints, prefix: prefix, insecure: insecure, caCertificate: caCertificate,
            certificate: certificate, key: key, url: text)
    }

    /// `HOST:PORT` or `[V6]:PORT`; nil if there is no port or the host is empty or malformed.
    static func splitHostPort(_ text: Substring) -> (String, Substring)? {
        if text.first == "[" {
            guard let close = text.firstIndex(of: "]") else { return nil }
            let host = text[text.index(after: text.startIndex)..<close]
            let after = text[text.index(after: close)...]
            guard after.first == ":", !host.isEmpty, host.allSatisfy({ $0.isHexDigit || $0 == ":" || $0 == "." }) else { return nil }
            return ("[" + host + "]", after.dropFirst())
        }
        guard let colon = text.lastIndex(of: ":") else { return nil }
        let host = text[..<colon]
        guard !host.isEmpty, !host.contains(":"),
              host.utf8.allSatisfy({ SecretRules.isNameCharacter($0) }) else { return nil }
        return (String(host), text[text.index(after: colon)...])
    }

    /// 127.0.0.0/8, ::1 and localhost: the only hosts plain HTTP may reach.
    static func isLoopback(_ host: String) -> Bool {
        if host == "localhost" || host == "[::1]" { return true }
        let parts = host.split(separator: ".", omittingEmptySubsequences: false)
        guard parts.count == 4, parts.allSatisfy({ UInt8($0) != nil }) else { return false }
        return parts[0] == "127"
    }
}
