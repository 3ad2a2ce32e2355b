import Glibc
@testable import Namespaces
import Testing

/// What the helper thread of `readInterrupted` needs: whom to signal, where to write.
private final class Interrupter: @unchecked Sendable {
    let target: pthread_t
    let writer: Int32
    init(target: pthread_t, writer: Int32) {
        self.target = target
        self.writer = writer
    }
}

/// `sys`, the one choke point: EINTR retried (or not, for close), errors carrying operation,
/// path and errno, the error's strings built only on failure.
@Suite(.serialized) struct SyscallTests {
    /// Counts deliveries of SIGUSR2 to the handler installed without SA_RESTART.
    nonisolated(unsafe) static var deliveries: Int32 = 0

    /// Runs `read` on this thread, blocked on an empty pipe, while a helper thread sends this
    /// thread SIGUSR2 (caught, without SA_RESTART: a blocked read returns EINTR) ten times,
    /// 10 ms apart, and then writes one byte. Returns `read`'s result and how many signals
    /// were caught.
    static func readInterrupted<R>(_ read: (Int32) -> R) -> (result: R, caught: Int32) {
        var action = sigaction()
        action.__sigaction_handler.sa_handler = { _ in SyscallTests.deliveries += 1 }
        sigemptyset(&action.sa_mask)
        action.sa_flags = 0
        var old = sigaction()
        sigaction(SIGUSR2, &action, &old)
        defer { sigaction(SIGUSR2, &old, nil) }
        // The test runner's threads block most signals: this one takes SIGUSR2 while it reads.
        var usr2 = sigset_t()
        sigemptyset(&usr2)
        sigaddset(&usr2, SIGUSR2)
        var oldMask = sigset_t()
        pthread_sigmask(SIG_UNBLOCK, &usr2, &oldMask)
        defer { pthread_sigmask(SIG_SETMASK, &oldMask, nil) }
        deliveries = 0

        var fds: [Int32] = [0, 0]
        precondition(pipe(&fds) == 0)
        defer {
            close(fds[0])
            close(fds[1])
        }
        let helper = Unmanaged.passRetained(Interrupter(target: pthread_self(), writer: fds[1])).toOpaque()
        var thread = pthread_t()
        precondition(pthread_create(&thread, nil, { raw in
            let helper = Unmanaged<Interrupter>.fromOpaque(raw!).takeRetainedValue()
            for _ in 0..<10 {
                usleep(10_000)
                pthread_kill(helper.target, SIGUSR2)
            }
            usleep(10_000)
            var byte: UInt8 = 42
            _ = write(helper.writer, &byte, 1)
            return nil
        }, helper) == 0)
        let result = read(fds[0])
        pthread_join(thread, nil)
        return (result, deliveries)
    }

    /// The setup itself: a plain read(2) there fails with EINTR (else the next test proves nothing).
    @Test func aPlainReadIsInterrupted() {
        let (result, caught) = Self.readInterrupted { fd -> (Int, Int32) in
            var byte: UInt8 = 0
            let n = Glibc.read(fd, &byte, 1)
            return (n, errno)
        }
        #expect(caught >= 1)
        #expect(result.0 == -1)
        #expect(result.1 == EINTR)
    }

    @Test func sysRetriesEINTR() throws {
        var calls = 0
        let (result, caught) = Self.readInterrupted { fd -> Result<(Int, UInt8), SysError> in
            var byte: UInt8 = 0
            return Result { () throws(SysError) in
                (try sys("read") {
                    calls += 1
                    return Glibc.read(fd, &byte, 1)
                }, byte)
            }
        }
        #expect(caught >= 1)
        // Called again after each EINTR, until the byte came.
        #expect(calls >= 2)
        #expect(try result.get().0 == 1)
        #expect(try result.get().1 == 42)
    }

    @Test func sysPassesEINTROnWhenNotToRetry() {
        let (result, caught) = Self.readInterrupted { fd -> SysError? in
            var byte: UInt8 = 0
            do throws(SysError) { try sys("read", retryOnInterrupt: false) { Glibc.read(fd, &byte, 1) } } catch { return error }
            return nil
        }
        #expect(caught >= 1)
        #expect(result == SysError("read", errno: EINTR))
    }

    @Test func aFailureCarriesOperationPathAndErrno() {
        let error = #expect(throws: SysError.self) {
            try sys("open", "/nonexistent/x") { open("/nonexistent/x", O_RDONLY) }
        }
        #expect(error == SysError("open", "/nonexistent/x", errno: ENOENT))
        #expect(error?.description == "open /nonexistent/x: No such file or directory")
    }

    @Test func theErrorsStringsAreBuiltOnlyOnFailure() throws {
        var built = 0
        func shown() -> String {
            built += 1
            return "/"
        }
        try sys("stat \(shown())", shown()) { access("/", F_OK) }
        #expect(built == 0)
        _ = try? sys("stat \(shown())", shown()) { access("/nonexistent/x", F_OK) }
        #expect(built == 2)
    }

    @Test func aNullPointerIsAnError() throws {
        #expect(try Files.realPath("/proc/self/..") == "/proc")
        #expect(throws: SysError("resolve", "/nonexistent/x", errno: ENOENT)) { try Files.realPath("/nonexistent/x") }
    }

    @Test(arguments: [(0x0300, 3), (0x0000, 0), (0xff00, 255), (0x0009, 137), (0x000f, 143), (0x008f, 143)] as [(Int32, Int32)])
    func waitStatusesAsAShellReportsThem(status: Int32, code: Int32) {
        #expect(ChildProcess.shellStatus(status) == code)
    }

    @Test func aStoppedStatusIsNoExit() {
        #expect(ChildProcess.shellStatus(0x137f) == nil)
    }
}

/// `Files.rootOwnedRealPath`: the real path, and every directory on it root's alone.
@Suite(.serialized) struct RootOwnedRealPathTests {
    /// A fresh root-owned 0755 folder under /tmp (sticky, so trusted) for one test.
    static func folder() throws -> String {
        var template = Array("/tmp/secretshim-trust-XXXXXX".utf8CString)
        _ = try #require(template.withUnsafeMutableBufferPointer { mkdtemp($0.baseAddress!) })
        let path = String(decoding: template.dropLast().map { UInt8(bitPattern: $0) }, as: UTF8.self)
        chmod(path, 0o755)
        return path
    }

    static func removeAll(_ path: String) {
        var argv: [UnsafeMutablePointer<CChar>?] = ["/bin/rm", "-rf", path].map { $0.withCString { strdup($0) } } + [nil]
        var pid: pid_t = 0
        posix_spawn(&pid, "/bin/rm", nil, nil, &argv, nil)
        var status: Int32 = 0
        waitpid(pid, &status, 0)
        for pointer in argv { free(pointer) }
    }

    @Test func rootIsTrusted() throws {
        try #require(geteuid() == 0)
        #expect(Files.rootOwnedRealPath("/") == .trusted("/"))
        #expect(Files.rootOwnedRealPath("/secretshim-missing/a/b") == .trusted("/secretshim-missing/a/b"))
    }

    @Test func missingComponentsAreAppendedToTheRealPath() throws {
        try #require(geteuid() == 0)
        let base = try Self.folder()
        defer { Self.removeAll(base) }
        mkdir(base + "/real", 0o755)
        symlink(base + "/real", base + "/link")
        #expect(Files.rootOwnedRealPath(base + "/link") == .trusted(base + "/real"))
        #expect(Files.rootOwnedRealPath(base + "/link/missing/more") == .trusted(base + "/real/missing/more"))
        #expect(Files.rootOwnedRealPath(base + "/link/missing/") == .trusted(base + "/real/missing/"))
        symlink("/", base + "/toroot")
        #expect(Files.rootOwnedRealPath(base + "/toroot/secretshim-missing") == .trusted("/secretshim-missing"))
    }

    @Test func aDirectoryOthersCanWriteIsNamed() throws {
        try #require(geteuid() == 0)
        let base = try Self.folder()
        defer { Self.removeAll(base) }
        mkdir(base + "/open", 0o755)
        chmod(base + "/open", 0o777)
        guard case .writableByOthers(let directory, let mode) = Files.rootOwnedRealPath(base + "/open/store") else {
            Issue.record("not refused")
            return
        }
        #expect(directory == base + "/open")
        #expect(mode & 0o7777 == 0o777)
        chmod(base + "/open", 0o1777)
        #expect(Files.rootOwnedRealPath(base + "/open/store") == .trusted(base + "/open/store"))
    }

    /// A path whose missing part climbs back up (`missing/../..`) is refused: appended as it
    /// is, it led out of the checked directories into another user's (a fresh-eyes attack:
    /// `SECRETSHIM_ROOT=/root-owned/fresh/../../home/them/store` wrote the store there).
    @Test func dotsInTheMissingPartAreRefused() throws {
        try #require(geteuid() == 0)
        let base = try Self.folder()
        defer { Self.removeAll(base) }
        mkdir(base + "/theirs", 0o700)
        chown(base + "/theirs", 1000, 1000)
        for path in [base + "/fresh/../theirs/store", base + "/fresh/../../" + String(base.split(separator: "/").last!) + "/theirs",
                     base + "/fresh/./store", base + "/fresh/.."] {
            #expect(Files.rootOwnedRealPath(path) == .unresolved(SysError("resolve", path, errno: EINVAL)), "\(path)")
        }
        // Dots in the part that exists are resolved as ever.
        #expect(Files.rootOwnedRealPath(base + "/theirs/../fresh") == .trusted(base + "/fresh"))
        // A name that only starts with dots is a name.
        #expect(Files.rootOwnedRealPath(base + "/fresh/..store/.x") == .trusted(base + "/fresh/..store/.x"))
    }

    @Test func anotherUsersDirectoryIsNamed() throws {
        try #require(geteuid() == 0)
        let base = try Self.folder()
        defer { Self.removeAll(base) }
        mkdir(base + "/theirs", 0o700)
        chown(base + "/theirs", 1000, 1000)
        #expect(Files.rootOwnedRealPath(base + "/theirs/store") == .ownedBy(base + "/theirs", uid: 1000))
    }

    @Test func aFileOnThePathIsNoDirectory() throws {
        try #require(geteuid() == 0)
        let base = try Self.folder()
        defer { Self.removeAll(base) }
        close(open(base + "/file", O_WRONLY | O_CREAT, 0o644))
        #expect(Files.rootOwnedRealPath(base + "/file") == .notADirectory(base + "/file"))
        #expect(Files.rootOwnedRealPath(base + "/file/below") == .unresolved(SysError("resolve", base + "/file/below", errno: ENOTDIR)))
    }

    @Test(arguments: ["", "relative/path"])
    func onlyAbsolutePathsResolve(path: String) {
        #expect(Files.rootOwnedRealPath(path) == .unresolved(SysError("resolve", path, errno: EINVAL)))
    }
}
