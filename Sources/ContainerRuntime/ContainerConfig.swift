import Glibc
import JSON
import Launcher
import Namespaces

/// What the wrapper reads from, and changes in, a bundle's `config.json`: the secrets asked for,
/// the request variable to take out of the environment, the container's id mappings, and the
/// read-only bind mount that brings the secrets in.
public struct ContainerConfig {
    public static let annotation = "org.secretshim.secrets"
    public static let environmentVariable = "SECRETSHIM_SECRETS"
    /// Inside the container, always: what Swarm and Compose use, and what images expect.
    public static let secretsDirectory = "/run/secrets"

    public var document: JSONValue

    public init(_ document: JSONValue) { self.document = document }

    /// The container's root file system: `root.path`, relative to the bundle unless absolute
    /// (the OCI runtime spec); the bundle itself when absent.
    public func rootPath(bundle: String) -> String {
        guard let path = document.field("root")?.field("path")?.stringValue, !path.isEmpty else { return bundle }
        return path.hasUTF8Prefix("/") ? path : bundle + "/" + path
    }

    /// Cheap first look at the raw file: a config that mentions neither the annotation nor the
    /// variable asks for nothing, and is passed on without being parsed. A JSON escape (`\u`)
    /// could spell either: such a config is parsed too.
    public static func mightRequestSecrets(_ bytes: [UInt8]) -> Bool {
        contains(bytes, Array(annotation.utf8)) || contains(bytes, Array(environmentVariable.utf8))
            || contains(bytes, Array("\\u".utf8))
    }

    static func contains(_ haystack: [UInt8], _ needle: [UInt8]) -> Bool {
        guard needle.count <= haystack.count, let first = needle.first else { return false }
        var index = 0
        let last = haystack.count - needle.count
        while index <= last {
            if haystack[index] == first && haystack[index..<(index + needle.count)].elementsEqual(needle) { return true }
            index += 1
        }
        return false
    }

    var environment: [String] {
        document.field("process")?.field("env")?.arrayValue?.compactMap(\.stringValue) ?? []
    }

    /// Annotations that Podman 4.3 makes of a request's fields when it splits an `--annotation`
    /// value at its commas (`org.secretshim.secrets=db_pw,uid=999,mode=0400` arrives as
    /// `db_pw` plus `uid=999` and `mode=0400`): granting what is left would grant more than was
    /// asked (root-owned, 0444).
    public var strayGrantFields: [String] {
        guard case .object(let members)? = document.field("annotations") else { return [] }
        let fields = ["source", "src", "target", "uid", "gid", "mode", "env"]
        return members.map(\.key).filter { fields.contains($0.lowercased()) }
    }

    /// Why the secrets bind could reach the host: `linux.rootfsPropagation` other than a
    /// recursive private or slave one, or a mount
    /// at `/` or `/run` (above /run/secrets), or above a target outside it (`outside`), that
    /// is shared, whose peers outside the container (a host volume mounted `rshared`) would
    /// receive the bind. nil when none is.
    public func sharedPropagation(aboveSecretsAnd outside: [String] = []) -> String? {
        // Only the recursive private and slave kinds (runc's default is rslave) cut every
        // mount below the root off from the host: `private` or `slave` change the root alone,
        // and a host mount copied below it stays a peer of the host's (a fresh-eyes finding: a
        // bind from a shared host folder carried the secrets back to the host).
        if let propagation = document.field("linux")?.field("rootfsPropagation")?.stringValue,
            !["rslave", "rprivate", "runbindable"].contains(propagation)
        {
            return "linux.rootfsPropagation is \(propagation)"
        }
        for mount in document.field("mounts")?.arrayValue ?? [] {
            guard let destination = mount.field("destination")?.stringValue else { continue }
            let normalized = Self.cleaned(destination)
            let above = normalized == "/" || normalized == "/run" || normalized == Self.secretsDirectory
                || outside.contains { $0 == normalized || $0.hasUTF8Prefix(normalized + "/") }
            guard above else { continue }
            let options = mount.field("options")?.arrayValue?.compactMap(\.stringValue) ?? []
            if let shared = options.first(where: { $0 == "shared" || $0 == "rshared" }) {
                return "the mount at \(destination) is \(shared)"
            }
        }
        return nil
    }

    /// `path` cleaned lexically, as Go's filepath.Clean (which runc applies to a mount's
    /// destination): `/./run/`, `//run` and `/x/../run` are `/run`.
    static func cleaned(_ path: String) -> String {
        var parts: [String] = []
        for component in Files.components(path) {
            if component == "." { continue }
            if component == ".." {
                if !parts.isEmpty { parts.removeLast() }
                continue
            }
            parts.append(component)
        }
        return "/" + parts.joined(separator: "/")
    }

    /// The `;`-separated specs asked for: the annotation's, else the variable's (engines without
    /// annotations, like Docker 20.10). nil if neither is there.
    public var requestedSpecs: String? {
        if let specs = document.field("annotations")?[Self.annotation]?.stringValue { return specs }
        let prefix = Self.environmentVariable + "="
        // On bytes, as the kernel hands the environment over: as Characters, a value that
        // starts with a combining mark hid the whole variable from the wrapper.
        return environment.last { $0.hasUTF8Prefix(prefix) }.map { String(decoding: $0.utf8.dropFirst(prefix.utf8.count), as: UTF8.self) }
    }

    /// The grants of a `;`-separated list of specs, each parsed as `run --secret` parses it,
    /// relative to /run/secrets. A `;` inside a quoted field (`"target=a;b"`) belongs to that
    /// spec; blank entries are skipped.
    public static func grants(_ specs: String) throws(GrantError) -> [SecretGrant] {
        var grants: [SecretGrant] = []
        for spec in splitSpecs(specs) {
            let trimmed = spec.trimmingWhitespace()
            if trimmed.isEmpty { continue }
            grants.append(try SecretGrant.parse(trimmed, secretsDirectory: secretsDirectory))
        }
        try SecretGrant.checkTargets(grants)
        return grants
    }

    /// `specs` cut at each `;` outside double quotes. A spec's quotes pair up (`""` inside a
    /// quoted field is two of them), so counting them tells inside from outside; an unpaired
    /// one is the spec parser's to refuse.
    static func splitSpecs(_ specs: String) -> [Substring] {
        var parts: [Substring] = []
        var start = specs.utf8.startIndex
        var quoted = false
        var index = start
        while index < specs.utf8.endIndex {
            let byte = specs.utf8[index]
            if byte == UInt8(ascii: "\"") {
                quoted.toggle()
            } else if byte == UInt8(ascii: ";") && !quoted {
                parts.append(specs[start..<index])
                start = specs.utf8.index(after: index)
            }
            index = specs.utf8.index(after: index)
        }
        parts.append(specs[start...])
        return parts
    }

    /// The process environment without the request variable: it is for the wrapper, not for
    /// the workload.
    public mutating func removeRequestVariable() {
        guard var process = document.field("process"), let entries = process.field("env")?.arrayValue else { return }
        let prefix = Self.environmentVariable + "="
        let kept = entries.filter { !($0.stringValue?.hasUTF8Prefix(prefix) ?? false) }
        guard kept.count != entries.count else { return }
        process.setField("env", .array(kept))
        document.setField("process", process)
    }

    /// Adds, last (so it lies over any /run tmpfs the engine mounts), a read-only bind of
    /// `source` at /run/secrets; before it, read-only binds of each file placed outside it
    /// (`outside`: target in the container, file on the host), over the engine's mounts and
    /// under the secrets dir (which covers one that leads into it).
    public mutating func addSecretsMount(source: String, outside: [(target: String, source: String)] = []) {
        var mounts = document.field("mounts")?.arrayValue ?? []
        for file in outside {
            mounts.append(
                .object([
                    "destination": .string(file.target),
                    "type": .string("bind"),
                    "source": .string(file.source),
                    "options": .array(["bind", "ro", "nosuid", "nodev", "noexec"].map { .string($0) }),
                ]))
        }
        mounts.append(
            .object([
                "destination": .string(Self.secretsDirectory),
                "type": .string("bind"),
                "source": .string(source),
                "options": .array(["rbind", "ro", "nosuid", "nodev", "noexec"].map { .string($0) }),
            ]))
        document.setField("mounts", .array(mounts))
    }

    /// Why a target outside the secrets dir cannot be placed: its folder missing from the
    /// container's root (`root`, the image's tree, read inside it), no folder, or leading into
    /// /run/secrets through a link. runc would
    /// make missing folders; secretshim makes none outside the secrets dir. A folder at or
    /// under one of the config's own mount points is left to the runtime (the engine's
    /// volume holds it, not the image). nil when it can be placed.
    public func missingFolder(of target: String, root: String) -> String? {
        let folder = Files.parent(of: target)
        for mount in document.field("mounts")?.arrayValue ?? [] {
            guard let destination = mount.field("destination")?.stringValue else { continue }
            let point = Self.cleaned(destination)
            if point != "/" && (folder == point || folder.hasUTF8Prefix(point + "/")) { return nil }
        }
        guard let tree = try? ContainedRoot.open(root) else { return "the container's root \(root) cannot be opened" }
        defer { tree.fd.close() }
        guard let opened = try? tree.openExisting(folder) else { return "target \(target): folder \(folder) does not exist in the container's root" }
        defer { opened.close() }
        guard let status = try? opened.status(path: folder), status.st_mode & S_IFMT == S_IFDIR else {
            return "target \(target): \(folder) is not a folder in the container's root"
        }
        // Through a link into /run/secrets, the secrets mount would cover it.
        if let secrets = try? tree.openExisting(Self.secretsDirectory) {
            defer { secrets.close() }
            if (try? OutsideTargets.isWithin(opened, secrets, root: tree.fd)) ?? false {
                return "target \(target) leads into \(Self.secretsDirectory) through a link: give it relative to \(Self.secretsDirectory)"
            }
        }
        return nil
    }

    /// The container's uid and gid mappings if it has a user namespace of its own; identity
    /// mappings otherwise.
    public var idMappings: (uid: IDMapping, gid: IDMapping) {
        let linux = document.field("linux")
        let hasUserNamespace = linux?.field("namespaces")?.arrayValue?.contains { $0.field("type")?.stringValue == "user" } ?? false
        guard hasUserNamespace else { return (.identity, .identity) }
        return (IDMapping(linux?.field("uidMappings")), IDMapping(linux?.field("gidMappings")))
    }
}

extension IDMapping {
    /// From a config's `uidMappings` or `gidMappings` (ranges with a field out of range are
    /// skipped).
    init(_ value: JSONValue?) {
        var ranges: [Range] = []
        for item in value?.arrayValue ?? [] {
            guard let container = item.field("containerID")?.unsignedValue, let host = item.field("hostID")?.unsignedValue,
                let size = item.field("size")?.unsignedValue, container <= UInt32.max, host <= UInt32.max, size <= UInt32.max
            else { continue }
            ranges.append(Range(containerID: UInt32(container), hostID: UInt32(host), size: UInt32(size)))
        }
        self.init(ranges: ranges)
    }
}

extension Substring {
    func trimmingWhitespace() -> String {
        var text = self
        while let first = text.first, first == " " || first == "\t" || first == "\n" { text = text.dropFirst() }
        while let last = text.last, last == " " || last == "\t" || last == "\n" { text = text.dropLast() }
        return String(text)
    }
}
