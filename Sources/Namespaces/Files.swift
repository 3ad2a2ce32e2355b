import CLinux
import Glibc

extension String {
    /// The text of a C buffer up to its first NUL (or all of it), decoded as UTF-8.
    public init(nulTerminated buffer: [CChar]) {
        let length = buffer.firstIndex(of: 0) ?? buffer.count
        self.init(decoding: buffer[..<length].map { UInt8(bitPattern: $0) }, as: UTF8.self)
    }
}

/// File-system helpers for the store and the state dir: whole-file reads, exclusive durable
/// creation, directory creation with a given mode.
public enum Files {
    /// A whole regular file of at most `limit` bytes (EFBIG past it). Opened O_NONBLOCK, so a
    /// FIFO put in its place is refused at once instead of blocking.
    public static func read(_ path: String, limit: Int) throws(SysError) -> [UInt8] {
        let fd = try FileDescriptor.open(path, O_RDONLY | O_NONBLOCK | O_NOCTTY)
        defer { fd.close() }
        try fd.requireRegularFile(path: path)
        return try fd.readAll(limit: limit, path: path)
    }

    public static func exists(_ path: String) -> Bool { access(path, F_OK) == 0 }

    /// What `rootOwnedRealPath` found.
    public enum RootOwnership: Equatable {
        /// The real path (missing components appended).
        case trusted(String)
        case unresolved(SysError)
        case notADirectory(String)
        case ownedBy(String, uid: uid_t)
        case writableByOthers(String, mode: mode_t)
    }

    /// The real path of the absolute `path` (of its deepest existing ancestor, the rest
    /// appended), and whether every existing directory on it is root's and writable by no one
    /// else (sticky ones aside): `cl_trusted_path`.
    public static func rootOwnedRealPath(_ path: String) -> RootOwnership {
        var out = [CChar](repeating: 0, count: Int(PATH_MAX) + 1)
        var bad = [CChar](repeating: 0, count: Int(PATH_MAX) + 1)
        var uid: UInt32 = 0, mode: UInt32 = 0
        let status = path.withCString { cl_trusted_path($0, &out, out.count, &bad, bad.count, &uid, &mode) }
        if status == 0 { return .trusted(String(nulTerminated: out)) }
        if status != -2 { return .unresolved(SysError("resolve", path, errno: errno)) }
        let directory = String(nulTerminated: bad)
        if mode & UInt32(S_IFMT) != UInt32(S_IFDIR) { return .notADirectory(directory) }
        if uid != 0 { return .ownedBy(directory, uid: uid) }
        return .writableByOthers(directory, mode: mode)
    }

    /// The non-empty components of a path, split on "/" byte by byte, as the kernel splits it.
    public static func components(_ path: String) -> [String] {
        var components: [String] = []
        var current: [UInt8] = []
        for byte in path.utf8 {
            if byte == UInt8(ascii: "/") {
                if !current.isEmpty { components.append(String(decoding: current, as: UTF8.self)) }
                current.removeAll(keepingCapacity: true)
            } else {
                current.append(byte)
            }
        }
        if !current.isEmpty { components.append(String(decoding: current, as: UTF8.self)) }
        return components
    }

    /// `mkdir -p`; the directories this call creates get `mode` (umask aside).
    public static func makeDirectories(_ path: String, mode: mode_t) throws(SysError) {
        // Usually it exists, or only its last component is missing: one syscall.
        if path.withCString({ mkdir($0, mode) }) == 0 || errno == EEXIST { return }
        var prefix = path.hasUTF8Prefix("/") ? "" : "."
        for component in components(path) {
            prefix += "/"
            prefix += component
            if mkdir(prefix, mode) == 0 { continue }
            let code = errno
            if code == EEXIST { continue }
            throw SysError("mkdir", prefix, errno: code)
        }
    }

    /// Creates `path` with `bytes` only if it does not exist yet. The content is complete before
    /// the name appears (written aside, then `link`ed), so concurrent creators agree on one
    /// winner and no reader ever sees a half-written file. Returns false if it already existed.
    public static func createExclusively(
        _ path: String, _ bytes: [UInt8], mode: mode_t
    ) throws(SysError) -> Bool {
        let temporary = path + ".new-\(getpid())"
        try writeAside(temporary, bytes, mode: mode, durably: true)
        defer { unlink(temporary) }
        if link(temporary, path) == 0 {
            syncDirectory(of: path)
            return true
        }
        let code = errno
        if code == EEXIST { return false }
        throw SysError("link", path, errno: code)
    }

    /// Replaces `path` whole with `bytes`, written first under `temporary` (in the same
    /// directory) and then renamed over it: a reader sees the old file or the new one, never
    /// part of one. `durably`: on disk, file and name, before this returns.
    public static func replace(
        _ path: String, with bytes: [UInt8], mode: mode_t, temporary: String, durably: Bool
    ) throws(SysError) {
        try writeAside(temporary, bytes, mode: mode, durably: durably)
        if rename(temporary, path) != 0 {
            let code = errno
            unlink(temporary)
            throw SysError("rename", path, errno: code)
        }
        if durably { syncDirectory(of: path) }
    }

    /// Writes `bytes` to a fresh `temporary` (a leftover of an earlier crash is replaced), with
    /// exactly `mode`; removed again if anything fails.
    static func writeAside(_ temporary: String, _ bytes: [UInt8], mode: mode_t, durably: Bool) throws(SysError) {
        unlink(temporary)
        let fd = try FileDescriptor.open(temporary, O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW, mode: mode)
        do {
            try fd.writeAll(bytes, path: temporary)
            try fd.changeMode(mode, path: temporary)
            if durably { try fd.sync(path: temporary) }
            fd.close()
        } catch {
            fd.close()
            unlink(temporary)
            throw error
        }
    }

    static func syncDirectory(of path: String) {
        let directory = parent(of: path)
        let fd = Glibc.open(directory, O_RDONLY | O_DIRECTORY | O_CLOEXEC)
        if fd >= 0 {
            fsync(fd)
            Glibc.close(fd)
        }
    }

    public static func parent(of path: String) -> String {
        guard let slash = path.lastIndex(of: "/") else { return "." }
        if slash == path.startIndex { return "/" }
        return String(path[..<slash])
    }

    /// Names in a directory, without "." and "..". A missing directory is empty.
    public static func list(_ directory: String) -> [String] {
        guard let fd = try? FileDescriptor.open(directory, O_RDONLY | O_DIRECTORY) else { return [] }
        defer { fd.close() }
        return fd.entries()
    }
}
