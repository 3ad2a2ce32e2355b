import JSON
import Launcher

/// A Compose project's secrets, read from its files (already parsed to JSON), and the files
/// rewritten so that the real Compose delivers them through the runtime wrapper (SPEC.md
/// "compose"). Pure: the command (`secretshim compose`) reads, imports, signs and runs.
///
/// What Compose does without Swarm, and what this does instead: Compose bind-mounts each
/// secret's host file into `/run/secrets` with the host file's owner and mode, ignoring the
/// long syntax's `uid`, `gid` and `mode` (docker/compose #9648, #12362; podman-compose #1548;
/// compose-spec #387). Here each top-level secret becomes a secret in the store (`PROJECT_KEY`,
/// or its `name:`), each service's `secrets:` becomes a signed request in the service's
/// `SECRETSHIM_SECRETS` for the runtime wrapper, which puts the secrets on a private tmpfs with
/// the owner and mode asked for, and the `secrets:` sections are removed (no bind mount is left).
public struct ComposeProject {
    /// A top-level `secrets:` entry (Compose Specification, "secrets top-level element").
    public struct SecretDefinition: Equatable, Sendable {
        public enum Source: Equatable, Sendable {
            /// `file:`, as written (relative to the project directory).
            case file(String)
            /// `environment:`: the name of the variable holding the value.
            case environment(String)
            /// `external: true`: a secret that must already be in the store.
            case external
        }

        /// The key in the file.
        public var key: String
        /// The secret's name in the store: `name:` if given, else `PROJECT_KEY` (as `docker
        /// stack deploy` names a stack's secrets), an external one's `name:` or its key.
        public var storeName: String
        public var source: Source

        public init(key: String, storeName: String, source: Source) {
            self.key = key
            self.storeName = storeName
            self.source = source
        }
    }

    public struct Invalid: Error, CustomStringConvertible {
        public let description: String
        init(_ description: String) { self.description = description }
    }

    public var name: String
    public var documents: [JSONValue]
    /// Every top-level secret of every file, a later file's definition of a key replacing an
    /// earlier one's (as Compose merges files).
    public private(set) var secrets: [String: SecretDefinition] = [:]

    /// The files in the order given (`-f`), and the project's name (`projectName`).
    public init(name: String, documents: [JSONValue]) throws(Invalid) {
        self.name = name
        self.documents = documents
        for (index, document) in documents.enumerated() {
            guard case .object(let top) = document else { throw Invalid("file \(index + 1) is not a mapping (a Compose file has services:)") }
            guard let section = top.members["secrets"], section != .null else { continue }
            guard case .object(let entries) = section else { throw Invalid("top-level secrets: must be a mapping of names") }
            for (key, entry) in entries {
                secrets[key] = try Self.definition(key, entry, project: name)
            }
        }
    }

    static func definition(_ key: String, _ entry: JSONValue, project: String) throws(Invalid) -> SecretDefinition {
        guard case .object(let fields) = entry else { throw Invalid("secret '\(key)': must be a mapping with file:, environment: or external:") }
        for field in fields.members.keys where !["file", "environment", "external", "name", "labels", "driver", "driver_opts", "template_driver"].contains(field) {
            throw Invalid("secret '\(key)': unknown field '\(field)'")
        }
        for field in ["driver", "driver_opts", "template_driver"] where fields.members[field] != nil {
            throw Invalid("secret '\(key)': '\(field)' is Swarm's; secretshim keeps the secret in its own store")
        }
        var external = false
        switch fields.members["external"] {
        case nil, .bool(false)?: break
        case .bool(true)?: external = true
        // Compose file 3.x's `external: {name: X}`.
        case .object(let named)?:
            external = true
            guard let name = named.members["name"]?.stringValue else { throw Invalid("secret '\(key)': external: needs name:") }
            return SecretDefinition(key: key, storeName: name, source: .external)
        default: throw Invalid("secret '\(key)': external: must be true or false")
        }
        let given: String?
        switch fields.members["name"] {
        case nil: given = nil
        case .string(let name)?: given = name
        default: throw Invalid("secret '\(key)': name: must be a string")
        }
        let file = fields.members["file"], variable = fields.members["environment"]
        if external {
            guard file == nil && variable == nil else { throw Invalid("secret '\(key)': an external secret has no file: or environment:") }
            return SecretDefinition(key: key, storeName: given ?? key, source: .external)
        }
        let source: SecretDefinition.Source
        switch (file, variable) {
        case (.string(let path)?, nil): source = .file(path)
        case (nil, .string(let name)?): source = .environment(name)
        case (nil, nil): throw Invalid("secret '\(key)': give file:, environment: or external: true")
        case (.some, .some): throw Invalid("secret '\(key)': give file: or environment:, not both")
        default: throw Invalid("secret '\(key)': file: and environment: are strings")
        }
        return SecretDefinition(key: key, storeName: given ?? project + "_" + key, source: source)
    }

    /// One service's grants: each a spec in `run`'s `--secret` grammar (checked by
    /// `SecretGrant.parse`) and the store name it grants, in the same order.
    public struct ServiceGrants: Equatable, Sendable {
        public var service: String
        public var specs: [String]
        public var sources: [String]
    }

    /// Each service's grants in `run`'s `--secret` grammar, keyed by service name: a service's
    /// `secrets:` of every file, short syntax (`- key`) and long (`source`, `target`, `uid`,
    /// `gid`, `mode`), a later file's grant to the same target replacing an earlier one's.
    /// Throws for a key no file defines and a malformed entry.
    public func grants() throws(Invalid) -> [ServiceGrants] {
        var order: [String] = []
        var byService: [String: [(target: String, spec: String, source: String)]] = [:]
        for document in documents {
            guard case .object(let services)? = document["services"] else { continue }
            for (service, body) in services {
                guard case .object(let fields) = body, let section = fields.members["secrets"], section != .null else { continue }
                guard case .array(let entries) = section else { throw Invalid("service '\(service)': secrets: must be a list") }
                for entry in entries {
                    let (target, spec, source) = try grant(entry, service: service)
                    if byService[service] == nil { order.append(service) }
                    var list = byService[service] ?? []
                    list.removeAll { $0.target == target }
                    list.append((target, spec, source))
                    byService[service] = list
                }
            }
        }
        return order.map { ServiceGrants(service: $0, specs: byService[$0]!.map(\.spec), sources: byService[$0]!.map(\.source)) }
    }

    func grant(_ entry: JSONValue, service: String) throws(Invalid) -> (target: String, spec: String, source: String) {
        let where_ = "service '\(service)'"
        var source: String
        var target: String?
        var fields: [String] = []
        switch entry {
        case .string(let key): source = key
        case .object(let long):
            for field in long.members.keys where !["source", "target", "uid", "gid", "mode"].contains(field) {
                throw Invalid("\(where_): unknown secret field '\(field)'")
            }
            guard let key = long.members["source"]?.stringValue else { throw Invalid("\(where_): a secret needs source:") }
            source = key
            if let given = long.members["target"] {
                guard let text = given.stringValue, !text.isEmpty else { throw Invalid("\(where_): target: must be a non-empty string") }
                target = text
            }
            for owner in ["uid", "gid"] {
                guard let value = long.members[owner] else { continue }
                switch value {
                // Compose writes them as strings ("103"); a number is taken as written.
                case .string(let text): fields.append("\(owner)=\(text)")
                case .number(let text): fields.append("\(owner)=\(text)")
                default: throw Invalid("\(where_): \(owner): must be a number or a string of digits")
                }
            }
            if let mode = long.members["mode"] {
                switch mode {
                // YAML's 0400 is octal (YAML 1.1, as PyYAML and Compose read it): the number
                // arrives as 256 and is written back in octal.
                case .number(let text):
                    guard let value = UInt32(text) else { throw Invalid("\(where_): mode: \(text) is not a file mode") }
                    fields.append("mode=0" + String(value, radix: 8))
                case .string(let text): fields.append("mode=\(text)")
                default: throw Invalid("\(where_): mode: must be an octal number such as 0400")
                }
            }
        default: throw Invalid("\(where_): each secret is a name or a mapping with source:")
        }
        guard let definition = secrets[source] else {
            throw Invalid("\(where_) refers to undefined secret '\(source)' (define it under the top-level secrets:)")
        }
        var placed = target ?? source
        // An absolute target inside /run/secrets is that file; elsewhere, a file bound over
        // that path of the container (the Compose specification's absolute `target`).
        if placed.hasUTF8Prefix(ContainerConfig.secretsDirectory + "/") {
            placed = String(placed.dropFirst(ContainerConfig.secretsDirectory.count + 1))
        }
        let spec = ([definition.storeName, "target=\(placed)"] + fields).map(Self.quoted).joined(separator: ",")
        do { _ = try SecretGrant.parse(spec, secretsDirectory: ContainerConfig.secretsDirectory) } catch {
            throw Invalid("\(where_): secret '\(source)': \(error)")
        }
        return (placed, spec, definition.storeName)
    }

    /// A spec field as Docker's CSV reads it: quoted when it holds a comma, a quote or the
    /// request's `;` separator (`QuotedSpec`).
    static func quoted(_ field: String) -> String {
        guard field.utf8.contains(where: { $0 == UInt8(ascii: ",") || $0 == UInt8(ascii: "\"") || $0 == UInt8(ascii: ";") }) else {
            return field
        }
        var out = "\""
        for character in field.unicodeScalars {
            if character == "\"" { out += "\"\"" } else { out.unicodeScalars.append(character) }
        }
        return out + "\""
    }

    /// File `index` rewritten for the real Compose: no top-level `secrets:`, `version:` or
    /// `name:` (the Compose Specification, which every supported Compose reads, and the project
    /// name given with `-p`); each service that was granted secrets gets the signed request
    /// (`requests[service]`) in its environment and, if `runtime` is given (Docker), `runtime:`;
    /// every service's `secrets:` is removed. Throws for a service that sets the request
    /// variable or another runtime itself. With `requestFiles` (podman-compose, which puts
    /// each `environment:` entry in podman's argv, where any local user can read it), the
    /// request goes in through `env_file:` instead: the file named for the service, which the
    /// caller writes with `SECRETSHIM_SECRETS=REQUEST`.
    public func rewritten(_ index: Int, requests: [String: String], runtime: String?, requestFiles: [String: String]? = nil) throws(Invalid) -> JSONValue {
        guard case .object(var top) = documents[index] else { throw Invalid("file \(index + 1) is not a mapping") }
        for key in ["secrets", "version", "name"] { top.members.removeValue(forKey: key) }
        guard case .object(var services)? = top.members["services"] else { return .object(top) }
        for (service, body) in services {
            guard case .object(var fields) = body else { continue }
            fields.members.removeValue(forKey: "secrets")
            if let request = requests[service] {
                if let runtime {
                    if let asked = fields.members["runtime"], asked != .string(runtime) {
                        throw Invalid("service '\(service)' asks for runtime \(JSONWriter().text(asked)); its secrets come through the runtime '\(runtime)'")
                    }
                    fields.members["runtime"] = .string(runtime)
                }
                let variable = ContainerConfig.environmentVariable
                if let file = requestFiles?[service] {
                    switch fields.members["env_file"] {
                    case nil, .null?: fields.members["env_file"] = .array([.string(file)])
                    case .string(let first)?: fields.members["env_file"] = .array([.string(first), .string(file)])
                    case .array(let files)?: fields.members["env_file"] = .array(files + [.string(file)])
                    default: throw Invalid("service '\(service)': env_file: must be a path or a list of paths")
                    }
                }
                switch fields.members["environment"] {
                case nil, .null?:
                    if requestFiles == nil { fields.members["environment"] = .object([variable: .string(request)]) }
                case .object(var environment)?:
                    guard environment.members[variable] == nil else { throw Invalid("service '\(service)' sets \(variable) itself") }
                    if requestFiles == nil { environment.members[variable] = .string(request) }
                    fields.members["environment"] = .object(environment)
                case .array(var environment)?:
                    guard !environment.contains(where: { $0.stringValue.map { $0 == variable || $0.hasUTF8Prefix(variable + "=") } ?? false }) else {
                        throw Invalid("service '\(service)' sets \(variable) itself")
                    }
                    if requestFiles == nil { environment.append(.string(variable + "=" + request)) }
                    fields.members["environment"] = .array(environment)
                default: throw Invalid("service '\(service)': environment: must be a mapping or a list")
                }
            }
            services.members[service] = .object(fields)
        }
        top.members["services"] = .object(services)
        return .object(top)
    }

    /// `document` with the host paths Compose reads relative to the project directory made
    /// absolute under `directory`, because the rewritten file lives elsewhere and
    /// podman-compose 1.0.3 resolves them against the file's own folder (it has no
    /// `--project-directory`): each service's `build` (or `build.context`, URLs left alone),
    /// `env_file`, `extends.file`, bind `volumes` (short `./src:/dst`, long `type: bind`), and
    /// top-level `configs.*.file`.
    public static func absolutized(_ document: JSONValue, directory: String) -> JSONValue {
        func absolute(_ value: JSONValue, when relative: (String) -> Bool = { !$0.hasUTF8Prefix("/") && !$0.hasUTF8Prefix("~") }) -> JSONValue {
            guard case .string(let path) = value, !path.isEmpty, relative(path) else { return value }
            return .string(path == "." ? directory : directory + "/" + path)
        }
        func isLocal(_ path: String) -> Bool {
            !path.hasUTF8Prefix("/") && !path.hasUTF8Prefix("~") && !path.contains("://") && !path.hasUTF8Prefix("git@")
                && !path.hasUTF8Prefix("github.com/")
        }
        guard case .object(var top) = document else { return document }
        if case .object(var services)? = top.members["services"] {
            for (name, body) in services {
                guard case .object(var service) = body else { continue }
                switch service.members["build"] {
                case .string?: service.members["build"] = absolute(service.members["build"]!, when: isLocal)
                case .object(var build)?:
                    if let context = build.members["context"] { build.members["context"] = absolute(context, when: isLocal) }
                    service.members["build"] = .object(build)
                default: break
                }
                switch service.members["env_file"] {
                case .string?: service.members["env_file"] = absolute(service.members["env_file"]!)
                case .array(let files)?: service.members["env_file"] = .array(files.map { absolute($0) })
                default: break
                }
                if case .object(var extends)? = service.members["extends"], let file = extends.members["file"] {
                    extends.members["file"] = absolute(file)
                    service.members["extends"] = .object(extends)
                }
                if case .array(let volumes)? = service.members["volumes"] {
                    service.members["volumes"] = .array(volumes.map { volume in
                        switch volume {
                        // Short syntax: a host path starts with `.` (a bare name is a named volume).
                        case .string(let text) where text.hasUTF8Prefix("."):
                            return .string(directory + "/" + text)
                        case .object(var long) where long.members["type"] == .string("bind"):
                            if let source = long.members["source"] { long.members["source"] = absolute(source) }
                            return .object(long)
                        default: return volume
                        }
                    })
                }
                services.members[name] = .object(service)
            }
            top.members["services"] = .object(services)
        }
        if case .object(var configs)? = top.members["configs"] {
            for (name, body) in configs {
                guard case .object(var config) = body, let file = config.members["file"] else { continue }
                config.members["file"] = absolute(file)
                configs.members[name] = .object(config)
            }
            top.members["configs"] = .object(configs)
        }
        return .object(top)
    }

    /// The project's name as Compose chooses it: `-p`, else `COMPOSE_PROJECT_NAME`, else the
    /// first file's top-level `name:`, else the project directory's base name; lower-cased and
    /// kept to `[a-z0-9_-]`, as docker-compose 1.29 and podman-compose normalize it. Throws when
    /// nothing is left.
    public static func projectName(explicit: String?, environment: String?, documents: [JSONValue], directory: String) throws(Invalid) -> String {
        let chosen = [explicit, environment, documents.first?["name"]?.stringValue].compactMap { $0 }.first { !$0.isEmpty }
            ?? String(directory.split(separator: "/").last ?? "")
        let kept = String(String.UnicodeScalarView(chosen.lowercased().unicodeScalars.filter {
            ("a"..."z").contains($0) || ("0"..."9").contains($0) || $0 == "_" || $0 == "-"
        }))
        guard !kept.isEmpty else { throw Invalid("project name '\(chosen)' is empty once normalized: give -p NAME") }
        return kept
    }
}
