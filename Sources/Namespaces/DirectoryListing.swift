import CLinux
import Glibc

/// One directory's entries, read whole through its descriptor (getdents64) and sorted by their
/// name's bytes, held compactly: names are bytes (a name need not be UTF-8, and must reach
/// `openat` unchanged), stored NUL-terminated in one array, so a folder of a million files
/// costs tens of megabytes, not a String and an allocation each.
public struct DirectoryListing {
    public enum Kind: UInt8 { case unknown, directory, regular, symbolicLink, other }

    private var names: [UInt8] = []
    private var starts: [Int] = []
    private var kinds: [Kind] = []

    public var count: Int { starts.count }

    /// Reads every entry but "." and ".." of the directory open at `fd` (its offset moves to
    /// the end). Errors are getdents64's (EACCES, EIO), with `path` in them.
    public init(reading fd: FileDescriptor, path: String?) throws(SysError) {
        let size = 1 << 16
        let buffer = UnsafeMutableRawPointer.allocate(byteCount: size, alignment: 8)
        defer { buffer.deallocate() }
        var unsortedStarts: [Int] = []
        var unsortedKinds: [Kind] = []
        while true {
            let n = try sys("read directory", path) { cl_getdents64(fd.rawValue, buffer, size) }
            if n == 0 { break }
            var at = 0
            while at < n {
                // struct linux_dirent64: u64 d_ino, s64 d_off, u16 d_reclen, u8 d_type, char d_name[].
                let record = buffer + at
                let length = Int(record.loadUnaligned(fromByteOffset: 16, as: UInt16.self))
                let type = record.load(fromByteOffset: 18, as: UInt8.self)
                let name = (record + 19).assumingMemoryBound(to: UInt8.self)
                let nameLength = strlen(UnsafeRawPointer(name).assumingMemoryBound(to: CChar.self))
                at += length
                if nameLength == 1 && name[0] == UInt8(ascii: ".") { continue }
                if nameLength == 2 && name[0] == UInt8(ascii: ".") && name[1] == UInt8(ascii: ".") { continue }
                unsortedStarts.append(names.count)
                names.append(contentsOf: UnsafeBufferPointer(start: name, count: nameLength))
                names.append(0)
                switch Int32(type) {
                case Int32(DT_DIR): unsortedKinds.append(.directory)
                case Int32(DT_REG): unsortedKinds.append(.regular)
                case Int32(DT_LNK): unsortedKinds.append(.symbolicLink)
                case Int32(DT_UNKNOWN): unsortedKinds.append(.unknown)
                default: unsortedKinds.append(.other)
                }
            }
        }
        let order = names.withUnsafeBufferPointer { bytes in
            unsortedStarts.indices.sorted { a, b in
                strcmp(UnsafeRawPointer(bytes.baseAddress! + unsortedStarts[a]).assumingMemoryBound(to: CChar.self),
                       UnsafeRawPointer(bytes.baseAddress! + unsortedStarts[b]).assumingMemoryBound(to: CChar.self)) < 0
            }
        }
        starts = order.map { unsortedStarts[$0] }
        kinds = order.map { unsortedKinds[$0] }
    }

    /// The entry's type as the directory reports it (`unknown` on file systems that do not).
    public func kind(_ index: Int) -> Kind { kinds[index] }

    /// The entry's name, NUL-terminated, for `openat`; valid only inside `body`.
    public func withName<R, E: Error>(_ index: Int, _ body: (UnsafePointer<CChar>) throws(E) -> R) throws(E) -> R {
        try names.withUnsafeBufferPointer { (bytes) throws(E) -> R in
            try body(UnsafeRawPointer(bytes.baseAddress! + starts[index]).assumingMemoryBound(to: CChar.self))
        }
    }

    /// The entry's name as bytes.
    public func name(_ index: Int) -> ArraySlice<UInt8> {
        let start = starts[index]
        var end = start
        while names[end] != 0 { end += 1 }
        return names[start..<end]
    }
}

extension FileDescriptor {
    /// Whether /proc/self/fd can reopen an O_PATH descriptor (it cannot where /proc is not mounted).
    private static let procFileDescriptors = Files.exists("/proc/self/fd")

    /// Opens `name` in this directory (not following a symbolic link) for reading, only if it
    /// is a regular file; otherwise nil, with the file's status either way. The file is
    /// looked at through an `O_PATH` descriptor and reopened through /proc/self/fd: a device
    /// node renamed into its place in between is never opened (opening one can act: a
    /// watchdog starts its timer), and a FIFO never blocks.
    public func openRegularFile(at name: UnsafePointer<CChar>, path: String?) throws(SysError) -> (FileDescriptor?, stat) {
        try Self.openRegularFile(in: rawValue, name, follow: false, path: path)
    }

    /// `openRegularFile(at:)` for a path given whole, following a link there (as a command
    /// line's path is followed).
    public static func openRegularFile(atPath path: String) throws(SysError) -> (FileDescriptor?, stat) {
        // withCString rethrows untyped: the error comes back as a Result.
        try path.withCString { name in Result { () throws(SysError) in try openRegularFile(in: AT_FDCWD, name, follow: true, path: path) } }.get()
    }

    private static func openRegularFile(in directory: Int32, _ name: UnsafePointer<CChar>, follow: Bool, path: String?) throws(SysError) -> (FileDescriptor?, stat) {
        let handle = FileDescriptor(rawValue: try sys("open", path) {
            Glibc.openat(directory, name, CL_O_PATH | (follow ? 0 : O_NOFOLLOW) | O_CLOEXEC)
        })
        defer { handle.close() }
        let st = try handle.status(path: path)
        guard st.st_mode & S_IFMT == S_IFREG else { return (nil, st) }
        if Self.procFileDescriptors {
            let fd = try sys("open", path) {
                ContainedRoot.procPath(handle).withCString { Glibc.open($0, O_RDONLY | O_NOCTTY | O_NONBLOCK | O_CLOEXEC) }
            }
            return (FileDescriptor(rawValue: fd), st)
        }
        // Without /proc (a minimal container): opened by name, and read only if it is still
        // the regular file looked at.
        let fd = FileDescriptor(rawValue: try sys("open", path) {
            Glibc.openat(directory, name, O_RDONLY | O_NOFOLLOW | O_NOCTTY | O_NONBLOCK | O_CLOEXEC)
        })
        guard let again = try? fd.status(), again.st_dev == st.st_dev, again.st_ino == st.st_ino else {
            fd.close()
            throw SysError("open", path, errno: ESTALE)
        }
        return (fd, st)
    }
}

extension FileDescriptor {
    /// Opens the directory `name` in this one, not following a symbolic link in its place.
    public func openDirectory(at name: UnsafePointer<CChar>, path: String?) throws(SysError) -> FileDescriptor {
        FileDescriptor(rawValue: try sys("open", path) { Glibc.openat(rawValue, name, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC) })
    }

    /// `name`'s status in this directory, a symbolic link's own (fstatat, AT_SYMLINK_NOFOLLOW).
    public func status(at name: UnsafePointer<CChar>, path: String?) throws(SysError) -> stat {
        var st = stat()
        try sys("stat", path) { Glibc.fstatat(rawValue, name, &st, AT_SYMLINK_NOFOLLOW) }
        return st
    }

    /// The target of the symbolic link `name` in this directory, as bytes.
    public func linkTarget(at name: UnsafePointer<CChar>, path: String?) throws(SysError) -> [UInt8] {
        var target = [UInt8](repeating: 0, count: Int(PATH_MAX))
        let count = try target.withUnsafeMutableBytes { raw in
            Result { () throws(SysError) -> Int in
                try sys("readlink", path) { Glibc.readlinkat(rawValue, name, raw.baseAddress!.assumingMemoryBound(to: CChar.self), raw.count) }
            }
        }.get()
        return Array(target[0..<count])
    }

    /// The values of this file's extended attributes (at most 64 KiB each, as the kernel
    /// allows); none where the file system has none or refuses to list them.
    public func attributeValues() -> [[UInt8]] {
        var names = [CChar](repeating: 0, count: 65536)
        guard let length = try? sys("listxattr", nil, { cl_flistxattr(rawValue, &names, names.count) }), length > 0 else { return [] }
        var values: [[UInt8]] = []
        var value = [UInt8](repeating: 0, count: 65536)
        var start = 0
        while start < length {
            let count = names.withUnsafeBufferPointer { buffer in
                value.withUnsafeMutableBytes { raw in
                    (try? sys("getxattr") { cl_fgetxattr(rawValue, buffer.baseAddress! + start, raw.baseAddress, raw.count) }) ?? -1
                }
            }
            if count > 0 { values.append(Array(value[0..<count])) }
            while start < length && names[start] != 0 { start += 1 }
            start += 1
        }
        return values
    }

    /// One read(2) into `buffer`: the count, 0 at the end.
    public func read(into buffer: UnsafeMutableRawBufferPointer, path: String?) throws(SysError) -> Int {
        try sys("read", path) { Glibc.read(rawValue, buffer.baseAddress, buffer.count) }
    }

    /// Moves the offset back to the file's start.
    public func rewind(path: String?) throws(SysError) {
        try sys("seek", path) { Glibc.lseek(rawValue, 0, SEEK_SET) }
    }
}
