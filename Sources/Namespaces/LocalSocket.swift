import CLinux
import Glibc

/// Unix stream sockets on a path (unix(7)): the node agent's socket, which this node's
/// commands reach etcd through (`NodeAgent`, `EtcdClient`). Every descriptor is close-on-exec.
public enum LocalSocket {
    /// Listens at `path` (at most 107 bytes, the kernel's `sun_path`), replacing a socket a
    /// previous listener left there; the socket file is made with `mode` (umask set for the
    /// bind, so it is never wider, even for a moment). The descriptor is non-blocking, for
    /// `poll` and `accept`.
    public static func listen(at path: String, mode: mode_t, backlog: Int32 = 64) throws(SysError) -> FileDescriptor {
        var address = try socketAddress(path)
        if let st = try? Files.linkStatus(path), st.st_mode & S_IFMT == S_IFSOCK { try? Files.remove(path) }
        let fd = FileDescriptor(rawValue: try sys("socket", path) {
            socket(AF_UNIX, Int32(SOCK_STREAM.rawValue) | Int32(SOCK_CLOEXEC.rawValue) | Int32(SOCK_NONBLOCK.rawValue), 0)
        })
        do {
            let previous = umask(~mode & 0o777)
            defer { umask(previous) }
            try sys("bind", path) {
                withUnsafePointer(to: &address) {
                    $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { bind(fd.rawValue, $0, socklen_t(MemoryLayout<sockaddr_un>.size)) }
                }
            }
            try sys("listen", path) { Glibc.listen(fd.rawValue, backlog) }
            return fd
        } catch {
            fd.close()
            throw error
        }
    }

    /// A connection to the listener at `path`, blocking, every send and receive on it (the
    /// connect too, while the listener's queue is full) bounded to `seconds`.
    public static func connect(to path: String, timeout seconds: Int) throws(SysError) -> FileDescriptor {
        var address = try socketAddress(path)
        let fd = FileDescriptor(rawValue: try sys("socket", path) {
            socket(AF_UNIX, Int32(SOCK_STREAM.rawValue) | Int32(SOCK_CLOEXEC.rawValue), 0)
        })
        do {
            try setTimeouts(fd, seconds: seconds)
            try sys("connect", path) {
                withUnsafePointer(to: &address) {
                    $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { Glibc.connect(fd.rawValue, $0, socklen_t(MemoryLayout<sockaddr_un>.size)) }
                }
            }
            return fd
        } catch {
            fd.close()
            throw error
        }
    }

    /// The next waiting connection (non-blocking, close-on-exec), or nil if none is waiting.
    public static func accept(_ listener: FileDescriptor) throws(SysError) -> FileDescriptor? {
        let accepted = cl_accept_cloexec(listener.rawValue)
        if accepted >= 0 {
            let flags = (try? sys("fcntl") { fcntl(accepted, F_GETFL) }) ?? 0
            _ = try? sys("fcntl") { fcntl(accepted, F_SETFL, flags | O_NONBLOCK) }
            return FileDescriptor(rawValue: accepted)
        }
        let code = errno
        // The peer may have gone between poll and accept (ECONNABORTED).
        if code == EAGAIN || code == EWOULDBLOCK || code == EINTR || code == ECONNABORTED { return nil }
        throw SysError("accept", errno: code)
    }

    /// The user ID of the process at the other end, as the kernel recorded it at connect
    /// (SO_PEERCRED: it cannot be forged by the peer).
    public static func peerUserID(_ fd: FileDescriptor) throws(SysError) -> uid_t {
        var uid: uid_t = 0
        try sys("getsockopt SO_PEERCRED") { cl_peer_uid(fd.rawValue, &uid) }
        return uid
    }

    /// Bounds every blocking send and receive on `fd` to `seconds` (SO_SNDTIMEO, SO_RCVTIMEO):
    /// a peer that stops mid-frame costs at most that, then the call fails with EAGAIN.
    public static func setTimeouts(_ fd: FileDescriptor, seconds: Int) throws(SysError) {
        var limit = timeval(tv_sec: seconds, tv_usec: 0)
        for option in [SO_SNDTIMEO, SO_RCVTIMEO] {
            try sys("setsockopt") { setsockopt(fd.rawValue, SOL_SOCKET, option, &limit, socklen_t(MemoryLayout<timeval>.size)) }
        }
    }

    /// What a non-blocking socket holds now, at most `limit` bytes: nil at EOF (or a failed
    /// connection), empty when nothing is waiting.
    public static func receiveAvailable(_ fd: FileDescriptor, limit: Int) -> [UInt8]? {
        var bytes = [UInt8](repeating: 0, count: limit)
        do {
            let got = try sys("recv") { bytes.withUnsafeMutableBytes { recv(fd.rawValue, $0.baseAddress, limit, Int32(MSG_DONTWAIT)) } }
            return got == 0 ? nil : Array(bytes.prefix(got))
        } catch {
            return error.errno == EAGAIN || error.errno == EWOULDBLOCK ? [] : nil
        }
    }

    /// Sends all of `bytes` on a non-blocking socket within `milliseconds` in all (a peer that
    /// does not read cannot hold the sender longer); false if it could not.
    public static func sendAll(_ bytes: [UInt8], on fd: FileDescriptor, milliseconds: Int) -> Bool {
        var deadline = timespec()
        clock_gettime(CLOCK_MONOTONIC, &deadline)
        let end = Int(deadline.tv_sec) * 1000 + Int(deadline.tv_nsec) / 1_000_000 + milliseconds
        var sent = 0
        while sent < bytes.count {
            do {
                sent += try sys("send") {
                    bytes.withUnsafeBytes { send(fd.rawValue, $0.baseAddress! + sent, $0.count - sent, Int32(MSG_DONTWAIT | MSG_NOSIGNAL)) }
                }
                continue
            } catch {
                guard error.errno == EAGAIN || error.errno == EWOULDBLOCK else { return false }
            }
            var now = timespec()
            clock_gettime(CLOCK_MONOTONIC, &now)
            let left = end - (Int(now.tv_sec) * 1000 + Int(now.tv_nsec) / 1_000_000)
            guard left > 0 else { return false }
            var entry = pollfd(fd: fd.rawValue, events: Int16(POLLOUT), revents: 0)
            _ = try? sys("poll") { poll(&entry, 1, Int32(left)) }
        }
        return true
    }

    /// poll(2) for input on `fds` for at most `milliseconds`: which of them can be read (or
    /// were closed or failed at the other end), in the order given.
    public static func readable(_ fds: [FileDescriptor], milliseconds: Int32) throws(SysError) -> [FileDescriptor] {
        var entries = fds.map { pollfd(fd: $0.rawValue, events: Int16(POLLIN), revents: 0) }
        let ready = try sys("poll") { poll(&entries, nfds_t(entries.count), milliseconds) }
        guard ready > 0 else { return [] }
        return zip(fds, entries).filter { $0.1.revents != 0 }.map(\.0)
    }

    private static func socketAddress(_ path: String) throws(SysError) -> sockaddr_un {
        var address = sockaddr_un()
        address.sun_family = sa_family_t(AF_UNIX)
        let bytes = Array(path.utf8)
        let capacity = MemoryLayout.size(ofValue: address.sun_path)
        guard !bytes.isEmpty, bytes.count < capacity, !bytes.contains(0) else { throw SysError("socket address", path, errno: ENAMETOOLONG) }
        withUnsafeMutableBytes(of: &address.sun_path) { buffer in
            for (index, byte) in bytes.enumerated() { buffer[index] = byte }
        }
        return address
    }
}
