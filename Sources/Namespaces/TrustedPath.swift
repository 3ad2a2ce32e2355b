import Glibc

/// Whether a path is root's alone: the store, key and state paths when run as root.
extension Files {
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
    /// else (sticky ones aside, as /tmp: others cannot rename what root owns there).
    public static func rootOwnedRealPath(_ path: String) -> RootOwnership {
        let bytes = Array(path.utf8)
        guard !bytes.isEmpty, bytes.count < Int(PATH_MAX), bytes[0] == UInt8(ascii: "/") else {
            return .unresolved(SysError("resolve", path, errno: EINVAL))
        }
        // The deepest ancestor that exists: components dropped from the end until one resolves.
        var existing = bytes[...]
        var real: [UInt8] = []
        while true {
            do {
                real = Array(try realPath(String(decoding: existing, as: UTF8.self)).utf8)
                break
            } catch {
                guard error.errno == ENOENT, existing.count > 1 else {
                    return .unresolved(SysError("resolve", path, errno: error.errno))
                }
                let slash = existing.lastIndex(of: UInt8(ascii: "/"))!
                existing = slash == existing.startIndex ? existing.prefix(1) : existing[..<slash]
            }
        }
        // Each directory on the real path, from "/" down.
        var end = 1
        while true {
            let prefix = String(decoding: real[..<end], as: UTF8.self)
            let st: stat
            do { st = try linkStatus(prefix) } catch { return .unresolved(SysError("resolve", path, errno: error.errno)) }
            let othersWrite = st.st_mode & 0o022 != 0 && st.st_mode & S_ISVTX == 0
            if st.st_mode & S_IFMT != S_IFDIR { return .notADirectory(prefix) }
            if st.st_uid != 0 { return .ownedBy(prefix, uid: st.st_uid) }
            if othersWrite { return .writableByOthers(prefix, mode: st.st_mode) }
            if end >= real.count { break }
            end += 1
            while end < real.count && real[end] != UInt8(ascii: "/") { end += 1 }
        }
        // The real path, then what of `path` did not exist yet. That part is appended as it is
        // and made later, folder by folder: a `..` in it would climb out of the directories
        // checked here (`/root-owned/missing/../../home/someone/store`), so it is refused, and
        // `.` with it.
        let tail = bytes[existing.count...]
        if hasDotComponent(tail) { return .unresolved(SysError("resolve", path, errno: EINVAL)) }
        if real == [UInt8(ascii: "/")] && tail.first == UInt8(ascii: "/") { real = [] }
        guard real.count + tail.count <= Int(PATH_MAX) else {
            return .unresolved(SysError("resolve", path, errno: ENAMETOOLONG))
        }
        real += tail
        return .trusted(real.isEmpty ? "/" : String(decoding: real, as: UTF8.self))
    }

    /// Whether a "/"-separated component of `bytes` is "." or "..".
    static func hasDotComponent(_ bytes: ArraySlice<UInt8>) -> Bool {
        var length = 0, dots = 0
        for byte in bytes {
            if byte == UInt8(ascii: "/") {
                if length > 0 && length <= 2 && dots == length { return true }
                length = 0
                dots = 0
            } else {
                length += 1
                if byte == UInt8(ascii: ".") { dots += 1 }
            }
        }
        return length > 0 && length <= 2 && dots == length
    }
}
