import Glibc
import Namespaces
import Testing

/// `Files.makeDirectories` checks every directory it finds or makes: as root, a folder another
/// user made on the way (after the caller's own check, say) is refused before anything is made
/// in it. The fresh-eyes attack this keeps out: root's state dir under /tmp/X/state, X missing
/// when root checked the path, then made by another user, who renamed root's folder aside and
/// put their own Compose file in its place.
@Suite(.enabled(if: getuid() == 0, "as root"))
struct MakeDirectoriesTests {
    @Test func aFolderAnotherUserMadeOnThePathIsRefused() throws {
        let base = "/tmp/secretshim-mkdirs-\(getpid())"
        defer { _ = try? Files.remove(base + "/a"); _ = rmdir(base + "/ok/b"); _ = rmdir(base + "/ok"); _ = rmdir(base) }
        try Files.makeDirectories(base + "/ok/b", mode: 0o700)
        #expect(Files.exists(base + "/ok/b"))
        chown(base, 65534, 65534)
        let error = #expect(throws: SysError.self) { try Files.makeDirectories(base + "/a", mode: 0o700) }
        #expect(error?.errno == EPERM && error?.description.contains("belongs to uid 65534") == true, "\(String(describing: error))")
        // Found rather than made, the same.
        #expect(throws: SysError.self) { try Files.makeDirectories(base + "/ok/b", mode: 0o700) }
        chown(base, 0, 0)
        chmod(base, 0o777)
        let writable = #expect(throws: SysError.self) { try Files.makeDirectories(base + "/ok/b", mode: 0o700) }
        #expect(writable?.description.contains("writable by group or others") == true)
        chmod(base, 0o1777)  // sticky, as /tmp: others cannot rename root's entries
        try Files.makeDirectories(base + "/ok/b", mode: 0o700)
        chmod(base, 0o755)
    }
}
