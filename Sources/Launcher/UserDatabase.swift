import Namespaces

/// A resolved `--user`.
public struct ResolvedUser: Sendable, Equatable {
    public var uid: UInt32
    public var gid: UInt32
    /// The passwd entry's home directory, nil for a numeric user without an entry (or an
    /// entry without one): the workload's `HOME`, as runc sets it (`"/"` when nil).
    public var home: String? = nil
}

/// `/etc/passwd` and `/etc/group` of the workload's root, read directly: static glibc's
/// getpwnam is unreliable, and inside a foreign root it would read the host's files.
struct UserDatabase {
    let root: String

    struct Invalid: Error, CustomStringConvertible {
        let description: String
    }

    /// `USER[:GROUP]`, each a name or a number. As Docker: a numeric user absent from passwd
    /// runs with gid 0 unless a group is given; a name must exist.
    func resolve(_ spec: String) throws(Invalid) -> ResolvedUser {
        try Self.resolve(spec, passwd: { entries("/etc/passwd") }, group: { entries("/etc/group") })
    }

    /// `resolve` over the entries of passwd and group (`entries(in:)`), each read only when
    /// needed. Apart from the file reads, so fuzz/ can give it any bytes.
    static func resolve(
        _ spec: String, passwd readPasswd: () -> [[String]], group readGroup: () -> [[String]]
    ) throws(Invalid) -> ResolvedUser {
        let parts = spec.utf8.split(separator: UInt8(ascii: ":"), maxSplits: 1, omittingEmptySubsequences: false).map {
            String(decoding: $0, as: UTF8.self)
        }
        guard !parts[0].isEmpty, parts.count == 1 || !parts[1].isEmpty else {
            throw Invalid(description: "invalid --user '\(spec)': expected USER[:GROUP]")
        }
        let passwd = readPasswd()
        var uid: UInt32
        var gid: UInt32 = 0
        var home: String?
        func homeField(_ entry: [String]) -> String? { entry.count > 5 && !entry[5].isEmpty ? entry[5] : nil }
        if let number = Self.id(parts[0]) {
            uid = number
            if let entry = passwd.first(where: { $0.count > 3 && Self.id($0[2]) == number }), let primary = Self.id(entry[3]) {
                gid = primary
                home = homeField(entry)
            }
        } else {
            guard let entry = passwd.first(where: { $0.count > 3 && $0[0] == parts[0] }), let number = Self.id(entry[2]),
                let primary = Self.id(entry[3])
            else { throw Invalid(description: "unable to find user \(parts[0]): no matching entries in passwd file") }
            uid = number
            gid = primary
            home = homeField(entry)
        }
        if parts.count == 2 {
            if let number = Self.id(parts[1]) {
                gid = number
            } else {
                guard let entry = readGroup().first(where: { $0.count > 2 && $0[0] == parts[1] }),
                    let number = Self.id(entry[2])
                else { throw Invalid(description: "unable to find group \(parts[1]): no matching entries in group file") }
                gid = number
            }
        }
        return ResolvedUser(uid: uid, gid: gid, home: home)
    }

    static func id(_ text: String) -> UInt32? {
        guard !text.isEmpty, text.utf8.allSatisfy({ $0 >= 0x30 && $0 <= 0x39 }), let value = UInt32(text), value != UInt32.max
        else { return nil }
        return value
    }

    /// Colon-separated lines of a file inside the root; a missing file has no entries.
    func entries(_ path: String) -> [[String]] {
        // Inside a foreign root, read through openat2(RESOLVE_IN_ROOT): its /etc/passwd may be a
        // symlink to a host file.
        let bytes: [UInt8]?
        if root == "/" {
            bytes = try? Files.read(path, limit: 16 << 20)
        } else if let contained = try? ContainedRoot.open(root) {
            bytes = try? contained.read(path, limit: 16 << 20)
            contained.fd.close()
        } else {
            bytes = nil
        }
        guard let bytes else { return [] }
        return Self.entries(in: bytes)
    }

    /// The colon-separated fields of each line of a passwd or group file, cut on bytes as
    /// glibc cuts them (as Characters, a ':' with a combining mark on it was no separator, and
    /// the fields after it shifted).
    static func entries(in bytes: [UInt8]) -> [[String]] {
        bytes.split(separator: 0x0A).map {
            $0.split(separator: UInt8(ascii: ":"), omittingEmptySubsequences: false).map { String(decoding: $0, as: UTF8.self) }
        }
    }
}
