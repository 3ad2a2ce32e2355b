import Glibc
import JSON
import Namespaces
import SecretStore

/// One audit event in Docker's shape (`docker events --format '{{json .}}'`, its
/// api/types/events.Message): `Type`, `Action`, `Actor {ID, Attributes}`, `scope`, `time`
/// (Unix seconds) and `timeNano`. Attributes name secrets, their IDs, the workload, its pid,
/// uid and node: never a value.
public struct AuditEvent: Sendable, Equatable {
    /// `secret` (create, remove, refuse) or `workload` (grant, revoke, refuse).
    public var type: String
    /// create, remove, grant, revoke, refuse.
    public var action: String
    /// The secret's ID, or the workload's (a `ps` ID or a container ID).
    public var id: String
    /// The Actor's attributes, sorted by key as Docker prints them (the builders below give
    /// them so): `keys[i]` is `values[i]`'s. Two arrays of String, not an array of pairs: an
    /// array of any other element type has its metadata made at run time by mangled name,
    /// which `run` pays for (bench/budget).
    public var keys: [String]
    public var values: [String]
    public var timeNano: Int64

    public init(type: String, action: String, id: String, keys: [String], values: [String], timeNano: Int64 = System.nowNanoseconds()) {
        self.type = type
        self.action = action
        self.id = id
        self.keys = keys
        self.values = values
        self.timeNano = timeNano
    }

    /// The value of attribute `key`, if there is one.
    public func attribute(_ key: String) -> String? {
        keys.firstIndex(of: key).map { values[$0] }
    }

    /// The event as one JSON line (its newline included), written byte by byte in Docker's
    /// key order, its strings escaped by `JSONEscaping`: `run` writes one on its way to the
    /// workload, where a JSON document's dictionaries would cost (bench/budget).
    public var line: [UInt8] {
        var out: [UInt8] = []
        out.reserveCapacity(256)
        func literal(_ text: StaticString) {
            text.withUTF8Buffer { out.append(contentsOf: $0) }
        }
        func string(_ text: String) {
            out.append(UInt8(ascii: "\""))
            var text = text
            text.withUTF8 { JSONEscaping.append($0, .plain, to: &out) }
            out.append(UInt8(ascii: "\""))
        }
        literal("{\"Type\":")
        string(type)
        literal(",\"Action\":")
        string(action)
        literal(",\"Actor\":{\"ID\":")
        string(id)
        literal(",\"Attributes\":{")
        for index in keys.indices {
            if index > 0 { out.append(UInt8(ascii: ",")) }
            string(keys[index])
            out.append(UInt8(ascii: ":"))
            string(values[index])
        }
        literal("}},\"scope\":\"local\",\"time\":")
        ASCIIDecimal.append(UInt64(max(0, timeNano) / 1_000_000_000), to: &out)
        literal(",\"timeNano\":")
        ASCIIDecimal.append(UInt64(max(0, timeNano)), to: &out)
        literal("}\n")
        return out
    }

    /// Reads one line as `line` writes it; nil for anything else (a line a crash cut short).
    public static func parse(_ bytes: ArraySlice<UInt8>) -> AuditEvent? {
        guard let document = try? JSONValue.parse(Array(bytes)), let type = document.field("Type")?.stringValue,
            let action = document.field("Action")?.stringValue, let actor = document.field("Actor"),
            let id = actor.field("ID")?.stringValue, let nano = document.field("timeNano")?.unsignedValue, nano <= UInt64(Int64.max)
        else { return nil }
        var pairs: [(key: String, value: String)] = []
        if case .object(let members)? = actor.field("Attributes") {
            for (key, value) in members { pairs.append((key, value.stringValue ?? "")) }
        }
        pairs.sort { $0.key < $1.key }
        return AuditEvent(type: type, action: action, id: id, keys: pairs.map(\.key), values: pairs.map(\.value), timeNano: Int64(nano))
    }
}

/// The audit log: `<store root>/events.log`, owner-only, one JSON line per event, appended with
/// a single write(2) each under O_APPEND, so concurrent writers never interleave and a crash
/// never leaves half a line (a reader skips any line it cannot parse). Past `limit` bytes it is
/// renamed to `events.log.1` (the one older file kept; the one before is dropped) under an
/// exclusive lock, so the log holds at most about twice `limit`. Writing is best effort: an
/// event that cannot be written never stops the command (Docker's events behave the same).
public struct EventLog: Sendable {
    public let directory: String
    /// Bytes before rotation: SECRETSHIM_EVENTS_LIMIT (at least 4096), else 8 MiB. Read only
    /// once the log is past 4096 bytes: `run` writes an event, and a look through the
    /// environment is not free (bench/budget).
    public var limit: Int {
        if let raw = getenv("SECRETSHIM_EVENTS_LIMIT"), let value = Int(String(cString: raw)) { return max(4096, value) }
        return 8 << 20
    }

    public static let fileName = "events.log"
    public static let rotatedName = "events.log.1"

    /// Whether a missing root folder is made (0700) for the log: for an etcd store, whose
    /// local root may hold nothing else yet; never for the local store, where a missing root
    /// means no store (a command that only reads must not make one).
    public let makesFolder: Bool

    /// The log of the store at `location`.
    public static func of(_ location: StoreLocation) -> EventLog {
        EventLog(root: location.root, makingFolder: location.isRemote)
    }

    public init(root: String, makingFolder: Bool = false) {
        directory = root
        makesFolder = makingFolder
    }

    public func append(_ event: AuditEvent) {
        guard let folder = openFolder() else { return }
        defer { folder.close() }
        append(event, in: folder)
    }

    /// The log's folder, opened (O_PATH) for `append(_:in:)`: what a command that enters
    /// another mount namespace (`update`) opens first.
    public func openFolder() -> FileDescriptor? {
        if let folder = try? FileDescriptor.open(directory, FileDescriptor.pathOnly | O_DIRECTORY) { return folder }
        // An etcd store's root may hold nothing yet (its key and state dir set elsewhere).
        guard makesFolder, (try? Files.makeDirectories(directory, mode: 0o700)) != nil else { return nil }
        return try? FileDescriptor.open(directory, FileDescriptor.pathOnly | O_DIRECTORY)
    }

    public func append(_ event: AuditEvent, in folder: FileDescriptor) {
        let line = event.line
        // One fstat per open: its size decides the rotation and the torn-line check.
        guard var (log, st) = open(in: folder) else { return }
        defer { log.close() }
        if Int(st.st_size) + line.count > 4096, Int(st.st_size) + line.count > limit {
            // Whoever rotates holds the lock; the others' next open finds the new file.
            if (try? log.lock(LOCK_EX)) != nil {
                // Still the file of that name (another writer may have rotated it meanwhile).
                if let named = try? folder.statusAt(Self.fileName), st.st_ino == named.st_ino, st.st_dev == named.st_dev {
                    try? folder.rename(Self.fileName, to: Self.rotatedName)
                }
                log.unlock()
                log.close()
                guard let fresh = open(in: folder) else { return }
                (log, st) = fresh
            }
        }
        // A line a power loss cut short gets its end first, so this one stays whole.
        var bytes = line
        if st.st_size > 0, let last = try? log.read(upTo: 1, at: Int(st.st_size) - 1), last != [UInt8(ascii: "\n")] {
            bytes.insert(UInt8(ascii: "\n"), at: 0)
        }
        try? log.writeAll(bytes, path: directory + "/" + Self.fileName)
    }

    /// The log file, created owner-only, and its status; refused if it is not a regular file
    /// of this user (nothing is written through a link or into a file planted by someone else).
    func open(in folder: FileDescriptor) -> (FileDescriptor, stat)? {
        guard let log = try? folder.openAt(Self.fileName, O_RDWR | O_APPEND | O_CREAT | O_NOFOLLOW | O_NONBLOCK, mode: 0o600) else {
            return nil
        }
        guard let st = try? log.status(), st.st_mode & S_IFMT == S_IFREG, st.st_uid == System.effectiveUserID else {
            log.close()
            return nil
        }
        return (log, st)
    }

    /// Every event kept, oldest first (by time: a workload's `revoke` is written by the next
    /// command after `run` saw it end, with that moment's time), the rotated file's and the
    /// current one's.
    public func read() -> [AuditEvent] {
        let readLimit = limit * 2 + (1 << 20)
        var events: [AuditEvent] = []
        for name in [Self.rotatedName, Self.fileName] {
            let bytes = (try? Files.read(directory + "/" + name, limit: readLimit)) ?? []
            events += Self.events(in: bytes[...])
        }
        // Stable: events of one moment keep the order they were written in.
        return events.enumerated().sorted { ($0.element.timeNano, $0.offset) < ($1.element.timeNano, $1.offset) }.map(\.element)
    }

    /// The whole lines of `bytes` that are events (a last line without its newline is not one
    /// yet: its writer may still be writing, or a crash cut it).
    public static func events(in bytes: ArraySlice<UInt8>) -> [AuditEvent] {
        var events: [AuditEvent] = []
        var start = bytes.startIndex
        while let end = bytes[start...].firstIndex(of: UInt8(ascii: "\n")) {
            if let event = AuditEvent.parse(bytes[start..<end]) { events.append(event) }
            start = end + 1
        }
        return events
    }
}

extension AuditEvent {
    /// A secret's `create`, `remove` or `refuse` (`reason` then says why).
    public static func secret(_ action: String, id: String, name: String, reason: String? = nil) -> AuditEvent {
        var keys = ["name"], values = [name]
        if let reason {
            keys.append("reason")
            values.append(reason)
        }
        return AuditEvent(type: "secret", action: action, id: id, keys: keys, values: values)
    }

    /// A workload's `grant` or `revoke` of `secrets` (names and IDs, never values), with its
    /// name, pid and uid; its attributes in key order.
    public static func workload(
        _ action: String, id: String, name: String, pid: pid_t, uid: uid_t? = nil, secrets: [Lease.Held], reason: String? = nil
    ) -> AuditEvent {
        var names = "", ids = ""
        for (index, secret) in secrets.enumerated() {
            if index > 0 {
                names += ","
                ids += ","
            }
            names += secret.name
            ids += secret.id
        }
        var keys = ["name", "pid"], values = [name, ASCIIDecimal.string(UInt64(max(0, pid)))]
        if let reason {
            keys.append("reason")
            values.append(reason)
        }
        keys += ["secretIDs", "secrets"]
        values += [ids, names]
        if let uid {
            keys.append("uid")
            values.append(ASCIIDecimal.string(UInt64(uid)))
        }
        return AuditEvent(type: "workload", action: action, id: id, keys: keys, values: values)
    }
}

extension EventLog {
    /// What `LeaseBook.ended` does: the finished workload's `revoke` of everything it held.
    public static func revoking(_ location: StoreLocation) -> @Sendable (Lease, Int64) -> Void {
        let root = location.root, makingFolder = location.isRemote
        return
        { lease, seen in
            var event = AuditEvent.workload(
                "revoke", id: lease.workloadID, name: lease.name, pid: lease.pid, secrets: lease.secrets, reason: "workload ended")
            event.timeNano = seen
            EventLog(root: root, makingFolder: makingFolder).append(event)
        }
    }
}
