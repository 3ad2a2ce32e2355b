import Glibc
import Namespaces

/// "Workload NAME, process PID (started at tick T), holds secrets X, Y": what `run` records so
/// that `secret rm` can refuse to pull a secret from under a live workload, and `ps` can list
/// them. A lease names its process by pid and start time, so a reused pid never looks alive.
public struct Lease: Sendable, Equatable {
    public let workloadID: String
    public let name: String
    public let pid: pid_t
    public let processStartTime: UInt64
    /// Nanoseconds since the Unix epoch.
    public let startedAt: Int64
    public let secrets: [Held]

    public struct Held: Sendable, Equatable {
        public let id: String
        public let name: String
        public init(id: String, name: String) {
            self.id = id
            self.name = name
        }
    }

    public init(workloadID: String, name: String, pid: pid_t, processStartTime: UInt64, startedAt: Int64, secrets: [Held]) {
        self.workloadID = workloadID
        self.name = name
        self.pid = pid
        self.processStartTime = processStartTime
        self.startedAt = startedAt
        self.secrets = secrets
    }

    public func holds(secretID: String) -> Bool { secrets.contains { $0.id == secretID } }

    public var isAlive: Bool { System.isAlive(pid: pid, startTime: processStartTime) }

    static var magic: String { "secretshim-lease 1" }

    /// One `key value` per line. Names and IDs are validated before they get here, so none
    /// holds a newline. Written byte by byte: string interpolation of integers would page in
    /// the standard library's formatting code on `run`'s path.
    func encoded() -> [UInt8] {
        var bytes: [UInt8] = []
        bytes.reserveCapacity(160 + secrets.count * 64)
        func field(_ key: String, _ value: String) {
            bytes.append(contentsOf: key.utf8)
            bytes.append(UInt8(ascii: " "))
            bytes.append(contentsOf: value.utf8)
            bytes.append(UInt8(ascii: "\n"))
        }
        func field(_ key: String, _ number: Int64) {
            bytes.append(contentsOf: key.utf8)
            bytes.append(UInt8(ascii: " "))
            ASCIIDecimal.append(number, to: &bytes)
            bytes.append(UInt8(ascii: "\n"))
        }
        func field(_ key: String, _ number: UInt64) {
            bytes.append(contentsOf: key.utf8)
            bytes.append(UInt8(ascii: " "))
            ASCIIDecimal.append(number, to: &bytes)
            bytes.append(UInt8(ascii: "\n"))
        }
        bytes.append(contentsOf: Self.magic.utf8)
        bytes.append(UInt8(ascii: "\n"))
        field("id", workloadID)
        field("name", name)
        field("pid", Int64(pid))
        field("start", processStartTime)
        field("started", startedAt)
        for secret in secrets { field("secret", secret.id + " " + secret.name) }
        return bytes
    }

    static func decode(_ bytes: [UInt8]) -> Lease? {
        let lines = String(decoding: bytes, as: UTF8.self).split(separator: "\n")
        guard lines.first == Substring(magic) else { return nil }
        var fields: [Substring: Substring] = [:]
        var secrets: [Held] = []
        for line in lines.dropFirst() {
            let parts = line.split(separator: " ", maxSplits: 1)
            guard parts.count == 2 else { continue }
            if parts[0] == "secret" {
                let held = parts[1].split(separator: " ", maxSplits: 1)
                if held.count == 2 { secrets.append(Held(id: String(held[0]), name: String(held[1]))) }
            } else {
                fields[parts[0]] = parts[1]
            }
        }
        guard let id = fields["id"], let name = fields["name"], let pid = fields["pid"].flatMap({ pid_t($0) }),
            let start = fields["start"].flatMap({ UInt64($0) }), let started = fields["started"].flatMap({ Int64($0) })
        else { return nil }
        return Lease(
            workloadID: String(id), name: String(name), pid: pid, processStartTime: start, startedAt: started,
            secrets: secrets)
    }
}

/// The leases in the state directory: one file per workload process, `<pid>.lease`.
public struct LeaseBook: Sendable {
    public let directory: String

    public init(directory: String) { self.directory = directory }

    /// Records a lease for `lease.pid`, replacing any stale one of a previous owner of that pid.
    /// Written in place (no temporary file and rename: this is on `run`'s start path), so a
    /// reader may see it half-written; readers skip such a file while its pid lives.
    /// Leases describe running processes and live on a runtime dir: no fsync.
    /// `file` names the lease file instead of its pid (a container's, found again by its ID).
    public func record(_ lease: Lease, file: String? = nil) throws(SysError) {
        try Files.makeDirectories(directory, mode: 0o700)
        let path = file.map { directory + "/" + $0 + ".lease" } ?? path(for: lease.pid)
        let fd = try FileDescriptor.open(path, O_WRONLY | O_CREAT | O_TRUNC | O_NOFOLLOW, mode: 0o600)
        defer { fd.close() }
        try fd.writeAll(lease.encoded(), path: path)
    }

    /// Leases of live processes; those of dead ones are removed on the way.
    public func liveLeases() -> [Lease] {
        var live: [Lease] = []
        for file in Files.list(directory) where file.hasSuffix(".lease") {
            let path = directory + "/" + file
            guard let bytes = try? Files.read(path, limit: 1 << 20) else { continue }
            if let lease = Lease.decode(bytes) {
                if lease.isAlive { live.append(lease) } else { unlink(path) }
            } else if let pid = pid_t(file.dropLast(".lease".count)), System.processStartTime(pid) == nil {
                // Unreadable and its process is gone: a leftover. If the process lives, the
                // lease is being written right now: leave it.
                unlink(path)
            }
        }
        return live.sorted { $0.startedAt < $1.startedAt }
    }

    /// Drops the lease recorded under `file` (a container the runtime wrapper deleted).
    public func remove(file: String) {
        unlink(directory + "/" + file + ".lease")
    }

    func path(for pid: pid_t) -> String { directory + "/" + ASCIIDecimal.string(UInt64(pid)) + ".lease" }
}
