import Glibc
import Namespaces

/// What the workload may do once it runs: its user, capabilities, no_new_privs and seccomp
/// filter. Docker's defaults unless told otherwise; resolved before any kernel work, so a bad
/// capability name or profile stops `run` before it touches anything.
public struct Hardening: Sendable {
    public enum Seccomp: Sendable, Equatable {
        case `default`, unconfined, profile(String)
    }

    public var user: String?
    public var capDrop: [String] = []
    public var capAdd: [String] = []
    public var noNewPrivileges = false
    public var seccomp: Seccomp = .default
    public var privileged = false
    /// The set to start from instead of Docker's default (an OCI bundle's bounding set).
    public var baseCapabilities: [String]?
    /// Supplementary groups of the workload (an OCI bundle's additionalGids); none by default.
    public var additionalGroups: [UInt32] = []
    /// An OCI bundle's own `linux.seccomp`, decoded once with its config: it takes the place of
    /// the default filter (`--seccomp unconfined` or `--seccomp FILE` still win).
    var bundleSeccomp: (profile: SeccompProfile.Profile, path: String)?

    public init() {}

    /// Docker's default capability set (moby's `caps.DefaultCapabilities`).
    public static let dockerDefaultCapabilities = [
        "CAP_CHOWN", "CAP_DAC_OVERRIDE", "CAP_FSETID", "CAP_FOWNER", "CAP_MKNOD", "CAP_NET_RAW", "CAP_SETGID",
        "CAP_SETUID", "CAP_SETFCAP", "CAP_SETPCAP", "CAP_NET_BIND_SERVICE", "CAP_SYS_CHROOT", "CAP_KILL",
        "CAP_AUDIT_WRITE",
    ]

    /// The filter the workload runs under.
    public enum Filter: Sendable {
        case builtinDefault
        case profile(SeccompFilter)

        func load() throws(SeccompFilter.Failure) {
            switch self {
            case .builtinDefault: try DefaultSeccompFilter.load()
            case .profile(let filter):
                // The guard first: a profile that denies seccomp(2) itself would refuse it after.
                try DefaultSeccompFilter.loadGuard()
                try filter.load()
            }
        }
    }

    public struct Resolved: Sendable {
        /// The capability set of the workload (bounding; also permitted/effective for root).
        public var capabilityNames: [String]
        public var user: ResolvedUser?
        public var additionalGroups: [UInt32]
        public var noNewPrivileges: Bool
        public var filter: Filter?

        public var capabilities: [Int32] {
            var numbers: [Int32] = []
            for name in capabilityNames { if let number = Capabilities.number(name) { numbers.append(number) } }
            return numbers
        }
    }

    public struct Invalid: Error, CustomStringConvertible {
        public let description: String
        init(_ description: String) { self.description = description }
    }

    /// `root` is the workload's root filesystem, where user and group names are looked up.
    public func resolve(root: String = "/") throws(Invalid) -> Resolved {
        // Names only, so that a profile's `includes.caps` sees exactly what the workload holds.
        func canonical(_ name: String) throws(Invalid) -> String {
            let upper = name.uppercased()
            let full = upper.hasPrefix("CAP_") ? upper : "CAP_" + upper
            guard Capabilities.number(full) != nil else { throw Invalid("unknown capability: \(name)") }
            return full
        }
        var names = privileged ? Capabilities.allNames : Self.dockerDefaultCapabilities
        if !privileged, let base = baseCapabilities {
            names = []
            for name in base { names.append(try canonical(name)) }
        }
        if !privileged {
            for name in capDrop {
                if name.uppercased() == "ALL" { names.removeAll() } else {
                    let full = try canonical(name)
                    names.removeAll { $0 == full }
                }
            }
            for name in capAdd {
                let added = name.uppercased() == "ALL" ? Capabilities.allNames : [try canonical(name)]
                for full in added where !names.contains(full) { names.append(full) }
            }
        }
        let filter: Filter?
        switch (privileged, seccomp) {
        case (_, .default) where bundleSeccomp != nil:
            do {
                filter = .profile(try SeccompProfile.filter(from: bundleSeccomp!.profile, capabilities: names, path: bundleSeccomp!.path))
            } catch { throw Invalid("\(error)") }
        case (true, .default), (_, .unconfined): filter = nil
        case (_, .default): filter = .builtinDefault
        case (_, .profile(let path)):
            do { filter = .profile(try SeccompProfile.load(path, capabilities: names)) } catch { throw Invalid("\(error)") }
        }
        let resolvedUser: ResolvedUser?
        if let user {
            do { resolvedUser = try UserDatabase(root: root).resolve(user) } catch { throw Invalid("\(error)") }
        } else {
            resolvedUser = nil
        }
        return Resolved(capabilityNames: names, user: resolvedUser, additionalGroups: additionalGroups, noNewPrivileges: noNewPrivileges, filter: filter)
    }
}

extension Hardening.Resolved {
    /// Applies it all, in runc's order: bounding set; the filter early if no_new_privs is off
    /// (loading it then needs CAP_SYS_ADMIN, which is about to go); the user switch; the
    /// capability sets; no_new_privs and the filter last.
    ///
    /// An unprivileged shim (an ordinary user, or a container without CAP_SETPCAP) cannot shape
    /// capability sets and has nothing to give away: it sets no_new_privs instead, so nothing the
    /// workload execs can gain privileges, and loads the filter under it.
    public func apply() throws {
        let effective = Capabilities.effective()
        let canShapeCapabilities = effective.contains("CAP_SETPCAP")
        let noNewPrivileges = self.noNewPrivileges || !canShapeCapabilities || !effective.contains("CAP_SYS_ADMIN")
        let capabilities = self.capabilities
        if canShapeCapabilities { try Capabilities.limitBoundingSet(to: capabilities) }
        if let filter, !noNewPrivileges { try filter.load() }
        if let user {
            try Identity.switchTo(uid: user.uid, gid: user.gid, groups: additionalGroups)
        }
        // A non-root user lost its permitted set with setuid, as under Docker; root keeps exactly these.
        // Whoever the workload runs as, it inherits nothing through exec (CVE-2022-24769):
        // `set` leaves the inheritable and ambient sets empty too.
        if canShapeCapabilities && (user == nil || user!.uid == 0) {
            try Capabilities.set(capabilities)
        } else {
            try Capabilities.clearInheritable()
        }
        if noNewPrivileges { try Capabilities.setNoNewPrivileges() }
        if let filter, noNewPrivileges { try filter.load() }
    }
}
