import Glibc

/// A user namespace's id mapping (`containerID`, `hostID`, `size` ranges, as the OCI spec and
/// /proc/PID/uid_map give them): which host id owns a file that the container should see as
/// owned by a given id. The runtime wrapper reads it from a bundle's config, `update` from a
/// running container's /proc.
public struct IDMapping: Sendable, Equatable {
    public struct Range: Sendable, Equatable {
        public var containerID: UInt32
        public var hostID: UInt32
        public var size: UInt32

        public init(containerID: UInt32, hostID: UInt32, size: UInt32) {
            self.containerID = containerID
            self.hostID = hostID
            self.size = size
        }
    }

    /// nil: no user namespace of its own, every id is itself.
    public var ranges: [Range]?

    public static let identity = IDMapping(ranges: nil)

    public init(ranges: [Range]?) { self.ranges = ranges }

    /// The mapping of `pid`'s user namespace as this process reads it, `kind` "uid" or "gid"
    /// (/proc/PID/uid_map: lines of "inside outside count").
    public static func of(pid: pid_t, _ kind: String) throws(SysError) -> IDMapping {
        let path = "/proc/\(pid)/\(kind)_map"
        let text = String(decoding: try Files.read(path, limit: 1 << 16), as: UTF8.self)
        var ranges: [Range] = []
        for line in text.split(separator: "\n") {
            let fields = line.split(separator: " ")
            guard fields.count == 3, let inside = UInt32(fields[0]), let outside = UInt32(fields[1]), let count = UInt32(fields[2]) else {
                throw SysError("read", path, errno: EINVAL)
            }
            ranges.append(Range(containerID: inside, hostID: outside, size: count))
        }
        return IDMapping(ranges: ranges)
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
