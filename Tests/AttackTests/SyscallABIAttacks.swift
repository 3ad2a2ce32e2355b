import Foundation
import Testing

/// A root workload tries the calls that would let it reshape its mount namespace through the
/// back doors of the x86-64 kernel: the x32 ABI (the same calls under numbers with bit 30 set)
/// and the i386 ABI (`int $0x80`), plus `clone3` and `clone` with namespace flags. The default
/// filter must kill the first two outright and refuse the others.
@Suite(.enabled(if: getuid() == 0 && AttackShell.isX86_64, "root on x86-64"))
struct SyscallABIAttacks {
    static let probeSource = #"""
        #define _GNU_SOURCE
        #include <errno.h>
        #include <sched.h>
        #include <stdio.h>
        #include <string.h>
        #include <sys/syscall.h>
        #include <unistd.h>
        int main(int argc, char **argv) {
            long r = -1;
            errno = 0;
            if (strcmp(argv[1], "x32") == 0) {
                r = syscall(0x40000000L | SYS_unshare, CLONE_NEWNS);
            } else if (strcmp(argv[1], "i386") == 0) {
                // unshare is 310 on i386; CLONE_NEWNS in ebx.
                __asm__ volatile("int $0x80" : "=a"(r) : "a"(310L), "b"((long)CLONE_NEWNS) : "memory");
            } else if (strcmp(argv[1], "clone3") == 0) {
                r = syscall(SYS_clone3, NULL, 0);
            } else if (strcmp(argv[1], "clone") == 0) {
                r = syscall(SYS_clone, CLONE_NEWNS | 17 /* SIGCHLD */, 0, 0, 0, 0);
                if (r == 0) _exit(0);
            } else if (strcmp(argv[1], "unshare") == 0) {
                r = syscall(SYS_unshare, CLONE_NEWNS);
            }
            printf("%s=%ld errno=%d\n", argv[1], r, errno);
            return 0;
        }
        """#

    /// (call, what the workload must see: its output, or nil when it must be killed by SIGSYS)
    static let cases: [(String, String?)] = [
        ("x32", nil), ("i386", nil),
        ("clone3", "clone3=-1 errno=\(ENOSYS)\n"),
        ("clone", "clone=-1 errno=\(EPERM)\n"),
        ("unshare", "unshare=-1 errno=\(EPERM)\n"),
    ]

    @Test(arguments: cases)
    func theDefaultFilterStopsEveryABI(call: String, expected: String?) throws {
        let directory = FileManager.default.temporaryDirectory.appendingPathComponent("secretshim-abi-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: directory, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(at: directory) }
        let source = directory.appendingPathComponent("probe.c").path
        let probe = directory.appendingPathComponent("probe").path
        try Self.probeSource.write(toFile: source, atomically: true, encoding: .utf8)
        let built = shell("gcc -O0 -static -o \(probe) \(source)")
        try #require(built.status == 0, "gcc: \(built.output)")
        let env = "SECRETSHIM_ROOT=\(directory.path)/store SECRETSHIM_STATE_DIR=\(directory.path)/state"
        for extra in ["", "--cap-add SYS_ADMIN"] {
            let result = shell("env \(env) \(Shim.binary) run \(extra) -- \(probe) \(call)")
            if let expected {
                #expect(result.status == 0 && result.output == expected, "\(call) \(extra): \(result.status) \(result.output)")
            } else {
                // Killed by the filter (SIGSYS, 31), before printing anything.
                #expect(result.status == 128 + SIGSYS, "\(call) \(extra): \(result.status) \(result.output)")
                #expect(!result.output.contains("\(call)="), "\(call) \(extra): \(result.output)")
            }
        }
    }
}

enum AttackShell {
    static var isX86_64: Bool {
        var name = utsname()
        uname(&name)
        return withUnsafeBytes(of: name.machine) { String(decoding: $0.prefix { $0 != 0 }, as: UTF8.self) } == "x86_64"
    }
}
