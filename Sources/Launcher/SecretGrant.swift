import Namespaces
import SecretStore

/// One `--secret` grant: which secret, at which path under the secrets dir, with which owner
/// and mode, and optionally which environment variable names that path (the `*_FILE` idiom).
public struct SecretGrant: Sendable, Equatable {
    public var source: String
    /// Relative to the secrets dir, normalized: no empty, `.` or `..` components; or, outside
    /// the secrets dir, an absolute path in the workload's root, normalized the same way
    /// (`isOutside`), where the file is bound read-only (Docker's and the Compose
    /// specification's `target=/etc/nginx/conf.d/site.conf`).
    public var target: String
    public var uid: UInt32 = 0
    public var gid: UInt32 = 0
    /// `uid=NAME` / `gid=NAME`: a user or group of the workload's root, looked up in its
    /// /etc/passwd and /etc/group when the workload starts (`resolvingOwners`), as Podman
    /// and the Compose specification allow; until then `uid`/`gid` are 0.
    public var uidName: String?
    public var gidName: String?
    public var mode: UInt32 = 0o444
    public var environmentVariable: String?

    public init(source: String, target: String, uid: UInt32 = 0, gid: UInt32 = 0, mode: UInt32 = 0o444, environmentVariable: String? = nil) {
        self.source = source
        self.target = target
        self.uid = uid
        self.gid = gid
        self.mode = mode
        self.environmentVariable = environmentVariable
    }
}

/// Why a `--secret` spec (or a set of grants) is refused: one line, naming the spec or field.
public struct GrantError: Error, CustomStringConvertible, Equatable {
    public let description: String
    init(_ description: String) { self.description = description }
}

extension SecretGrant {
    /// Parses Docker's `--secret` syntax: `NAME`, or comma-separated fields where the first may
    /// be a bare name and the rest are `key=value` (keys case-insensitive): source/src, target,
    /// uid, gid, mode (octal, at most 0777), env=VAR. As Docker reads it (CSV, its
    /// opts/secret.go), a field may be double-quoted to hold commas, with `""` for a quote inside
    /// (`QuotedSpec`). `secretsDirectory` is where absolute targets must lie.
    public static func parse(_ spec: String, secretsDirectory: String) throws(GrantError) -> SecretGrant {
        guard !spec.isEmpty else { throw GrantError("empty secret spec") }
        var fields = SpecFields(spec: spec)
        if spec.containsUTF8(UInt8(ascii: "\"")) {
            // Quoting is rare: its own path, off the common one below.
            let quoted = try QuotedSpec.fields(spec)
            var index = 0
            while index < quoted.count {
                try fields.take(Substring(quoted[index]))
                index += 1
            }
        } else {
            // Cut at each comma byte (a comma is never part of a multi-byte character).
            var remaining: Substring? = Substring(spec)
            while let rest = remaining {
                let comma = rest.utf8.firstIndex(of: UInt8(ascii: ","))
                remaining = comma.map { rest[rest.utf8.index(after: $0)...] }
                try fields.take(comma.map { rest[..<$0] } ?? rest)
            }
        }
        return try fields.grant(secretsDirectory: secretsDirectory)
    }

    /// One spec's fields, taken in order, whichever way they were cut.
    struct SpecFields {
        let spec: String
        var source: String?
        var target: String?
        var grant = SecretGrant(source: "", target: "")
        var seen: [String] = []
        var index = 0

        init(spec: String) { self.spec = spec }

        mutating func take(_ field: Substring) throws(GrantError) {
            defer { index += 1 }
            guard let equals = field.utf8.firstIndex(of: UInt8(ascii: "=")) else {
                guard index == 0, !field.isEmpty else {
                    throw GrantError("invalid field '\(field)' in '\(spec)': must be a key=value pair")
                }
                source = String(field)
                return
            }
            let key = field[..<equals].lowercased()
            let value = String(field[field.utf8.index(after: equals)...])
            let canonical = key == "src" ? "source" : key
            guard !seen.contains(canonical) else { throw GrantError("'\(key)' given twice in '\(spec)'") }
            seen.append(canonical)
            switch canonical {
            case "source":
                guard source == nil else { throw GrantError("source given twice in '\(spec)'") }
                source = value
            case "target": target = value
            case "uid":
                if isOwnerName(value) { grant.uidName = value } else { grant.uid = try parseID(value, key: "uid") }
            case "gid":
                if isOwnerName(value) { grant.gidName = value } else { grant.gid = try parseID(value, key: "gid") }
            case "mode": grant.mode = try parseMode(value)
            case "env":
                guard isEnvironmentName(value) else {
                    throw GrantError("invalid env '\(value)': must be a variable name ([A-Za-z_][A-Za-z0-9_]*)")
                }
                // The path would be read as code or a library: bash sources $BASH_ENV (and sh
                // $ENV) at start, printing the secret in its errors; the loader maps LD_*.
                if value == "BASH_ENV" || value == "ENV" || value.hasUTF8Prefix("LD_") {
                    throw GrantError("env=\(value) is refused: the shell or the dynamic loader would read the secret file as code")
                }
                grant.environmentVariable = value
            case "type":
                switch value.lowercased() {
                case "file", "mount": break
                case "env":
                    throw GrantError("type=env is refused: a secret in the environment leaks into /proc, child processes, logs and 'docker inspect'; use env=VAR to put the secret file's path in VAR instead")
                default: throw GrantError("unknown type '\(value)' (secrets are files: type=file)")
                }
            default:
                throw GrantError("unknown key '\(key)' in '\(spec)' (use source, target, uid, gid, mode, env)")
            }
        }

        func grant(secretsDirectory: String) throws(GrantError) -> SecretGrant {
            guard let source, !source.isEmpty else { throw GrantError("no source secret named in '\(spec)'") }
            guard SecretRules.isValidName(source) else { throw GrantError("invalid secret name '\(source)'") }
            var grant = self.grant
            grant.source = source
            grant.target = try normalizeTarget(target ?? source, secretsDirectory: secretsDirectory)
            return grant
        }
    }

    /// Octal only: `400` and `0400` both mean 0400; at most 0777 (no setuid/setgid/sticky bits).
    static func parseMode(_ text: String) throws(GrantError) -> UInt32 {
        let invalid = GrantError("invalid mode '\(text)': must be octal, at most 0777")
        guard !text.isEmpty, text.utf8.count <= 4 else { throw invalid }
        var mode: UInt32 = 0
        for byte in text.utf8 {
            guard byte >= UInt8(ascii: "0"), byte <= UInt8(ascii: "7") else { throw invalid }
            mode = mode * 8 + UInt32(byte - UInt8(ascii: "0"))
        }
        guard mode <= 0o777 else { throw invalid }
        return mode
    }

    static func parseID(_ text: String, key: String) throws(GrantError) -> UInt32 {
        guard let id = ASCIIDecimal.value(text.utf8, max: UInt64(UInt32.max) - 1) else {
            throw GrantError("invalid \(key) '\(text)': must be a number from 0 to 4294967294, or a user or group name")
        }
        return UInt32(id)
    }

    /// A user or group name as useradd(8) takes it (shadow-utils' default rule): a letter or
    /// `_` first, then letters, digits, `_`, `-` or `.`, at most 32 bytes, an optional final `$`.
    static func isOwnerName(_ text: String) -> Bool {
        let bytes = Array(text.utf8)
        guard let first = bytes.first, bytes.count <= 32 else { return false }
        func letter(_ byte: UInt8) -> Bool { (byte >= 0x41 && byte <= 0x5A) || (byte >= 0x61 && byte <= 0x7A) || byte == UInt8(ascii: "_") }
        guard letter(first) else { return false }
        for (index, byte) in bytes.enumerated().dropFirst() {
            if byte == UInt8(ascii: "$") && index == bytes.count - 1 { continue }
            guard letter(byte) || (byte >= 0x30 && byte <= 0x39) || byte == UInt8(ascii: "-") || byte == UInt8(ascii: ".") else { return false }
        }
        return true
    }

    /// `grants` with every `uid=NAME` and `gid=NAME` looked up in `root`'s /etc/passwd and
    /// /etc/group (read inside the root, `UserDatabase`); the files are read only when a
    /// grant names an owner. Throws, naming the grant, for a name the root does not have.
    public static func resolvingOwners(_ grants: [SecretGrant], root: String) throws(GrantError) -> [SecretGrant] {
        guard grants.contains(where: { $0.uidName != nil || $0.gidName != nil }) else { return grants }
        let database = UserDatabase(root: root)
        var passwd: [[String]]?
        var group: [[String]]?
        var resolved = grants
        for index in resolved.indices {
            if let name = resolved[index].uidName {
                if passwd == nil { passwd = database.entries("/etc/passwd") }
                guard let entry = passwd!.first(where: { $0.count > 2 && $0[0] == name }), let id = UserDatabase.id(entry[2]) else {
                    throw GrantError("secret '\(resolved[index].source)': unable to find user \(name): no matching entries in \(root == "/" ? "" : root)/etc/passwd")
                }
                resolved[index].uid = id
                resolved[index].uidName = nil
            }
            if let name = resolved[index].gidName {
                if group == nil { group = database.entries("/etc/group") }
                guard let entry = group!.first(where: { $0.count > 2 && $0[0] == name }), let id = UserDatabase.id(entry[2]) else {
                    throw GrantError("secret '\(resolved[index].source)': unable to find group \(name): no matching entries in \(root == "/" ? "" : root)/etc/group")
                }
                resolved[index].gid = id
                resolved[index].gidName = nil
            }
        }
        return resolved
    }

    static func normalizeTarget(_ target: String, secretsDirectory: String) throws(GrantError) -> String {
        if isPlainFileName(target) { return target }
        var path = target
        // On bytes, as the kernel reads a path: as Characters, a '/' followed by a combining
        // mark is no '/' (an absolute target was taken as relative, or one under the secrets
        // dir refused), and equal Strings may be different bytes.
        if path.hasUTF8Prefix("/") {
            let base = secretsDirectory.hasUTF8Suffix("/") ? secretsDirectory : secretsDirectory + "/"
            if (path + "/").utf8.elementsEqual(base.utf8) || path.utf8.elementsEqual(base.utf8) {
                throw GrantError("target '\(target)' names no file")
            }
            if path.hasUTF8Prefix(base) {
                path = String(decoding: path.utf8.dropFirst(base.utf8.count), as: UTF8.self)
            } else {
                // Compared cleaned, as the kernel resolves it: `//run/secrets/x` and
                // `/run/./secrets/x` are the secrets dir's `x` (a fresh-eyes finding: another
                // spelling passed as a file outside it, and the duplicate check missed it).
                let normalized = "/" + (try normalizedComponents(target, path))
                guard normalized.utf8.count < 4095 else { throw GrantError("target '\(target)' is longer than a path can be") }
                let directory = "/" + Files.components(secretsDirectory).joined(separator: "/")
                if normalized == directory { throw GrantError("target '\(target)' names no file") }
                guard normalized.hasUTF8Prefix(directory + "/") else { return normalized }
                return String(decoding: normalized.utf8.dropFirst(directory.utf8.count + 1), as: UTF8.self)
            }
        }
        return try normalizedComponents(target, path)
    }

    /// `path`'s components joined by `/`: `.` dropped; `..`, an over-long component or no
    /// component at all refused, naming `target`.
    static func normalizedComponents(_ target: String, _ path: String) throws(GrantError) -> String {
        var components: [String] = []
        for component in Files.components(path) {
            if component == "." { continue }
            if component == ".." { throw GrantError("target '\(target)' may not contain '..'") }
            guard component.utf8.count <= 255 else {
                throw GrantError("target '\(target)' has a component longer than 255 bytes")
            }
            components.append(component)
        }
        guard !components.isEmpty else { throw GrantError("target '\(target)' names no file") }
        var normalized = components[0]
        for component in components.dropFirst() {
            normalized += "/"
            normalized += component
        }
        return normalized
    }

    /// A target that is already normal: one component, not `.` or `..`, at most 255 bytes.
    /// The common case (a bare secret name), checked on bytes.
    static func isPlainFileName(_ target: String) -> Bool {
        let bytes = target.utf8
        guard !bytes.isEmpty, bytes.count <= 255, !bytes.contains(UInt8(ascii: "/")) else { return false }
        return !(bytes.count <= 2 && bytes.allSatisfy { $0 == UInt8(ascii: ".") })
    }

    /// Whether the target is outside the secrets dir (an absolute path in the workload's root).
    public var isOutside: Bool { target.utf8.first == UInt8(ascii: "/") }

    /// The path the workload sees its file at (what `env=VAR` holds).
    public func path(in secretsDirectory: String) -> String {
        isOutside ? target : secretsDirectory + "/" + target
    }

    public static func isEnvironmentName(_ name: String) -> Bool {
        guard let first = name.utf8.first, first == UInt8(ascii: "_") || SecretRules.isLetter(first) else { return false }
        return name.utf8.allSatisfy { $0 == UInt8(ascii: "_") || SecretRules.isLetter($0) || ($0 >= 0x30 && $0 <= 0x39) }
    }

    /// Two grants may not write the same path, nor one a file where another needs a folder.
    public static func checkTargets(_ grants: [SecretGrant]) throws(GrantError) {
        // One grant cannot clash with itself (a folder of its target is shorter than it); the
        // set is left unbuilt for the commonest run.
        guard grants.count > 1 else { return }
        var targets = Set<String>(minimumCapacity: grants.count)
        for grant in grants where !targets.insert(grant.target).inserted {
            throw GrantError("two secrets have the same target '\(grant.target)'")
        }
        try checkFolders(grants) { targets.contains($0) }
    }

    /// No grant's folder (a prefix of its target) may be another grant's file.
    static func checkFolders(_ grants: [SecretGrant], isTarget: (String) -> Bool) throws(GrantError) {
        for grant in grants where grant.target.utf8.contains(UInt8(ascii: "/")) {
            let outside = grant.isOutside
            var prefix = ""
            for component in Files.components(grant.target).dropLast() {
                if !prefix.isEmpty || outside { prefix += "/" }
                prefix += component
                if isTarget(prefix) {
                    throw GrantError("target '\(prefix)' is a file, but '\(grant.target)' needs it as a folder")
                }
            }
        }
    }
}
