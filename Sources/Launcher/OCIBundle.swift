import FoundationEssentials
import Glibc
import Namespaces

/// An OCI runtime bundle (`runc spec`'s layout): `config.json` beside the root filesystem.
/// `run --bundle DIR` runs it as runc would, the secrets added. Read only with `--bundle`, so its
/// JSON decoding stays off the default start path.
public enum OCIBundle {
    public struct Invalid: Error, CustomStringConvertible {
        public let description: String
    }

    struct Config: Decodable {
        var process: Process?
        var root: Root?
        var hostname: String?
        var mounts: [Mount]?
        var linux: Linux?
    }

    struct Process: Decodable {
        var user: User?
        var args: [String]?
        var env: [String]?
        var cwd: String?
        var capabilities: Capabilities?
        var rlimits: [Rlimit]?
        var noNewPrivileges: Bool?
    }

    struct User: Decodable {
        var uid: UInt32
        var gid: UInt32
        var additionalGids: [UInt32]?
    }

    struct Capabilities: Decodable {
        var bounding: [String]?
    }

    struct Rlimit: Decodable {
        var type: String
        var soft: UInt64
        var hard: UInt64
    }

    struct Root: Decodable {
        var path: String
        var readonly: Bool?
    }

    struct Mount: Decodable {
        var destination: String
        var type: String?
        var source: String?
        var options: [String]?
    }

    struct Linux: Decodable {
        var namespaces: [NamespaceEntry]?
        var maskedPaths: [String]?
        var readonlyPaths: [String]?
        var seccomp: SeccompProfile.Profile?
    }

    struct NamespaceEntry: Decodable {
        var type: String
        var path: String?
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
            config = try JSONDecoder().decode(Config.self, from: Data(bytes))
        } catch {
            throw Invalid(description: "bundle \(configPath): not a valid OCI config: \(SeccompProfile.summary(of: error))")
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
