import Launcher

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

    /// Cheap first look at the raw file: a config that mentions neither the annotation nor the
    /// variable asks for nothing, and is passed on without being parsed.
    public static func mightRequestSecrets(_ bytes: [UInt8]) -> Bool {
        contains(bytes, Array(annotation.utf8)) || contains(bytes, Array(environmentVariable.utf8))
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
        document["process"]?["env"]?.arrayValue?.compactMap(\.stringValue) ?? []
    }

    /// The `;`-separated specs asked for: the annotation's, else the variable's (engines without
    /// annotations, like Docker 20.10). nil if neither is there.
    public var requestedSpecs: String? {
        if let specs = document["annotations"]?[Self.annotation]?.stringValue { return specs }
        let prefix = Self.environmentVariable + "="
        return environment.last { $0.hasPrefix(prefix) }.map { String($0.dropFirst(prefix.count)) }
    }

    /// The grants, parsed as `run --secret` parses them, relative to /run/secrets.
    public static func grants(_ specs: String) throws(GrantError) -> [SecretGrant] {
        var grants: [SecretGrant] = []
        for spec in specs.split(separator: ";") {
            let trimmed = spec.trimmingWhitespace()
            if trimmed.isEmpty { continue }
            grants.append(try SecretGrant.parse(trimmed, secretsDirectory: secretsDirectory))
        }
        try SecretGrant.checkTargets(grants)
        return grants
    }

    /// The process environment without the request variable: it is for the wrapper, not for
    /// the workload.
    public mutating func removeRequestVariable() {
        guard var process = document["process"], let entries = process["env"]?.arrayValue else { return }
        let prefix = Self.environmentVariable + "="
        let kept = entries.filter { !($0.stringValue?.hasPrefix(prefix) ?? false) }
        guard kept.count != entries.count else { return }
        process.set("env", .array(kept))
        document.set("process", process)
    }

    /// Adds, last (so it lies over any /run tmpfs the engine mounts), a read-only bind of
    /// `source` at /run/secrets.
    public mutating func addSecretsMount(source: String) {
        var mounts = document["mounts"]?.arrayValue ?? []
        mounts.append(
            .object([
                ("destination", .string(Self.secretsDirectory)),
                ("type", .string("bind")),
                ("source", .string(source)),
                ("options", .array(["rbind", "ro", "nosuid", "nodev", "noexec"].map { .string($0) })),
            ]))
        document.set("mounts", .array(mounts))
    }

    /// The container's uid and gid mappings if it has a user namespace of its own; identity
    /// mappings otherwise.
    public var idMappings: (uid: IDMapping, gid: IDMapping) {
        let linux = document["linux"]
        let hasUserNamespace = linux?["namespaces"]?.arrayValue?.contains { $0["type"]?.stringValue == "user" } ?? false
        guard hasUserNamespace else { return (.identity, .identity) }
        return (IDMapping(linux?["uidMappings"]), IDMapping(linux?["gidMappings"]))
    }
}

/// A user namespace's id mapping (`containerID`, `hostID`, `size` ranges): which host id owns a
/// file that the container should see as owned by a given id.
public struct IDMapping: Sendable, Equatable {
    public struct Range: Sendable, Equatable {
        public var containerID: UInt32
        public var hostID: UInt32
        public var size: UInt32
    }

    public var ranges: [Range]?

    public static let identity = IDMapping(ranges: nil)

    init(ranges: [Range]?) { self.ranges = ranges }

    init(_ value: JSONValue?) {
        var ranges: [Range] = []
        for item in value?.arrayValue ?? [] {
            guard let container = item["containerID"]?.unsignedValue, let host = item["hostID"]?.unsignedValue,
                let size = item["size"]?.unsignedValue, container <= UInt32.max, host <= UInt32.max, size <= UInt32.max
            else { continue }
            ranges.append(Range(containerID: UInt32(container), hostID: UInt32(host), size: UInt32(size)))
        }
        self.ranges = ranges
    }

    /// The host id for a container id; nil if the container has no such id.
    public func hostID(for id: UInt32) -> UInt32? {
        guard let ranges else { return id }
        for range in ranges where id >= range.containerID && UInt64(id) < UInt64(range.containerID) + UInt64(range.size) {
            let host = UInt64(range.hostID) + UInt64(id - range.containerID)
            return host <= UInt64(UInt32.max) ? UInt32(host) : nil
        }
        return nil
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
