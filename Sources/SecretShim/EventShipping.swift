import EtcdStore
import Glibc
import Launcher
import Namespaces
import SecretStore

/// What `secretshim node` ships of this node's audit log (`EventLog`) to the etcd store: the
/// whole lines written since the last shipment, across a rotation. Where it got to is kept in
/// `<state dir>/events.shipped` ("DEVICE INODE OFFSET" of events.log), so a restarted agent
/// ships nothing twice and nothing is skipped.
final class EventShipping: NodeAgent.EventSource {
    let log: EventLog
    let positionFile: String
    /// Shipped up to here; `pending` reads ahead into `next`.
    var position: (device: UInt64, inode: UInt64, offset: Int)
    var next: (device: UInt64, inode: UInt64, offset: Int)?

    /// The node's name, added to each event's attributes as `node`.
    let node: String

    init(log: EventLog, stateDirectory: String, node: String) {
        self.log = log
        self.node = node
        positionFile = stateDirectory + "/events.shipped"
        let fields = ((try? Files.read(positionFile, limit: 128)).map { String(decoding: $0, as: UTF8.self) } ?? "").split(separator: " ")
        if fields.count == 3, let device = UInt64(fields[0]), let inode = UInt64(fields[1]), let offset = Int(fields[2]) {
            position = (device, inode, offset)
        } else {
            position = (0, 0, 0)
        }
    }

    func pending() -> [(time: Int64, line: [UInt8])] {
        var bytes: [UInt8] = []
        let current = open(EventLog.fileName)
        defer { current?.fd.close() }
        var reached = position
        if let current, current.device == position.device && current.inode == position.inode {
            bytes += read(current.fd, from: position.offset)
            reached.offset = position.offset + bytes.count
        } else {
            // Rotated since (or never shipped): the rest of the old file, if it is the one
            // shipped from, then the new one whole.
            if let rotated = open(EventLog.rotatedName) {
                if rotated.device == position.device && rotated.inode == position.inode { bytes += read(rotated.fd, from: position.offset) }
                rotated.fd.close()
            }
            if let current {
                let fresh = read(current.fd, from: 0)
                bytes += fresh
                reached = (current.device, current.inode, fresh.count)
            }
        }
        // Only whole lines: a line being written waits for the next round.
        guard let last = bytes.lastIndex(of: UInt8(ascii: "\n")) else {
            next = nil
            return []
        }
        reached.offset -= bytes.count - (last + 1)
        next = reached
        var found: [(time: Int64, line: [UInt8])] = []
        var start = 0
        while let end = bytes[start...].firstIndex(of: UInt8(ascii: "\n")) {
            if var event = AuditEvent.parse(bytes[start..<end]) {
                if event.attribute("node") == nil {
                    let index = event.keys.firstIndex { $0 > "node" } ?? event.keys.count
                    event.keys.insert("node", at: index)
                    event.values.insert(node, at: index)
                }
                found.append((event.timeNano, Array(event.line.dropLast())))
            }
            start = end + 1
        }
        return found
    }

    func shipped() {
        guard let next else { return }
        position = next
        let text = "\(next.device) \(next.inode) \(next.offset)"
        try? Files.replace(positionFile, with: Array(text.utf8), mode: 0o600, temporary: positionFile + ".new", durably: false)
    }

    func open(_ name: String) -> (fd: FileDescriptor, device: UInt64, inode: UInt64)? {
        guard let fd = try? FileDescriptor.open(log.directory + "/" + name, O_RDONLY | O_NOFOLLOW),
            let st = try? fd.status()
        else { return nil }
        return (fd, UInt64(st.st_dev), UInt64(st.st_ino))
    }

    func read(_ fd: FileDescriptor, from offset: Int) -> [UInt8] {
        var bytes: [UInt8] = []
        while bytes.count < 16 << 20, let chunk = try? fd.read(upTo: 1 << 16, at: offset + bytes.count), !chunk.isEmpty { bytes += chunk }
        return bytes
    }
}
