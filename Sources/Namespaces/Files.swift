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

    public static func exists(_ path: String) -> Bool { isAccessible(path, F_OK) }

    /// access(2): whether this process may reach `path` as `mode` (F_OK, X_OK, ...) asks.
    public static func isAccessible(_ path: String, _ mode: Int32) -> Bool {
        (try? sys("access", path) { path.withCString { access($0, mode) } }) != nil
    }

    /// stat(2): `path`'s status, a symbolic link there followed.
    public static func status(_ path: String) throws(SysError) -> stat {
        var st = stat()
        try sys("stat", path) { path.withCString { stat($0, &st) } }
        return st
    }

    /// lstat(2): `path`'s own status, a symbolic link's included.
    public static func linkStatus(_ path: String) throws(SysError) -> stat {
        var st = stat()
        try sys("stat", path) { path.withCString { lstat($0, &st) } }
        return st
    }

    /// realpath(3): the absolute path with every link and "." or ".." resolved.
    public static func realPath(_ path: String) throws(SysError) -> String {
        let real = try sys("resolve", path) { path.withCString { realpath($0, nil) } }
        defer { free(real) }
        return String(cString: real)
    }

    /// getcwd(3).
    public static func currentDirectory() throws(SysError) -> String {
        let cwd = try sys("getcwd") { getcwd(nil, 0) }
        defer { free(cwd) }
        return String(cString: cwd)
    }

    /// unlink(2).
    public static func remove(_ path: String) throws(SysError) {
        try sys("unlink", path) { path.withCString { unlink($0) } }
    }

    /// The bytes an unprivileged writer may still use on the file system holding `path`
    /// (statvfs(3)); nil if it cannot be asked.
    public static func availableBytes(_ path: String) -> UInt64? {
        var st = statvfs()
        guard (try? sys("statvfs", path) { statvfs(path, &st) }) != nil else { return nil }
        return UInt64(st.f_bavail) &* UInt64(st.f_frsize)
    }

    /// Removes the folder `path` if it is empty (rmdir(2)).
    public static func removeEmptyDirectory(_ path: String) throws(SysError) {
        try sys("rmdir", path) { Glibc.rmdir(path) }
    }

    /// rename(2): `path` replaces `target` whole, or nothing changes.
    public static func rename(_ path: String, to target: String) throws(SysError) {
        try sys("rename", target) { path.withCString { from in target.withCString { Glibc.rename(from, $0) } } }
    }

    /// link(2): a second name for the file at `path`.
    public static func link(_ path: String, as name: String) throws(SysError) {
        try sys("link", name) { path.withCString { from in name.withCString { Glibc.link(from, $0) } } }
    }

    /// mkdir(2).
    public static func makeDirectory(_ path: String, mode: mode_t) throws(SysError) {
        try sys("mkdir", path) { path.withCString { mkdir($0, mode) } }
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

    /// `mkdir -p`; the directories this call creates get `mode` (umask aside). Then every
    /// directory on the real path, found or made, must be this user's or root's, and, run as
    /// root, root's and writable by no one else unless sticky (`rootOwnedRealPath`'s rule): a
    /// folder that another user made between a caller's check and this call (a state dir under
    /// /tmp whose parents did not exist yet, a fresh-eyes finding) would let that user rename
    /// what is made in it and put their own in its place. Errors: the mkdir's, or EPERM naming
    /// the directory and its owner. `checkingExisting: false` skips the check when `path`
    /// exists already, for a caller that goes on through a descriptor of it and checks that
    /// one's owner and mode itself (`LeaseBook`: `run`'s path).
    public static func makeDirectories(_ path: String, mode: mode_t, checkingExisting: Bool = true) throws(SysError) {
        // Usually it exists, or only its last component is missing: one syscall.
        do { try makeDirectory(path, mode: mode) } catch where error.errno == EEXIST {
            if !checkingExisting { return }
        } catch {
            var prefix = path.hasUTF8Prefix("/") ? "" : "."
            for component in components(path) {
                prefix += "/"
                prefix += component
                do { try makeDirectory(prefix, mode: mode) } catch where error.errno == EEXIST {}
            }
        }
        try requireOwnDirectories(path)
    }

    static func requireOwnDirectories(_ path: String) throws(SysError) {
        let real = Array(try realPath(path.hasUTF8Prefix("/") ? path : try currentDirectory() + "/" + path).utf8)
        let root = System.effectiveUserID == 0
        var end = 1
        while true {
            let prefix = String(decoding: real[..<end], as: UTF8.self)
            let st = try linkStatus(prefix)
            guard st.st_mode & S_IFMT == S_IFDIR else { throw SysError("refusing \(prefix) (not a directory)", errno: ENOTDIR) }
            guard st.st_uid == 0 || (!root && st.st_uid == System.effectiveUserID) else {
                throw SysError("refusing \(prefix) (it belongs to uid \(st.st_uid), not \(root ? "root" : "you or root"))", errno: EPERM)
            }
            if root && st.st_mode & 0o022 != 0 && st.st_mode & S_ISVTX == 0 {
                throw SysError("refusing \(prefix) (writable by group or others, mode \(String(st.st_mode & 0o7777, radix: 8)))", errno: EPERM)
            }
            if end >= real.count { break }
            end += 1
            while end < real.count && real[end] != UInt8(ascii: "/") { end += 1 }
        }
    }

    /// Copies everything `source` holds into a new file `name` of the folder `folder` (exactly
    /// `mode`) that appears whole, flushed to disk, or not at all, and never replaces anything
    /// (EEXIST). Everything goes through the folder's descriptor, so a rename of the folder or
    /// of anything in it meanwhile cannot send the file elsewhere. The file is made unnamed
    /// (O_TMPFILE) and named last with linkat(2) through /proc/self/fd (open(2)'s own recipe).
    /// A file system without O_TMPFILE or hard links (NFS, vfat) gets a fresh
    /// `.secretshim-PID.partial` renamed in with RENAME_NOREPLACE instead; such leftovers of
    /// dead processes are removed first. `path` names the file in errors.
    public static func createWhole(_ name: String, in folder: FileDescriptor, path: String, mode: mode_t, copying source: FileDescriptor) throws(SysError) {
        // O_TMPFILE is (__O_TMPFILE | O_DIRECTORY), a macro Swift does not import.
        let temporaryFile: Int32 = 0o20000000 | O_DIRECTORY
        var partial: String?
        let output: FileDescriptor
        do {
            output = try folder.openAt(".", O_WRONLY | temporaryFile, mode: mode)
        } catch where [EOPNOTSUPP, EISDIR, EINVAL].contains(error.errno) {
            for entry in folder.entries() where entry.hasUTF8Prefix(".secretshim-") && entry.hasUTF8Suffix(".partial") {
                let digits = entry.dropFirst(".secretshim-".count).prefix { $0.isASCII && $0.isNumber }
                if let pid = pid_t(digits), pid != getpid(), kill(pid, 0) != 0, errno == ESRCH { try? folder.removeEntry(entry) }
            }
            let aside = ".secretshim-\(getpid()).partial"
            try? folder.removeEntry(aside)
            output = try folder.openAt(aside, O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW, mode: mode)
            partial = aside
        }
        defer {
            output.close()
            if let partial { try? folder.removeEntry(partial) }
        }
        try source.copyAll(to: output, path: path)
        try output.changeMode(mode, path: path)
        try output.sync(path: path)
        if let aside = partial {
            // Whoever owns the folder may have put another file at the partial name meanwhile.
            let written = try output.status(path: path)
            let named = try folder.statusAt(aside, path: path)
            guard written.st_ino == named.st_ino, written.st_dev == named.st_dev else {
                throw SysError("another file was put in its place while it was written", path, errno: EBUSY)
            }
            try folder.renameNoReplace(aside, to: name, path: path)
            partial = nil
        } else {
            try sys("link", path) { linkat(AT_FDCWD, "/proc/self/fd/\(output.rawValue)", folder.rawValue, name, AT_SYMLINK_FOLLOW) }
        }
        try? folder.sync()
    }

    /// Creates `path` with `bytes` only if it does not exist yet. The content is complete before
    /// the name appears (written aside, then `link`ed), so concurrent creators agree on one
    /// winner and no reader ever sees a half-written file. Returns false if it already existed.
    public static func createExclusively(
        _ path: String, _ bytes: [UInt8], mode: mode_t
    ) throws(SysError) -> Bool {
        let temporary = path + ".new-\(getpid())"
        try writeAside(temporary, bytes, mode: mode, durably: true)
        defer { try? remove(temporary) }
        do { try link(temporary, as: path) } catch where error.errno == EEXIST { return false }
        syncDirectory(of: path)
        return true
    }

    /// Replaces `path` whole with `bytes`, written first under `temporary` (in the same
    /// directory) and then renamed over it: a reader sees the old file or the new one, never
    /// part of one. `durably`: on disk, file and name, before this returns.
    public static func replace(
        _ path: String, with bytes: [UInt8], mode: mode_t, temporary: String, durably: Bool
    ) throws(SysError) {
        try writeAside(temporary, bytes, mode: mode, durably: durably)
        do { try rename(temporary, to: path) } catch {
            try? remove(temporary)
            throw error
        }
        if durably { syncDirectory(of: path) }
    }

    /// Writes `bytes` to a fresh `temporary` (a leftover of an earlier crash is replaced), with
    /// exactly `mode`; removed again if anything fails.
    static func writeAside(_ temporary: String, _ bytes: [UInt8], mode: mode_t, durably: Bool) throws(SysError) {
        try? remove(temporary)
        let fd = try FileDescriptor.open(temporary, O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW, mode: mode)
        do {
            try fd.writeAll(bytes, path: temporary)
            try fd.changeMode(mode, path: temporary)
            if durably { try fd.sync(path: temporary) }
            fd.close()
        } catch {
            fd.close()
            try? remove(temporary)
            throw error
        }
    }

    /// Flushes the folder holding `path` (a name made, renamed or removed there), best effort.
    public static func syncDirectory(of path: String) {
        guard let fd = try? FileDescriptor.open(parent(of: path), O_RDONLY | O_DIRECTORY) else { return }
        try? fd.sync()
        fd.close()
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
