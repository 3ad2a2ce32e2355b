import Foundation
import Testing

/// A device node in a scanned tree, or renamed over a file while `scan` walks it: never
/// opened (opening a device can act: a watchdog starts its timer, a tape rewinds). Seen with
/// inotify on the node: an open of it is an IN_OPEN event; `scan`'s O_PATH look is not.
@Suite(.enabled(if: runningAsRoot, "needs root (mknod)"))
struct ScanDeviceAttacks {
    /// Events on `path` while `body` runs: whether it was opened.
    static func opened(_ path: String, during body: () -> Void) throws -> Bool {
        let inotify = inotify_init1(Int32(IN_NONBLOCK | IN_CLOEXEC))
        try #require(inotify >= 0)
        defer { close(inotify) }
        try #require(inotify_add_watch(inotify, path, UInt32(IN_OPEN)) >= 0)
        body()
        var buffer = [UInt8](repeating: 0, count: 4096)
        let n = read(inotify, &buffer, buffer.count)
        return n > 0
    }

    @Test func aDeviceNodeInTheTreeIsNeverOpened() throws {
        let shim = Shim()
        defer { shim.cleanUp() }
        shim.create("s", uniqueValue("dev"))
        let tree = shim.folder("tree")
        try "plain\n".write(toFile: tree + "/plain", atomically: true, encoding: .utf8)
        try #require(mknod(tree + "/null", S_IFCHR | 0o666, dev_t(1 << 8 | 3)) == 0)
        let openedByScan = try Self.opened(tree + "/null") {
            let result = shim(["scan", tree], timeout: 30)
            #expect(result.status == 0, "\(result.output)")
            #expect(result.stderr.contains("null: skipped, a device"))
        }
        #expect(!openedByScan, "scan opened the device node")
        // The check can fail: an open of it is seen.
        #expect(try Self.opened(tree + "/null") { close(open(tree + "/null", O_RDONLY)) })
    }

    /// A thread swaps a regular file and a device node (renameat2 RENAME_EXCHANGE) as fast as
    /// it can while `scan` walks the folder again and again: the node is never opened.
    @Test func aDeviceRenamedOverAFileDuringTheWalk() throws {
        let shim = Shim()
        defer { shim.cleanUp() }
        shim.create("s", uniqueValue("swap"))
        let tree = shim.folder("tree")
        for index in 0..<50 { try "file \(index)\n".write(toFile: tree + "/f\(index)", atomically: true, encoding: .utf8) }
        try #require(mknod(tree + "/node", S_IFCHR | 0o666, dev_t(1 << 8 | 3)) == 0)
        // The swapper: python's ctypes reaches glibc's renameat2 (Swift's Glibc module has not got it).
        let script = """
            import ctypes, sys
            libc = ctypes.CDLL(None, use_errno=True)
            tree = sys.argv[1].encode()
            while True:
                for i in range(50):
                    libc.renameat2(-100, tree + b"/node", -100, tree + b"/f%d" % i, 2)
            """
        let openedByScan = try Self.opened(tree + "/node") {
            let swapper = shim.start(["-c", script, tree], executable: "/usr/bin/python3")
            defer { swapper.stop() }
            for _ in 0..<30 {
                let result = shim(["scan", tree], timeout: 30)
                #expect(result.status == 0 || result.status == 2, "\(result.output)")
            }
        }
        #expect(!openedByScan, "scan opened a device node renamed in under it")
    }
}
