import CLinux
import Glibc

/// Changing a directory's entries through its descriptor (mkdirat, unlinkat, renameat,
/// symlinkat): a single name, resolved in that directory, cannot lead out of it. `path` is
/// what an error shows (the directory's path and the name); it is built only on failure.
extension FileDescriptor {
    public func makeDirectory(
        _ name: String, mode: mode_t, path: @autoclosure () -> String? = nil
    ) throws(SysError) {
        try sys("mkdir", path() ?? name) { name.withCString { mkdirat(rawValue, $0, mode) } }
    }

    /// unlinkat(2) of a file (not a folder).
    public func removeEntry(_ name: String, path: @autoclosure () -> String? = nil) throws(SysError) {
        try sys("unlink", path() ?? name) { name.withCString { unlinkat(rawValue, $0, 0) } }
    }

    /// renameat(2) within this directory: `name` replaces `target` whole, or nothing changes.
    public func rename(_ name: String, to target: String, path: @autoclosure () -> String? = nil) throws(SysError) {
        try sys("rename", path() ?? target) {
            name.withCString { from in target.withCString { to in renameat(rawValue, from, rawValue, to) } }
        }
    }

    /// renameat2(2) with RENAME_NOREPLACE within this directory: `name` becomes `target`
    /// unless something is there (EEXIST), in one step. For file systems without hard links.
    public func renameNoReplace(_ name: String, to target: String, path: @autoclosure () -> String? = nil) throws(SysError) {
        try sys("rename", path() ?? target) { cl_rename_noreplace(rawValue, name, target) }
    }

    /// fstatat(2) of `name` in this directory, not following a link.
    public func statusAt(_ name: String, path: @autoclosure () -> String? = nil) throws(SysError) -> stat {
        var st = stat()
        try sys("stat", path() ?? name) { name.withCString { fstatat(rawValue, $0, &st, AT_SYMLINK_NOFOLLOW) } }
        return st
    }

    /// A symbolic link `name` in this directory, pointing at `target`.
    public func makeSymbolicLink(
        _ name: String, to target: String, path: @autoclosure () -> String? = nil
    ) throws(SysError) {
        try sys("symlink", path() ?? name) {
            target.withCString { to in name.withCString { symlinkat(to, rawValue, $0) } }
        }
    }
}
