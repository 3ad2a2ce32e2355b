import Glibc
import Namespaces

/// Builds a workload's root in this (already private) mount namespace, then enters it: the
/// root bound onto itself, its mounts (/proc, /dev and the devices, the bundle's), the secrets
/// tmpfs, masked and read-only paths, the root made read-only if asked, pivot_root.
///
/// Every target inside the root is resolved by `ContainedRoot` and mounted through its
/// descriptor, so a rootfs whose `run`, `run/secrets` or a mount point is a symlink to a host
/// path gets its mount inside the root, never on the host.
enum RootBuilder {
    static func build(
        _ root: RootPlan, secrets: [SecretsMount.File], secretsDirectory: String, tmpfsSize: UInt64
    ) throws {
        let contained = try ContainedRoot.bindOntoItself(root.path)
        defer { contained.fd.close() }
        for mount in root.mounts {
            try self.mount(mount, in: contained)
            if mount.destination == "/dev" { try makeDevices(in: contained) }
        }
        try writeSecrets(secrets, in: contained, directory: secretsDirectory, size: tmpfsSize)
        for path in root.maskedPaths { try mask(path, in: contained) }
        for path in root.readOnlyPaths { try makeReadOnly(path, in: contained) }
        if root.readOnly {
            try Mounts.remountReadOnly(contained.fd, shown: root.path)
        }
        try contained.pivot()
    }

    static func mount(_ mount: RootPlan.Mount, in root: ContainedRoot) throws {
        let shown = root.path + mount.destination
        let options = Mounts.parseOptions(mount.options)
        if mount.isBind {
            // The source resolved once (a detached copy of it), its flags set before it is seen.
            let flags = options.flags & UInt(MS_RDONLY | MS_NOSUID | MS_NODEV | MS_NOEXEC)
            let tree = try Mounts.cloneTree(mount.source, recursive: mount.options.contains("rbind"), flags: flags, shown: shown)
            defer { tree.close() }
            let isDirectory = try tree.status(path: mount.source).st_mode & S_IFMT == S_IFDIR
            let target = try root.open(mount.destination, creating: isDirectory ? .directory : .file)
            defer { target.close() }
            try Mounts.attach(tree, on: target, shown: shown)
            return
        }
        // This shim does not manage cgroups: the workload stays in the shim's own.
        if mount.type == "cgroup" || mount.type == "cgroup2" { return }
        let target = try root.open(mount.destination, creating: .directory)
        defer { target.close() }
        let propagation = UInt(MS_PRIVATE | MS_SLAVE | MS_SHARED | MS_UNBINDABLE | MS_REC)
        try Mounts.mount(
            mount.source, on: target, type: mount.type, flags: options.flags & ~propagation,
            data: options.data.isEmpty ? nil : options.data, shown: shown)
    }

    /// runc's default devices, bound from the host's (works in a user namespace, where mknod
    /// does not), and the usual links.
    static func makeDevices(in root: ContainedRoot) throws {
        for name in RootPlan.devices {
            let node = try root.open("/dev/" + name, creating: .file)
            defer { node.close() }
            try Mounts.bind("/dev/" + name, on: node, recursive: false, shown: root.path + "/dev/" + name)
        }
        let dev = try root.openExisting("/dev")
        defer { dev.close() }
        let links = [("fd", "/proc/self/fd"), ("stdin", "/proc/self/fd/0"), ("stdout", "/proc/self/fd/1"),
                     ("stderr", "/proc/self/fd/2"), ("ptmx", "pts/ptmx")]
        for (name, target) in links {
            do throws(SysError) { try dev.makeSymbolicLink(name, to: target, path: root.path + "/dev/" + name) } catch {
                if error.errno != EEXIST { throw error }
            }
        }
        do throws(SysError) { try dev.makeDirectory("shm", mode: 0o755, path: root.path + "/dev/shm") } catch {
            if error.errno != EEXIST { throw error }
        }
        // Sticky and world-writable like /tmp; set apart from mkdir, which the umask trims.
        // Through its own descriptor: a bundle's /dev may hold `shm` as a link to a host path.
        let shm = try dev.openAt("shm", O_RDONLY | O_DIRECTORY | O_NOFOLLOW)
        defer { shm.close() }
        try shm.changeMode(0o1777, path: root.path + "/dev/shm")
    }

    /// The secrets tmpfs inside the root: staged detached (`SecretsMount.stage`), then
    /// attached onto the secrets dir as resolved inside the root, once; files with targets
    /// outside the secrets dir bound over theirs (`OutsideTargets`).
    static func writeSecrets(
        _ files: [SecretsMount.File], in root: ContainedRoot, directory: String, size: UInt64
    ) throws {
        let mount = try SecretsMount.stage(files, size: size, shown: root.path + directory)
        defer { mount.close() }
        let mountPoint = try root.open(directory, creating: .directory)
        defer { mountPoint.close() }
        // Absolute targets outside the secrets dir: bound inside the root, their mount points
        // made there as runc makes them, before the secrets tmpfs is attached.
        if let outside = try OutsideTargets.stage(files, size: size, shown: root.path + directory) {
            defer { outside.close() }
            try outside.bind(in: root, makingMountPoints: true, apartFrom: mountPoint)
        }
        try mount.attach(onto: mountPoint, root: root.fd)
    }

    /// /dev/null over a file, an empty read-only tmpfs over a folder; absent paths are skipped.
    static func mask(_ path: String, in root: ContainedRoot) throws {
        guard let target = try existing(path, in: root) else { return }
        defer { target.close() }
        let st = try target.status(path: root.path + path)
        if (st.st_mode & S_IFMT) == S_IFDIR {
            try Mounts.mount("tmpfs", on: target, type: "tmpfs", flags: UInt(MS_RDONLY), data: nil, shown: root.path + path)
        } else {
            try Mounts.bind("/dev/null", on: target, recursive: false, shown: root.path + path)
        }
    }

    static func makeReadOnly(_ path: String, in root: ContainedRoot) throws {
        guard let target = try existing(path, in: root) else { return }
        defer { target.close() }
        let tree = try Mounts.cloneTree(of: target, flags: UInt(MS_RDONLY), shown: root.path + path)
        defer { tree.close() }
        try Mounts.attach(tree, on: target, shown: root.path + path)
    }

    static func existing(_ path: String, in root: ContainedRoot) throws -> FileDescriptor? {
        do { return try root.openExisting(path) } catch {
            if error.errno == ENOENT { return nil }
            throw error
        }
    }
}
