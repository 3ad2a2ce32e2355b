import CLinux
import Glibc

/// An owned file descriptor. Closed explicitly (`close()`), never implicitly, so an fd that
/// must survive into `exec` is not closed behind the caller's back.
public struct FileDescriptor: Sendable {
    public let rawValue: Int32

    public init(rawValue: Int32) { self.rawValue = rawValue }

    public static func open(
        _ path: String, _ flags: Int32, mode: mode_t = 0
    ) throws(SysError) -> FileDescriptor {
        FileDescriptor(rawValue: try sys("open", path) { path.withCString { Glibc.open($0, flags | O_CLOEXEC, mode) } })
    }

    /// `open`, or nil where the path (or a folder on it) does not exist.
    public static func openIfPresent(_ path: String, _ flags: Int32) throws(SysError) -> FileDescriptor? {
        do { return try open(path, flags) } catch {
            if error.errno == ENOENT || error.errno == ENOTDIR { return nil }
            throw error
        }
    }

    public func openAt(
        _ name: String, _ flags: Int32, mode: mode_t = 0
    ) throws(SysError) -> FileDescriptor {
        FileDescriptor(rawValue: try sys("open", name) { name.withCString { Glibc.openat(rawValue, $0, flags | O_CLOEXEC, mode) } })
    }

    /// pipe2(2), both ends close-on-exec and non-blocking: (read end, write end).
    public static func pipe() throws(SysError) -> (FileDescriptor, FileDescriptor) {
        var ends: [Int32] = [-1, -1]
        try sys("pipe") { cl_pipe_nonblocking(&ends) }
        return (FileDescriptor(rawValue: ends[0]), FileDescriptor(rawValue: ends[1]))
    }

    /// Best effort: a close that fails has still released the descriptor (Linux), so it is
    /// neither retried nor reported.
    public func close() { _ = try? sys("close", retryOnInterrupt: false) { Glibc.close(rawValue) } }

    /// Reads to end of file. More than `limit` bytes is an error (EFBIG): callers bound what
    /// they are willing to hold in memory.
    public func readAll(limit: Int, path: String? = nil) throws(SysError) -> [UInt8] {
        var bytes: [UInt8] = []
        // Small reads (a key, a /proc file) should not pay for a 64 KiB buffer.
        var chunk = [UInt8](repeating: 0, count: min(limit + 1, 65536))
        while true {
            let n = try sys("read", path) {
                chunk.withUnsafeMutableBytes { Glibc.read(rawValue, $0.baseAddress, $0.count) }
            }
            if n == 0 { break }
            if bytes.count + n > limit { throw SysError("read", path, errno: EFBIG) }
            bytes.append(contentsOf: chunk[0..<n])
        }
        chunk.withUnsafeMutableBytes { wipe($0) }
        return bytes
    }

    /// Reads up to `count` bytes straight into the array it returns (no second copy): from the
    /// current position, or with pread(2) from `offset`. Fewer bytes only at end of file.
    public func read(upTo count: Int, at offset: Int? = nil, path: String? = nil) throws(SysError) -> [UInt8] {
        var failure: SysError?
        let bytes = [UInt8](unsafeUninitializedCapacity: count) { buffer, done in
            done = 0
            do throws(SysError) {
                while done < count {
                    let n = try sys("read", path) {
                        let at = buffer.baseAddress! + done
                        if let offset { return pread(rawValue, at, count - done, off_t(offset + done)) }
                        return Glibc.read(rawValue, at, count - done)
                    }
                    if n == 0 { break }
                    done += n
                }
            } catch {
                failure = error
            }
        }
        if let failure { throw failure }
        return bytes
    }

    public func writeAll(_ bytes: [UInt8], path: String? = nil) throws(SysError) {
        var failure: SysError?
        bytes.withUnsafeBytes { buffer in
            do throws(SysError) { try writeAll(buffer, path: path) } catch { failure = error }
        }
        if let failure { throw failure }
    }

    /// Writes all of `buffer`, through short writes.
    public func writeAll(_ buffer: UnsafeRawBufferPointer, path: String? = nil) throws(SysError) {
        guard let base = buffer.baseAddress else { return }
        var offset = 0
        while offset < buffer.count {
            offset += try sys("write", path) { Glibc.write(rawValue, base + offset, buffer.count - offset) }
        }
    }

    /// Copies everything this file holds, from its start, to the end of `output`, a MiB at a
    /// time; how many bytes. `path` names the copy in errors.
    @discardableResult
    public func copyAll(to output: FileDescriptor, path: String? = nil) throws(SysError) -> Int {
        var offset = 0
        while true {
            let chunk = try read(upTo: 1 << 20, at: offset, path: path)
            if chunk.isEmpty { return offset }
            try output.writeAll(chunk, path: path)
            offset += chunk.count
        }
    }

    public func sync(path: String? = nil) throws(SysError) {
        try sys("fsync", path) { Glibc.fsync(rawValue) }
    }

    /// Flushes the whole file system this descriptor is on: one call for many files written.
    public func syncFileSystem(path: String? = nil) throws(SysError) {
        try sys("syncfs", path) { cl_sync_file_system(rawValue) }
    }

    public func changeOwner(uid: uid_t, gid: gid_t, path: String? = nil) throws(SysError) {
        // fchownat with AT_EMPTY_PATH also works on O_PATH descriptors (a mount's, from fsmount).
        try sys("chown", path) { Glibc.fchownat(rawValue, "", uid, gid, CL_AT_EMPTY_PATH) }
    }

    public func changeMode(_ mode: mode_t, path: String? = nil) throws(SysError) {
        try sys("chmod", path) { Glibc.fchmod(rawValue, mode) }
    }

    /// Throws unless this is a regular file: where a key, a record, a lease or a config is
    /// expected, a FIFO would block a read for ever and a device (/dev/zero) never end.
    public func requireRegularFile(path: String? = nil) throws(SysError) {
        guard try status(path: path).st_mode & S_IFMT == S_IFREG else {
            throw SysError("not a regular file (a FIFO, device, socket or folder):", path, errno: EINVAL)
        }
    }

    /// Names in this directory, without "." and "..", read through a second descriptor of it
    /// (fdopendir takes the one it is given).
    public func entries() -> [String] {
        guard let again = try? openAt(".", O_RDONLY | O_DIRECTORY) else { return [] }
        guard let dir = try? sys("read directory", nil, { fdopendir(again.rawValue) }) else {
            again.close()
            return []
        }
        defer { closedir(dir) }
        var names: [String] = []
        while let entry = readdir(dir) {
            let name = withUnsafeBytes(of: entry.pointee.d_name) { raw in
                String(cString: raw.bindMemory(to: CChar.self).baseAddress!)
            }
            if name != "." && name != ".." { names.append(name) }
        }
        return names
    }

    /// flock(2): `LOCK_SH` or `LOCK_EX`, waiting for it.
    public func lock(_ operation: Int32, path: String? = nil) throws(SysError) {
        try sys("lock", path) { flock(rawValue, operation) }
    }

    /// Releases a `lock`. Best effort: closing the descriptor releases it too.
    public func unlock() { _ = try? sys("unlock") { flock(rawValue, LOCK_UN) } }

    public func status(path: String? = nil) throws(SysError) -> stat {
        var st = stat()
        try sys("stat", path) { Glibc.fstat(rawValue, &st) }
        return st
    }
}

/// Overwrites memory that held a secret. `memset_explicit`-style: the compiler may not drop it.
public func wipe(_ buffer: UnsafeMutableRawBufferPointer) {
    guard let base = buffer.baseAddress, buffer.count > 0 else { return }
    Glibc.explicit_bzero(base, buffer.count)
}

public func wipe(_ bytes: inout [UInt8]) {
    bytes.withUnsafeMutableBytes { wipe($0) }
    bytes.removeAll()
}
