import JSON
import Namespaces

/// An OCI runtime bundle (`runc spec`'s layout): `config.json` beside the root filesystem.
/// `run --bundle DIR` runs it as runc would, the secrets added; `config.json` is read as runc's
/// Go decoder reads it (keys folded: `"Process"` is `process`), a key repeated in one object refused.
public enum OCIBundle {
    public struct Invalid: Error, CustomStringConvertible {
        public let description: String
    }

    struct Config: JSONDecodable {
        var process: Process?
        var root: Root?
        var hostname: String?
        var mounts: [Mount]?
        var linux: Linux?

        init(from json: JSONCursor) throws(JSONDecodingError) {
            process = try json.decodeIfPresent("process")
            root = try json.decodeIfPresent("root")
            hostname = try json.decodeIfPresent("hostname")
            mounts = try json.decodeIfPresent("mounts")
            linux = try json.decodeIfPresent("linux")
        }
    }

    struct Process: JSONDecodable {
        var user: User?
        var args: [String]?
        var env: [String]?
        var cwd: String?
        var capabilities: Capabilities?
        var rlimits: [Rlimit]?
        var noNewPrivileges: Bool?

        init(from json: JSONCursor) throws(JSONDecodingError) {
            user = try json.decodeIfPresent("user")
            args = try json.decodeIfPresent("args")
            env = try json.decodeIfPresent("env")
            cwd = try json.decodeIfPresent("cwd")
            capabilities = try json.decodeIfPresent("capabilities")
            rlimits = try json.decodeIfPresent("rlimits")
            noNewPrivileges = try json.decodeIfPresent("noNewPrivileges")
        }
    }

    struct User: JSONDecodable {
        var uid: UInt32
        var gid: UInt32
        var additionalGids: [UInt32]?

        init(from json: JSONCursor) throws(JSONDecodingError) {
            uid = try json.decode("uid")
            gid = try json.decode("gid")
            additionalGids = try json.decodeIfPresent("additionalGids")
        }
    }

    struct Capabilities: JSONDecodable {
        var bounding: [String]?

        init(from json: JSONCursor) throws(JSONDecodingError) {
            bounding = try json.decodeIfPresent("bounding")
        }
    }

    struct Rlimit: JSONDecodable {
        var type: String
        var soft: UInt64
        var hard: UInt64

        init(from json: JSONCursor) throws(JSONDecodingError) {
            type = try json.decode("type")
            soft = try json.decode("soft")
            hard = try json.decode("hard")
        }
    }

    struct Root: JSONDecodable {
        var path: String
        var readonly: Bool?

        init(from json: JSONCursor) throws(JSONDecodingError) {
            path = try json.decode("path")
            readonly = try json.decodeIfPresent("readonly")
        }
    }

    struct Mount: JSONDecodable {
        var destination: String
        var type: String?
        var source: String?
        var options: [String]?

        init(from json: JSONCursor) throws(JSONDecodingError) {
            destination = try json.decode("destination")
            type = try json.decodeIfPresent("type")
            source = try json.decodeIfPresent("source")
            options = try json.decodeIfPresent("options")
        }
    }

    struct Linux: JSONDecodable {
        var namespaces: [NamespaceEntry]?
        var maskedPaths: [String]?
        var readonlyPaths: [String]?
        var seccomp: SeccompProfile.Profile?

        init(from json: JSONCursor) throws(JSONDecodingError) {
            namespaces = try json.decodeIfPresent("namespaces")
            maskedPaths = try json.decodeIfPresent("maskedPaths")
            readonlyPaths = try json.decodeIfPresent("readonlyPaths")
            seccomp = try json.decodeIfPresent("seccomp")
        }
    }

    struct NamespaceEntry: JSONDecodable {
        var type: String
        var path: String?

        init(from json: JSONCursor) throws(JSONDecodingError) {
            type = try json.decode("type")
            path = try json.decodeIfPresent("path")
        }
    }

    /// Fills `plan` from `DIR/config.json`. A command already in the plan (given after `--`)
    /// replaces the bundle's `process.args`.
    public static func apply(_ directory: String, to plan: inout LaunchPlan) throws(Invalid) {
        let bundle = absolute(directory)
        let configPath = bundle + "/config.json"
        let bytes: [UInt8]
        do { bytes = try Files.read(configPath, limit: 4 << 20) } catch { throw Invalid(description: "bundle: \(error)") }
        let config: Config
        do {
            config = try Config(document: bytes)
        } catch {
            throw Invalid(description: "bundle \(configPath): not a valid OCI config: \(error)")
        }
        guard let root = config.root, !root.path.isEmpty else { throw Invalid(description: "bundle \(configPath): no root.path") }
        // Paths tested on bytes, as runc and the kernel read them.
        let rootPath = root.path.hasUTF8Prefix("/") ? root.path : bundle + "/" + root.path

        var rootPlan = RootPlan(path: rootPath, mounts: [])
        rootPlan.readOnly = root.readonly ?? false
        rootPlan.hostname = config.hostname
        for mount in config.mounts ?? [] {
            guard mount.destination.hasUTF8Prefix("/") else {
                throw Invalid(description: "bundle: mount destination must be absolute: \(mount.destination)")
            }
            var entry = RootPlan.Mount(
                destination: mount.destination, type: mount.type ?? "bind", source: mount.source ?? mount.type ?? "none",
                options: mount.options ?? [])
            if entry.isBind && !entry.source.hasUTF8Prefix("/") { entry.source = bundle + "/" + entry.source }
            rootPlan.mounts.append(entry)
        }
        rootPlan.maskedPaths = config.linux?.maskedPaths ?? []
        rootPlan.readOnlyPaths = config.linux?.readonlyPaths ?? []
        for namespace in config.linux?.namespaces ?? [] {
            if namespace.path != nil {
                throw Invalid(description: "bundle: joining an existing \(namespace.type) namespace is not supported")
            }
            switch namespace.type {
            case "mount", "cgroup": break  // mount: always; cgroup: this shim does not manage cgroups
            case "uts": rootPlan.namespaces += "u"
            case "ipc": rootPlan.namespaces += "i"
            case "network": rootPlan.namespaces += "n"
            case "pid": rootPlan.namespaces += "p"
            case "user": throw Invalid(description: "bundle: user namespaces with mappings are not supported (run rootless instead)")
            default: throw Invalid(description: "bundle: unknown namespace type \(namespace.type)")
            }
        }
        if rootPlan.hostname != nil && !rootPlan.namespaces.contains("u") {
            throw Invalid(description: "bundle: a hostname needs a uts namespace")
        }
        plan.root = rootPlan

        let process = config.process
        if plan.command.isEmpty {
            guard let args = process?.args, !args.isEmpty else { throw Invalid(description: "bundle: process.args is empty") }
            plan.command = args
        }
        plan.environment = process?.env ?? []
        plan.workingDirectory = process?.cwd ?? "/"
        if let user = process?.user, plan.hardening.user == nil {
            plan.hardening.user = "\(user.uid):\(user.gid)"
            plan.hardening.additionalGroups = user.additionalGids ?? []
        }
        if let bounding = process?.capabilities?.bounding {
            plan.hardening.baseCapabilities = bounding
        }
        if process?.noNewPrivileges == true { plan.hardening.noNewPrivileges = true }
        for limit in process?.rlimits ?? [] {
            plan.resourceLimits.append(LaunchPlan.ResourceLimit(name: limit.type, soft: limit.soft, hard: limit.hard))
        }
        // The bundle's own filter if it has one; otherwise secretshim's default, as with --rootfs.
        if let profile = config.linux?.seccomp { plan.hardening.bundleSeccomp = (profile, configPath) }
    }

    static func absolute(_ path: String) -> String {
        if path.hasPrefix("/") { return path }
        guard let directory = try? Files.currentDirectory() else { return path }
        return directory + "/" + path
    }
}
