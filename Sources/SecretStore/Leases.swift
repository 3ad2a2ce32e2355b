import Glibc
import Namespaces

/// "Workload NAME, process PID (started at tick T), holds secrets X, Y": what `run` records so
/// that `secret rm` can refuse to pull a secret from under a live workload, and `ps` can list
/// them. A lease names its process by pid and start time, so a reused pid never looks alive.
///
/// A lease is recorded before any secret is read, naming the grants' references as asked
/// (`wants`: a name, an ID or an ID prefix), and rewritten with the exact secrets once they are
/// read; a lease that cannot be read while its process lives holds every secret. So `rm` never
/// wins a race with a starting workload, and a lease never fails open.
public struct Lease: Sendable, Equatable {
    public let workloadID: String
    public let name: String
    public let pid: pid_t
    public let processStartTime: UInt64
    /// Nanoseconds since the Unix epoch.
    public let startedAt: Int64
    public let secrets: [Held]
    /// References not resolved yet (the lease of a workload still starting).
    public let wants: [String]
    /// A lease whose file could not be read while its process lives: it holds everything.
    public let holdsEverything: Bool
    /// What `update` needs to rebuild the workload's secrets; nil in a lease that is still
    /// starting, in a container's, and in one written before `update` existed.
    public let workload: Workload?

    /// The secrets mount of a running workload, as `run` made it: where it is, which process's
    /// namespaces hold it, and every file on it.
    public struct Workload: Sendable, Equatable {
        /// The process whose mount (and user) namespace holds the secrets tmpfs, and which
        /// `update --signal` reaches: the workload itself after a plain `run`'s exec, the first
        /// process of its PID namespace with `--rootfs` or `--bundle`. With its start time
        /// (clock ticks since boot), so a reused pid is never taken for it.
        public var pid: pid_t
        public var processStartTime: UInt64
        /// The secrets dir as the workload sees it (inside its root).
        public var secretsDirectory: String
        /// `--tmpfs-size` in bytes when it was given; otherwise the size follows the files.
        public var tmpfsSize: UInt64?
        public var grants: [Grant]
        /// A container of the runtime wrapper: the host's tmpfs (`<state>/containers/<id>`)
        /// that the container's secrets dir is bound from, swapped too, so that the wrapper's
        /// `delete` unmounts what the container holds.
        public var hostDirectory: String?
        /// The set an `update` is swapping in, recorded before its swap and dropped after: a
        /// `kill -9` between leaves a lease that says which two sets the mount may show.
        public var pending: [Grant]?

        public init(
            pid: pid_t, processStartTime: UInt64, secretsDirectory: String, tmpfsSize: UInt64?, grants: [Grant],
            hostDirectory: String? = nil
        ) {
            self.pid = pid
            self.processStartTime = processStartTime
            self.secretsDirectory = secretsDirectory
            self.tmpfsSize = tmpfsSize
            self.grants = grants
            self.hostDirectory = hostDirectory
        }
    }

    /// One file of the secrets mount: the secret (by ID) at `target` (relative to the secrets
    /// dir) with Docker's uid, gid and mode.
    public struct Grant: Sendable, Equatable {
        public var id: String
        public var target: String
        public var uid: UInt32
        public var gid: UInt32
        public var mode: UInt32

        public init(id: String, target: String, uid: UInt32, gid: UInt32, mode: UInt32) {
            self.id = id
            self.target = target
            self.uid = uid
            self.gid = gid
            self.mode = mode
        }
    }

    /// The most grants one workload may hold: its lease stays far below the 1 MiB a reader
    /// accepts (Docker sets no limit; 4,096 is over what a service is ever given).
    public static let maximumGrants = 4096

    public struct Held: Sendable, Equatable {
        public let id: String
        public let name: String
        public init(id: String, name: String) {
            self.id = id
            self.name = name
        }
    }

    public init(
        workloadID: String, name: String, pid: pid_t, processStartTime: UInt64, startedAt: Int64, secrets: [Held],
        wants: [String] = [], holdsEverything: Bool = false, workload: Workload? = nil
    ) {
        self.workloadID = workloadID
        self.name = name
        self.pid = pid
        self.processStartTime = processStartTime
        self.startedAt = startedAt
        // Each secret once, however many targets it is granted at.
        var unique: [Held] = []
        for held in secrets where !unique.contains(where: { $0.id == held.id }) { unique.append(held) }
        self.secrets = unique
        var references: [String] = []
        for reference in wants where !references.contains(reference) { references.append(reference) }
        self.wants = references
        self.holdsEverything = holdsEverything
        self.workload = workload
    }

    /// The same lease with other secrets, references and workload (an `update`).
    public func with(secrets: [Held], wants: [String] = [], workload: Workload?) -> Lease {
        Lease(
            workloadID: workloadID, name: name, pid: pid, processStartTime: processStartTime, startedAt: startedAt,
            secrets: secrets, wants: wants, workload: workload)
    }

    /// Whether this workload holds (or may be about to hold) the secret: its exact ID, or a
    /// reference still unresolved that names it or is a prefix of its ID.
    public func holds(secretID: String, name secretName: String) -> Bool {
        if holdsEverything { return true }
        if secrets.contains(where: { $0.id == secretID }) { return true }
        return wants.contains { $0 == secretName || secretID.hasPrefix($0) }
    }

    public var isAlive: Bool { System.isAlive(pid: pid, startTime: processStartTime) }

    static var magic: String { "secretshim-lease 1" }

    /// One `key value` per line. Names, IDs and references are validated before they get here,
    /// so none holds a newline or a space.
    public func encoded() -> [UInt8] {
        var bytes: [UInt8] = []
        bytes.reserveCapacity(160 + secrets.count * 64 + wants.count * 32)
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
        bytes.append(contentsOf: Self.magic.utf8)
        bytes.append(UInt8(ascii: "\n"))
        field("id", workloadID)
        field("name", name)
        field("pid", Int64(pid))
        bytes.append(contentsOf: "start ".utf8)
        ASCIIDecimal.append(processStartTime, to: &bytes)
        bytes.append(UInt8(ascii: "\n"))
        field("started", startedAt)
        for secret in secrets { field("secret", secret.id + " " + secret.name) }
        for reference in wants { field("wants", reference) }
        if let workload {
            bytes.append(contentsOf: "workload ".utf8)
            ASCIIDecimal.append(Int64(workload.pid), to: &bytes)
            bytes.append(UInt8(ascii: " "))
            ASCIIDecimal.append(workload.processStartTime, to: &bytes)
            bytes.append(UInt8(ascii: "\n"))
            field("secrets-dir", Self.escaped(workload.secretsDirectory))
            if let size = workload.tmpfsSize {
                bytes.append(contentsOf: "tmpfs-size ".utf8)
                ASCIIDecimal.append(size, to: &bytes)
                bytes.append(UInt8(ascii: "\n"))
            }
            if let host = workload.hostDirectory { field("host-dir", Self.escaped(host)) }
            func grantLine(_ key: String, _ grant: Grant) {
                bytes.append(contentsOf: key.utf8)
                bytes.append(UInt8(ascii: " "))
                bytes.append(contentsOf: grant.id.utf8)
                bytes.append(UInt8(ascii: " "))
                ASCIIDecimal.append(UInt64(grant.uid), to: &bytes)
                bytes.append(UInt8(ascii: " "))
                ASCIIDecimal.append(UInt64(grant.gid), to: &bytes)
                bytes.append(UInt8(ascii: " "))
                ASCIIDecimal.append(UInt64(grant.mode), to: &bytes)
                bytes.append(UInt8(ascii: " "))
                bytes.append(contentsOf: Self.escaped(grant.target).utf8)
                bytes.append(UInt8(ascii: "\n"))
            }
            if let pending = workload.pending {
                field("pending-set", "1")
                for grant in pending { grantLine("pending", grant) }
            }
            for grant in workload.grants { grantLine("grant", grant) }
        }
        return bytes
    }

    /// A path on one line of a lease: bytes up to the space and '%' as %XX (a target or a
    /// secrets dir may hold spaces and newlines; the kernel allows any byte but '/' and NUL in
    /// a name).
    static func escaped(_ text: String) -> String {
        var out: [UInt8] = []
        for byte in text.utf8 {
            if byte <= 0x20 || byte == UInt8(ascii: "%") || byte == 0x7F {
                out.append(UInt8(ascii: "%"))
                out.append(contentsOf: Array(String(byte >> 4, radix: 16).utf8))
                out.append(contentsOf: Array(String(byte & 0xF, radix: 16).utf8))
            } else {
                out.append(byte)
            }
        }
        return String(decoding: out, as: UTF8.self)
    }

    static func unescaped(_ text: Substring) -> String? {
        var out: [UInt8] = []
        var bytes = Array(text.utf8)[...]
        while let byte = bytes.popFirst() {
            guard byte == UInt8(ascii: "%") else {
                out.append(byte)
                continue
            }
            guard bytes.count >= 2, let value = UInt8(String(decoding: bytes.prefix(2), as: UTF8.self), radix: 16) else { return nil }
            out.append(value)
            bytes = bytes.dropFirst(2)
        }
        return String(decoding: out, as: UTF8.self)
    }

    static func decode(_ bytes: [UInt8]) -> Lease? {
        let lines = String(decoding: bytes, as: UTF8.self).split(separator: "\n")
        guard lines.first == Substring(magic) else { return nil }
        var fields: [Substring: Substring] = [:]
        var secrets: [Held] = []
        var wants: [String] = []
        var grants: [Grant] = []
        var pending: [Grant] = []
        func grant(_ text: Substring) -> Grant? {
            let values = text.split(separator: " ", maxSplits: 4)
            guard values.count == 5, let uid = UInt32(values[1]), let gid = UInt32(values[2]), let mode = UInt32(values[3]),
                let target = unescaped(values[4])
            else { return nil }
            return Grant(id: String(values[0]), target: target, uid: uid, gid: gid, mode: mode)
        }
        for line in lines.dropFirst() {
            let parts = line.split(separator: " ", maxSplits: 1)
            guard parts.count == 2 else { return nil }
            switch parts[0] {
            case "grant":
                guard let found = grant(parts[1]) else { return nil }
                grants.append(found)
            case "pending":
                guard let found = grant(parts[1]) else { return nil }
                pending.append(found)
            case "secret":
                let held = parts[1].split(separator: " ", maxSplits: 1)
                guard held.count == 2 else { return nil }
                secrets.append(Held(id: String(held[0]), name: String(held[1])))
            case "wants": wants.append(String(parts[1]))
            default: fields[parts[0]] = parts[1]
            }
        }
        guard let id = fields["id"], let name = fields["name"], let pid = fields["pid"].flatMap({ pid_t($0) }),
            let start = fields["start"].flatMap({ UInt64($0) }), let started = fields["started"].flatMap({ Int64($0) })
        else { return nil }
        var workload: Workload?
        if let process = fields["workload"] {
            let values = process.split(separator: " ")
            guard values.count == 2, let workloadPID = pid_t(values[0]), let workloadStart = UInt64(values[1]),
                let directory = fields["secrets-dir"].flatMap({ unescaped($0) })
            else { return nil }
            var size: UInt64?
            if let text = fields["tmpfs-size"] {
                guard let value = UInt64(text) else { return nil }
                size = value
            }
            var host: String?
            if let text = fields["host-dir"] {
                guard let value = unescaped(text) else { return nil }
                host = value
            }
            workload = Workload(
                pid: workloadPID, processStartTime: workloadStart, secretsDirectory: directory, tmpfsSize: size, grants: grants,
                hostDirectory: host)
            if fields["pending-set"] != nil { workload!.pending = pending } else if !pending.isEmpty { return nil }
        }
        return Lease(
            workloadID: String(id), name: String(name), pid: pid, processStartTime: start, startedAt: started,
            secrets: secrets, wants: wants, workload: workload)
    }
}

/// The state directory's leases: one file per workload, `<pid>.lease` (or, for a container of
/// the runtime wrapper, `<container-id>.lease`).
///
/// The directory is opened once, by descriptor, and every lease is written through it: a
/// workload whose root changes (`--rootfs`, `--bundle`) still records on the host. A directory
/// that group or others can write, or that belongs to neither root nor the caller, is refused
/// (anyone could plant a lease naming pid 1 and block `secret rm` for good); a lease file that
/// belongs to neither is ignored.
///
/// `secret rm` checks and deletes under an exclusive lock on the directory; `run` records its
/// first lease under a shared one: either the lease is there when `rm` looks, or the secret is
/// gone before `run` reads it.
public struct LeaseBook: Sendable {
    public let directory: String
    /// Told of each lease of a finished workload as it is removed, with when that was seen
    /// (the audit log's `revoke`); also of those `run` set aside in `ended/`.
    public let ended: (@Sendable (Lease, Int64) -> Void)?
    /// When there is no `ended` (`run`'s way): a finished workload's lease is renamed into
    /// `ended/` (one renameat, no read), for the next command with `ended` to report: reading
    /// and reporting it in `run` cost every start some 30 page faults (bench/budget).
    public let setsEndedAside: Bool

    /// Without `ended`, finished workloads' leases are set aside, never dropped unreported.
    public init(directory: String, ended: (@Sendable (Lease, Int64) -> Void)? = nil) {
        self.directory = directory
        self.ended = ended
        self.setsEndedAside = ended == nil
    }

    /// Opens (and, with `create`, makes, 0700) the directory and checks who may write it. Nil
    /// when it does not exist and `create` is false.
    public func open(create: Bool) throws(StoreError) -> LeaseDirectory? {
        if create {
            // Used through the descriptor opened below, whose owner and mode are checked: the
            // directories above are checked only when one had to be made.
            do { try Files.makeDirectories(directory, mode: 0o700, checkingExisting: false) } catch { throw .system(error) }
        }
        let fd: FileDescriptor
        do { fd = try FileDescriptor.open(directory, O_RDONLY | O_DIRECTORY | O_NOFOLLOW) } catch {
            if error.errno == ENOENT && !create { return nil }
            throw .system(error)
        }
        do {
            let st = try fd.status(path: directory)
            guard st.st_uid == 0 || st.st_uid == System.effectiveUserID else {
                throw StoreError.untrusted(path: directory, why: "owned by uid \(st.st_uid), neither root nor this user")
            }
            guard st.st_mode & 0o022 == 0 else {
                throw StoreError.untrusted(
                    path: directory, why: "state dir is writable by group or others (mode \(String(st.st_mode & 0o7777, radix: 8))): chmod 700 it")
            }
        } catch let error as StoreError {
            fd.close()
            throw error
        } catch {
            fd.close()
            throw .system(error as? SysError ?? SysError("stat", directory, errno: EIO))
        }
        return LeaseDirectory(fd: fd, path: directory, ended: ended, setsEndedAside: setsEndedAside)
    }

    /// Leases of live processes; those of dead ones are removed on the way. A state dir that
    /// is not there holds none.
    public func liveLeases() throws(StoreError) -> [Lease] {
        guard let opened = try open(create: false) else { return [] }
        defer { opened.close() }
        return opened.liveLeases()
    }

    /// Records `lease` (see `LeaseDirectory.record`), the directory made if missing.
    public func record(_ lease: Lease, file: String? = nil) throws(StoreError) {
        let opened = try open(create: true)!
        defer { opened.close() }
        try opened.record(lease, file: file)
    }

    /// Drops the lease recorded under `file` (a container the runtime wrapper deleted).
    public func remove(file: String) {
        guard let opened = try? open(create: false) else { return }
        defer { opened.close() }
        opened.remove(file: file)
    }

    /// `secret rm`'s first step, for every store: runs `delete` under the state dir's exclusive
    /// lock, which a starting `run` takes (shared) to record its lease before it reads, unless a
    /// live lease here holds `record` (`.inUse`, naming each workload). No workload on this node
    /// can get the value between the check and the delete.
    public func removing(_ record: SecretRecord, _ delete: () throws(StoreError) -> Void) throws(StoreError) {
        let directory = try open(create: true)!
        defer { directory.close() }
        try directory.withExclusiveLock { () throws(StoreError) in
            let holders = directory.liveLeases().filter { $0.holds(secretID: record.id, name: record.name) }
            if !holders.isEmpty {
                throw .inUse(secret: record.name, holders: holders.map { "\($0.name) (pid \($0.pid))" })
            }
            try delete()
        }
    }

    func path(for pid: pid_t) -> String { directory + "/" + LeaseDirectory.fileName(pid) }
}

/// An opened, checked state directory (see `LeaseBook`).
public struct LeaseDirectory: Sendable {
    public let fd: FileDescriptor
    public let path: String
    /// `LeaseBook.ended` and `LeaseBook.setsEndedAside`.
    public var ended: (@Sendable (Lease, Int64) -> Void)? = nil
    public var setsEndedAside = false

    /// Where `run` sets finished workloads' leases aside (`LeaseBook.setsEndedAside`), each as
    /// `<lease file>.<nanoseconds when seen>`.
    static let endedFolder = "ended"

    public func close() { fd.close() }

    static func fileName(_ pid: pid_t) -> String { ASCIIDecimal.string(UInt64(pid)) + ".lease" }

    /// The pid a lease file is named by (`<pid>.lease`), or nil (a container's, or not a lease).
    static func pid(named file: String) -> pid_t? {
        let bytes = file.utf8
        guard bytes.count > 6, file.hasUTF8Suffix(".lease"),
            let value = ASCIIDecimal.value(bytes.prefix(bytes.count - 6), max: UInt64(Int32.max)), value > 0
        else { return nil }
        return pid_t(value)
    }

    /// Records `lease` under `<pid>.lease` (or `<file>.lease`), in place, under a shared lock
    /// (see `LeaseBook`). A reader may see it half-written: a lease that does not parse while
    /// its process lives holds everything. Leases describe running processes and live on a
    /// runtime dir: no fsync. Then sweeps a few finished leases (`sweep`).
    public func record(_ lease: Lease, file: String? = nil) throws(StoreError) {
        let name = file.map { $0 + ".lease" } ?? Self.fileName(lease.pid)
        do throws(SysError) {
            try fd.lock(LOCK_SH, path: path)
            defer { fd.unlock() }
            let out = try fd.openAt(name, O_WRONLY | O_CREAT | O_TRUNC | O_NOFOLLOW | O_NONBLOCK, mode: 0o600)
            defer { out.close() }
            guard try out.status(path: path + "/" + name).st_mode & S_IFMT == S_IFREG else {
                throw SysError("lease", path + "/" + name, errno: EINVAL)
            }
            try out.writeAll(lease.encoded(), path: path + "/" + name)
        } catch {
            throw .system(error)
        }
        sweep(keeping: name)
    }

    /// Replaces a lease recorded before with `lease`, whole (written aside, then renamed over):
    /// a reader sees the old lease or the new one.
    public func replace(_ lease: Lease, file: String? = nil) throws(StoreError) {
        let name = file.map { $0 + ".lease" } ?? Self.fileName(lease.pid)
        let temporary = "." + name + ".new"
        do throws(SysError) {
            try? fd.removeEntry(temporary)
            let out = try fd.openAt(temporary, O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW, mode: 0o600)
            do throws(SysError) {
                try out.writeAll(lease.encoded(), path: path + "/" + temporary)
                out.close()
            } catch {
                out.close()
                try? fd.removeEntry(temporary)
                throw error
            }
            try fd.rename(temporary, to: name, path: path + "/" + name)
        } catch {
            throw .system(error)
        }
    }

    /// Serializes `update`s: an exclusive lock on `.update.lock` in this directory (made 0600),
    /// held until the returned descriptor is closed (or its process dies). Waits at most
    /// `timeout` seconds (a holder stopped by a signal would otherwise block every update).
    public func lockForUpdate(timeout: Double = 10) throws(StoreError) -> FileDescriptor {
        do throws(SysError) {
            let lock = try fd.openAt(".update.lock", O_RDWR | O_CREAT | O_NOFOLLOW, mode: 0o600)
            let deadline = System.nowNanoseconds() + Int64(timeout * 1e9)
            while true {
                do {
                    try lock.lock(LOCK_EX | LOCK_NB, path: path + "/.update.lock")
                    return lock
                } catch {
                    guard error.errno == EWOULDBLOCK, System.nowNanoseconds() < deadline else {
                        lock.close()
                        throw error
                    }
                    usleep(5_000)
                }
            }
        } catch {
            throw .system(error)
        }
    }

    /// The most a lease may hold (bytes): half of what a reader accepts.
    public static let maximumLeaseSize = 512 << 10

    /// `replace` for `update`: under the directory's exclusive lock (which `secret rm` takes,
    /// and before which a starting `run` records its first lease), and only while the file
    /// still holds this workload's lease (same ID, pid and start time): a workload that ended
    /// meanwhile, its pid taken by a new `run`, keeps the new lease untouched (ESRCH).
    public func replaceOwned(_ lease: Lease, file: String? = nil) throws(StoreError) {
        let name = file.map { $0 + ".lease" } ?? Self.fileName(lease.pid)
        guard lease.encoded().count <= Self.maximumLeaseSize else {
            throw .system(SysError("write lease", path + "/" + name, errno: EFBIG))
        }
        do { try fd.lock(LOCK_EX, path: path) } catch { throw .system(error) }
        defer { fd.unlock() }
        guard let opened = try? fd.openAt(name, O_RDONLY | O_NOFOLLOW | O_NONBLOCK) else {
            throw .system(SysError("read lease", path + "/" + name, errno: ESRCH))
        }
        let onDisk = (try? opened.readAll(limit: 1 << 20)).flatMap { Lease.decode($0) }
        opened.close()
        guard let onDisk, onDisk.workloadID == lease.workloadID, onDisk.pid == lease.pid,
            onDisk.processStartTime == lease.processStartTime
        else { throw .system(SysError("the lease of", lease.workloadID + " is another workload's now", errno: ESRCH)) }
        try replace(lease, file: file)
    }

    /// Holds the directory's exclusive lock while `body` runs: `secret rm` checks the holders
    /// and deletes under it, so no `run` records a lease in between.
    public func withExclusiveLock<T>(_ body: () throws(StoreError) -> T) throws(StoreError) -> T {
        do { try fd.lock(LOCK_EX, path: path) } catch { throw .system(error) }
        defer { fd.unlock() }
        return try body()
    }

    /// Leases of live processes, oldest first; files of finished ones are removed.
    public func liveLeases() -> [Lease] {
        reportSetAside()
        var live: [Lease] = []
        for file in entries() where file.hasUTF8Suffix(".lease") && !file.hasUTF8Prefix(".") {
            switch examine(file) {
            case .live(let lease): live.append(lease)
            case .finished(let lease): removeFinished(file, lease)
            case .ignored: break
            }
        }
        return live.sorted { $0.startedAt < $1.startedAt }
    }

    enum Examined { case live(Lease), finished(Lease?), ignored }

    /// Removes a finished workload's lease, telling `ended` (when the file could be read), or
    /// sets it aside (`setsEndedAside`).
    func removeFinished(_ file: String, _ lease: Lease?) {
        if setsEndedAside {
            setAside(file)
            return
        }
        guard (try? fd.removeEntry(file)) != nil else { return }
        if let lease, let ended { ended(lease, System.nowNanoseconds()) }
    }

    /// Renames `file` into `ended/`, the folder made when missing; removed if that fails.
    func setAside(_ file: String) {
        let name = Self.endedFolder + "/" + file + "." + ASCIIDecimal.string(UInt64(System.nowNanoseconds()))
        do { try fd.rename(file, to: name) } catch {
            if error.errno == ENOENT, (try? fd.makeDirectory(Self.endedFolder, mode: 0o700)) != nil, (try? fd.rename(file, to: name)) != nil { return }
            try? fd.removeEntry(file)
        }
    }

    /// Reports (`ended`) and removes what `run` set aside in `ended/`: each lease's `revoke`,
    /// at the time `run` saw it finished.
    public func reportSetAside() {
        guard let ended, let folder = try? fd.openAt(Self.endedFolder, O_RDONLY | O_DIRECTORY | O_NOFOLLOW) else { return }
        defer { folder.close() }
        for name in folder.entries() {
            guard let dot = name.utf8.lastIndex(of: UInt8(ascii: ".")),
                let seen = ASCIIDecimal.value(name.utf8[name.utf8.index(after: dot)...], max: UInt64(Int64.max))
            else {
                try? folder.removeEntry(name)
                continue
            }
            var lease: Lease?
            if let opened = try? folder.openAt(name, O_RDONLY | O_NOFOLLOW | O_NONBLOCK) {
                if let st = try? opened.status(), st.st_mode & S_IFMT == S_IFREG, st.st_uid == 0 || st.st_uid == System.effectiveUserID,
                    let bytes = try? opened.readAll(limit: 1 << 20)
                {
                    lease = Lease.decode(bytes)
                }
                opened.close()
            }
            guard (try? folder.removeEntry(name)) != nil else { continue }
            if let lease { ended(lease, Int64(seen)) }
        }
    }

    /// What one lease file says. A lease file that is not a regular file, or that neither root
    /// nor this user owns, is ignored (and left). One that cannot be read or parsed holds
    /// everything while its pid (from its name) lives; a container's, named by its ID, holds
    /// everything until the wrapper's `delete` removes it.
    func examine(_ file: String) -> Examined {
        let shownPID = Self.pid(named: file)
        guard let opened = try? fd.openAt(file, O_RDONLY | O_NOFOLLOW | O_NONBLOCK) else { return .ignored }
        defer { opened.close() }
        guard let st = try? opened.status(), st.st_mode & S_IFMT == S_IFREG, st.st_uid == 0 || st.st_uid == System.effectiveUserID else {
            return .ignored
        }
        if let bytes = try? opened.readAll(limit: 1 << 20), let lease = Lease.decode(bytes) {
            return lease.isAlive ? .live(lease) : .finished(lease)
        }
        if let pid = shownPID, System.processStartTime(pid) == nil { return .finished(nil) }
        let unknown = Lease(
            workloadID: String(file.dropLast(".lease".count)), name: "(unreadable lease \(file))", pid: shownPID ?? 0,
            processStartTime: 0, startedAt: Int64(st.st_mtim.tv_sec) * 1_000_000_000, secrets: [], holdsEverything: true)
        return .live(unknown)
    }

    /// Removes leases of finished workloads, looking at no more than `limit` files from a
    /// random place in the directory each time: every `run` pays a bounded cost, and the
    /// directory stays near the number of live workloads (each run adds one lease and sweeps
    /// up to `limit`). A lease named by a pid that no longer exists is gone at once; others are
    /// read to compare the process's start time.
    func sweep(keeping own: String, limit: Int = 4) {
        let names = entries()
        guard names.count > 1 else { return }
        let start = Int(System.randomBytes(2).withUnsafeBytes { $0.load(as: UInt16.self) }) % names.count
        var looked = 0
        var index = start
        repeat {
            let file = names[index]
            index = (index + 1) % names.count
            guard file != own else { continue }
            // A rewrite that a kill -9 interrupted leaves `.<pid>.lease.new` behind.
            if file.hasUTF8Prefix("."), file.hasUTF8Suffix(".lease.new") {
                let named = String(file.utf8.dropFirst().dropLast(4))!
                if let pid = Self.pid(named: named), System.processIsGone(pid) { try? fd.removeEntry(file) }
                continue
            }
            guard file.hasUTF8Suffix(".lease"), !file.hasUTF8Prefix(".") else { continue }
            looked += 1
            if ended == nil, let pid = Self.pid(named: file), System.processIsGone(pid) {
                if setsEndedAside { setAside(file) } else { try? fd.removeEntry(file) }
                continue
            }
            if case .finished(let lease) = examine(file) { removeFinished(file, lease) }
        } while looked < limit && index != start
    }

    /// Drops the lease recorded under `file`.
    public func remove(file: String) { try? fd.removeEntry(file + ".lease") }

    func entries() -> [String] { fd.entries() }
}
