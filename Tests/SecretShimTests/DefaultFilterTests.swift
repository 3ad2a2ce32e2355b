import Foundation
import Testing

/// The default seccomp filter (`Sources/CLinux/default_filter.c`), branch by branch, as a root
/// workload of `secretshim run` meets it on this kernel. Every probe runs under the filter and
/// under `--seccomp unconfined` with the same capabilities (`--cap-add ALL`) and the same
/// Landlock domain: what differs between the two answers is the filter's doing, and the
/// unconfined run shows that the call would reach the kernel without it. The probes are C,
/// built here with `gcc -static`; their arguments make every call that the filter must refuse
/// fail harmlessly in the kernel (a bad address, an unknown flag), so nothing is mounted, loaded,
/// rebooted or set when the filter is off.
@Suite(.enabled(if: Shim.isRoot, "run needs root (mount namespaces)"),
       .enabled(if: FilterProbe.hasGCC, "the probes are C programs built at test time: no gcc here, so nothing of the filter is tested"))
struct DefaultFilterTests {
    /// The filter, with every capability the kernel could check: a refusal is the filter's.
    static let filtered = ["--cap-add", "ALL"]
    /// What a user gets by default: the filter and Docker's capabilities.
    static let defaults: [String] = []
    /// The control: the same workload without the filter.
    static let unfiltered = ["--seccomp", "unconfined", "--cap-add", "ALL"]

    /// The `denied[]` table: each call gets EPERM under the filter, and its own answer from the
    /// kernel without it. The table below and the filter's list must name the same calls, so a
    /// call added to the filter without a probe fails here.
    @Test func everyDeniedCallGetsEPERM() throws {
        let listed = try FilterProbe.deniedInFilterSource()
        #expect(Set(listed) == Set(FilterProbe.denied.map(\.name)), "default_filter.c's denied[] and this test's table differ")
        let probe = try FilterProbe()
        defer { probe.cleanUp() }
        let withFilter = probe.run(Self.filtered, "denied")
        let byDefault = probe.run(Self.defaults, "denied")
        let without = probe.run(Self.unfiltered, "denied")
        #expect(withFilter.results["seccomp-mode"] == "2" && byDefault.results["seccomp-mode"] == "2")
        #expect(without.results["seccomp-mode"] == "0")
        for call in FilterProbe.denied {
            let control = without.results[call.name]
            if control == "absent" {
                // No such call on this architecture: the filter's own #ifdef leaves it out too.
                #expect(withFilter.results[call.name] == "absent", "\(call.name)")
                print("note: \(call.name) does not exist on this architecture; its rule is not compiled in and not tested")
                continue
            }
            #expect(withFilter.results[call.name] == "EPERM", "\(call.name) under the filter: \(withFilter.output)")
            #expect(byDefault.results[call.name] == "EPERM", "\(call.name) by default: \(byDefault.output)")
            #expect(control != nil && control != "EPERM", "\(call.name) without the filter answered \(control ?? "nothing"): the test cannot tell the filter's EPERM from the kernel's")
        }
    }

    /// The denylist refuses those numbers and nothing near them: calls of the same families
    /// (statfs beside mount, chroot beside pivot_root, pidfd_open beside setns, the clocks'
    /// readers beside their setters, openat beside open_by_handle_at, inotify and fanotify_mark
    /// beside fanotify_init, quotactl_fd beside quotactl, ...) get the same answer with and
    /// without the filter.
    @Test func theDeniedCallsNeighboursPass() throws {
        let probe = try FilterProbe()
        defer { probe.cleanUp() }
        let withFilter = probe.run(Self.filtered, "allowed")
        let byDefault = probe.run(Self.defaults, "allowed")
        let without = probe.run(Self.unfiltered, "allowed")
        for name in FilterProbe.neighbours {
            #expect(without.results[name] != nil, "\(name): \(without.output)")
            #expect(withFilter.results[name] == without.results[name], "\(name): \(withFilter.output)")
            #expect(byDefault.results[name] == without.results[name], "\(name): \(byDefault.output)")
        }
    }

    /// clone's flag branch (JSET on the low word of its first argument): each namespace flag is
    /// refused with EPERM, a clone without one makes a child. Without the filter each flag makes
    /// a child in a new namespace, except CLONE_NEWTIME: in clone's flags 0x80 is the top bit of
    /// the exit signal (CSIGNAL), so the kernel makes no time namespace through clone (only
    /// through clone3 or unshare, both refused below); the filter refuses that bit all the same.
    /// The kernel reads only the low 32 bits of clone's flags, as the filter does: a flag with
    /// the high word set is refused too.
    @Test func cloneWithANamespaceFlagIsRefused() throws {
        let probe = try FilterProbe()
        defer { probe.cleanUp() }
        let withFilter = probe.run(Self.filtered, "clone")
        let byDefault = probe.run(Self.defaults, "clone")
        let without = probe.run(Self.unfiltered, "clone")
        for result in [withFilter, byDefault, without] {
            #expect(result.results["clone-plain"] == "ok", "\(result.output)")
        }
        for flag in FilterProbe.namespaceFlags + ["NEWNS-high-word"] {
            let key = "clone-" + flag
            #expect(withFilter.results[key] == "EPERM", "\(key): \(withFilter.output)")
            #expect(byDefault.results[key] == "EPERM", "\(key): \(byDefault.output)")
            #expect(without.results[key] == (flag == "NEWTIME" ? "same" : "new"), "\(key) without the filter: \(without.output)")
        }
    }

    /// clone3 gets ENOSYS (its flags sit in memory, out of the filter's reach), whatever it
    /// asks: a plain child, a mount namespace, a time namespace; without the filter it makes
    /// each. glibc's pthread_create and posix_spawn try clone3 first and fall back to clone on
    /// ENOSYS, and fork uses clone: all three still work under the filter.
    @Test func clone3GetsENOSYSAndLibcFallsBackToClone() throws {
        let probe = try FilterProbe()
        defer { probe.cleanUp() }
        let withFilter = probe.run(Self.filtered, "clone3")
        let byDefault = probe.run(Self.defaults, "clone3")
        let without = probe.run(Self.unfiltered, "clone3")
        for (name, unfilteredAnswer) in [("plain", "ok"), ("NEWNS", "new"), ("NEWTIME", "new")] {
            let key = "clone3-" + name
            #expect(withFilter.results[key] == "ENOSYS", "\(key): \(withFilter.output)")
            #expect(byDefault.results[key] == "ENOSYS", "\(key): \(byDefault.output)")
            #expect(without.results[key] == unfilteredAnswer, "\(key) without the filter: \(without.output)")
        }
        for result in [withFilter, byDefault, without] {
            for call in ["fork", "pthread_create", "posix_spawn"] {
                #expect(result.results[call] == "ok", "\(call): \(result.output)")
            }
        }
    }

    /// unshare and setns are refused whole: unshare with each namespace flag, and setns even into
    /// the workload's own mount namespace; without the filter each succeeds.
    @Test func unshareAndSetnsAreRefusedForEveryNamespace() throws {
        let probe = try FilterProbe()
        defer { probe.cleanUp() }
        let withFilter = probe.run(Self.filtered, "unshare")
        let byDefault = probe.run(Self.defaults, "unshare")
        let without = probe.run(Self.unfiltered, "unshare")
        for key in FilterProbe.namespaceFlags.map({ "unshare-" + $0 }) + ["setns-own-mnt"] {
            #expect(withFilter.results[key] == "EPERM", "\(key): \(withFilter.output)")
            #expect(byDefault.results[key] == "EPERM", "\(key): \(byDefault.output)")
            #expect(without.results[key] == "ok", "\(key) without the filter: \(without.output)")
        }
    }

    /// The two ABI branches, on x86-64: a call whose architecture is not x86-64 (i386's, through
    /// `int $0x80`) and a call in the x32 ABI (its number with bit 30 set) kill the workload
    /// (SIGSYS, before it prints the call's result), a harmless getpid as much as unshare.
    /// gcc cannot build -m32 or -mx32 programs here; a 64-bit probe enters both ABIs the way a
    /// 32-bit or x32 program does (the kernel tells the ABI by the entry and the number).
    /// Without the filter the probe prints the kernel's answer: i386 calls work; x32 ones get
    /// ENOSYS where the kernel is built without x32 (CONFIG_X86_X32_ABI, as here) and work
    /// where it has it. aarch64's branch (any architecture but AUDIT_ARCH_AARCH64 is killed)
    /// is not tested: a 64-bit arm probe cannot enter the 32-bit arm ABI.
    @Test(.enabled(if: FilterProbe.isX86_64, "x32 and i386 are x86-64's ABIs"),
          arguments: [("x32", "getpid"), ("x32", "unshare"), ("i386", "getpid"), ("i386", "unshare")])
    func foreignABIsAreKilled(abi: String, call: String) throws {
        let probe = try FilterProbe()
        defer { probe.cleanUp() }
        let key = "\(abi)-\(call)"
        for flags in [Self.filtered, Self.defaults] {
            let result = probe.run(flags, abi, call)
            #expect(result.status == 128 + SIGSYS, "\(key) \(flags): \(result.status) \(result.output)")
            #expect(result.output.contains(key + "-before\n") && result.results[key] == nil, "\(key) \(flags): \(result.output)")
        }
        let without = probe.run(Self.unfiltered, abi, call)
        #expect(without.status == 0, "\(key) without the filter: \(without.status) \(without.output)")
        let answers: Set<String> = abi == "x32" ? ["ok", "ENOSYS"] : ["ok"]
        #expect(without.results[key].map(answers.contains) == true, "\(key) without the filter: \(without.output)")
    }

    /// open_tree_attr (Linux 6.15: open_tree with mount_setattr's attributes) is refused like
    /// the rest of the new mount API. It was missing from the list: with `--cap-add SYS_ADMIN`
    /// a workload cloned the mount under the store without the mask over it and read the
    /// host's master key, and cloned its sealed secrets tmpfs writable and rewrote a secret.
    /// The control shows both without the filter, where the kernel has the call.
    @Test func openTreeAttrCannotUnmaskOrUnseal() throws {
        let probe = try FilterProbe()
        defer { probe.cleanUp() }
        probe.shim.create("pw", "sealed")
        let (mountPoint, relativeKey) = probe.masterKeyByMount()
        let attempts = "'\(probe.path)' open_tree_attr read '\(mountPoint)' '\(relativeKey)'; " +
            "'\(probe.path)' open_tree_attr write /run/secrets pw; cat /run/secrets/pw"
        for flags in [["--cap-add", "SYS_ADMIN"], Self.filtered] {
            let result = probe.launch(flags + ["--secret", "pw", "--", "sh", "-c", attempts])
            #expect(result.results["open_tree_attr-read"] == "EPERM", "\(flags): \(result.output)")
            #expect(result.results["open_tree_attr-write"] == "EPERM", "\(flags): \(result.output)")
            #expect(result.output.hasSuffix("\nsealed"), "\(flags): \(result.output)")
        }
        let control = probe.launch(["--seccomp", "unconfined", "--cap-add", "SYS_ADMIN", "--secret", "pw", "--", "sh", "-c", attempts])
        if control.results["open_tree_attr-read"] == "ENOSYS" {
            print("note: this kernel has no open_tree_attr (before 6.15): the unmasking it allowed cannot be shown here")
        } else {
            #expect(control.results["open_tree_attr-read"] == "32 bytes", "control: \(control.output)")
            #expect(control.results["open_tree_attr-write"] == "ok" && control.output.hasSuffix("\nrewritten"), "control: \(control.output)")
        }
    }

    /// Under a profile the user gave, the guard filter still refuses cloning a mount: Docker's
    /// profile allows open_tree (and its `_attr` form) with `--cap-add SYS_ADMIN`, and a clone of
    /// the mount under the store, made without the mask over it, read the host's master key.
    /// The control, `unconfined` (no guard), shows the read.
    @Test(.enabled(if: FileManager.default.fileExists(atPath: FilterProbe.dockerProfile), "needs \(FilterProbe.dockerProfile) (containers-common)"))
    func aUserProfileCannotCloneTheStoreUnmasked() throws {
        let probe = try FilterProbe()
        defer { probe.cleanUp() }
        probe.shim.create("pw", "sealed")
        let (mountPoint, relativeKey) = probe.masterKeyByMount()
        let attempts = "'\(probe.path)' open_tree '\(mountPoint)' '\(relativeKey)'; " +
            "'\(probe.path)' open_tree_attr read '\(mountPoint)' '\(relativeKey)'"
        let guarded = probe.launch(["--seccomp", FilterProbe.dockerProfile, "--cap-add", "SYS_ADMIN", "--secret", "pw", "--", "sh", "-c", attempts])
        #expect(guarded.results["seccomp-mode"] == "2", "\(guarded.output)")
        #expect(guarded.results["open_tree-read"] == "EPERM", "\(guarded.output)")
        // This profile does not list open_tree_attr (ENOSYS, its default answer); moby's
        // allows it with SYS_ADMIN, and then the guard's EPERM answers.
        #expect(["EPERM", "ENOSYS"].contains(guarded.results["open_tree_attr-read"] ?? "absent"), "\(guarded.output)")
        let control = probe.launch(["--seccomp", "unconfined", "--cap-add", "SYS_ADMIN", "--secret", "pw", "--", "sh", "-c", attempts])
        #expect(control.results["open_tree-read"] == "32 bytes", "control: \(control.output)")
    }

    /// The default filter is a denylist: calls it does not name pass. Docker's own profile (here
    /// the one containers-common installs, whose unlisted calls get ENOSYS) is an allowlist: the
    /// same calls, `personality(READ_IMPLIES_EXEC)` and `quotactl_fd`, are refused under it.
    @Test(.enabled(if: FileManager.default.fileExists(atPath: FilterProbe.dockerProfile), "needs \(FilterProbe.dockerProfile) (containers-common)"))
    func dockersProfileIsAnAllowlist() throws {
        let probe = try FilterProbe()
        defer { probe.cleanUp() }
        let denylist = probe.run(Self.defaults, "beyond")
        #expect(denylist.results["personality-read-implies-exec"] == "ok", "\(denylist.output)")
        #expect(denylist.results["quotactl_fd"] == "EBADF", "\(denylist.output)")
        let allowlist = probe.run(["--seccomp", FilterProbe.dockerProfile], "beyond")
        #expect(allowlist.results["seccomp-mode"] == "2", "\(allowlist.output)")
        #expect(allowlist.results["personality-read-implies-exec"] == "ENOSYS", "\(allowlist.output)")
        #expect(allowlist.results["quotactl_fd"] == "ENOSYS", "\(allowlist.output)")
    }
}

/// The probe: one static C program, built per test in a fresh folder, run under `secretshim run`.
/// It prints one `NAME=ANSWER` line per call: `ok`, the errno's name, `absent` (no such call on
/// this architecture), or for a child made by clone `new`/`same` (its namespace against its
/// parent's).
struct FilterProbe {
    static let hasGCC = FileManager.default.isExecutableFile(atPath: "/usr/bin/gcc")
    static let dockerProfile = "/usr/share/containers/seccomp.json"

    /// The store's master key as a clone of its mount would show it: the mount point under
    /// which it lives, and its path inside that mount.
    func masterKeyByMount() -> (mountPoint: String, relativePath: String) {
        let key = URL(fileURLWithPath: shim.root + "/master.key").resolvingSymlinksInPath().path
        let mountPoint = shell("stat -c %m '\(key)'").output.trimmingCharacters(in: .whitespacesAndNewlines)
        return (mountPoint, String(key.dropFirst(mountPoint == "/" ? 1 : mountPoint.count + 1)))
    }
    static var isX86_64: Bool {
        var name = utsname()
        uname(&name)
        return withUnsafeBytes(of: name.machine) { String(decoding: $0.prefix { $0 != 0 }, as: UTF8.self) } == "x86_64"
    }

    static let namespaceFlags = ["NEWNS", "NEWUSER", "NEWPID", "NEWNET", "NEWUTS", "NEWIPC", "NEWCGROUP", "NEWTIME"]

    /// A call of the filter's `denied[]`, with arguments the kernel refuses harmlessly when the
    /// filter is off (`BAD` is an address it cannot read; the answer seen here without the
    /// filter, as root with every capability, in the comment).
    struct Call {
        let name: String
        let arguments: String
    }

    static let denied: [Call] = [
        Call(name: "mount", arguments: "0, BAD, 0, 0, 0"),  // EFAULT: the target
        Call(name: "umount2", arguments: "0, 0x100"),  // EINVAL: unknown flag
        Call(name: "pivot_root", arguments: "BAD, BAD"),  // EFAULT
        Call(name: "umount", arguments: "BAD"),  // absent on x86-64 and aarch64
        Call(name: "move_mount", arguments: "-1, 0, -1, 0, 0x80000000L"),  // EINVAL: unknown flag
        Call(name: "open_tree", arguments: "-1, 0, 0x80000000L"),  // EINVAL
        Call(name: "open_tree_attr", arguments: "-1, 0, 0x80000000L, 0, 0"),  // EINVAL (ENOSYS before 6.15)
        Call(name: "fsopen", arguments: "0, 0x80000000L"),  // EINVAL
        Call(name: "fsconfig", arguments: "-1, 0, 0, 0, 0"),  // EINVAL: no context
        Call(name: "fsmount", arguments: "-1, 0x80000000L, 0"),  // EINVAL
        Call(name: "fspick", arguments: "-1, 0, 0x80000000L"),  // EINVAL
        Call(name: "mount_setattr", arguments: "-1, 0, 0x80000000L, 0, 0"),  // EINVAL
        Call(name: "unshare", arguments: "0x1"),  // EINVAL: not a namespace flag (each flag: below)
        Call(name: "setns", arguments: "-1, 0"),  // EBADF
        Call(name: "init_module", arguments: "0, 0, 0"),  // ENOEXEC; ENOSYS without modules (here)
        Call(name: "finit_module", arguments: "-1, 0, 0"),  // EBADF; ENOSYS without modules
        Call(name: "delete_module", arguments: "BAD, 0"),  // EFAULT; ENOSYS without modules
        Call(name: "kexec_load", arguments: "0, 1000, 0, 0"),  // EINVAL: too many segments; ENOSYS without kexec
        Call(name: "kexec_file_load", arguments: "-1, -1, 0, 0, 0x80000000L"),  // EINVAL; ENOSYS without kexec
        Call(name: "bpf", arguments: "100000, 0, 0"),  // EINVAL: no such command
        Call(name: "perf_event_open", arguments: "0, 0, -1, -1, 0x80000000L"),  // EINVAL
        Call(name: "add_key", arguments: "BAD, 0, 0, 0, 0"),  // EFAULT: the type
        Call(name: "request_key", arguments: "BAD, 0, 0, 0"),  // EFAULT
        Call(name: "keyctl", arguments: "100000, 0, 0, 0, 0"),  // EOPNOTSUPP
        Call(name: "open_by_handle_at", arguments: "AT_FDCWD, BAD, O_RDONLY"),  // EFAULT: the handle
        Call(name: "name_to_handle_at", arguments: "AT_FDCWD, BAD, 0, 0, 0"),  // EFAULT
        Call(name: "fanotify_init", arguments: "0x80000000L, 0"),  // EINVAL
        Call(name: "reboot", arguments: "0, 0, 0, 0"),  // EINVAL: no magic
        Call(name: "swapon", arguments: "BAD, 0x80000000L"),  // EINVAL
        Call(name: "swapoff", arguments: "BAD"),  // EFAULT
        Call(name: "acct", arguments: "BAD"),  // EFAULT
        Call(name: "settimeofday", arguments: "BAD, 0"),  // EFAULT
        Call(name: "clock_settime", arguments: "CLOCK_MONOTONIC, BAD"),  // EINVAL: not settable
        Call(name: "clock_adjtime", arguments: "CLOCK_REALTIME, BAD"),  // EFAULT
        Call(name: "adjtimex", arguments: "BAD"),  // EFAULT
        Call(name: "iopl", arguments: "4"),  // EINVAL; ENOSYS without CONFIG_X86_IOPL_IOPERM (here)
        Call(name: "ioperm", arguments: "0x10000, 1, 1"),  // EINVAL; ENOSYS likewise
        Call(name: "quotactl", arguments: "0x800002, 0, 0, 0"),  // ENODEV: no device
        Call(name: "syslog", arguments: "100000, 0, 0"),  // EINVAL
        Call(name: "userfaultfd", arguments: "0x80000000L"),  // EINVAL
        Call(name: "lookup_dcookie", arguments: "0, 0, 0"),  // ENOSYS since 6.8
        Call(name: "uselib", arguments: "BAD"),  // EFAULT; ENOSYS without CONFIG_USELIB (here)
        Call(name: "nfsservctl", arguments: "0, 0, 0"),  // ENOSYS since 3.1
    ]

    /// Allowed calls beside the denied ones (the probe's `allowed` mode).
    static let neighbours = [
        "statfs", "chroot", "pidfd_open", "clock_gettime", "gettimeofday", "clock_getres", "openat",
        "inotify_init1", "fanotify_mark", "sysinfo", "times", "quotactl_fd", "personality",
    ] + (isX86_64 ? ["arch_prctl"] : [])

    /// The names in default_filter.c's `denied[]`, read from the source as the filter is built.
    static func deniedInFilterSource() throws -> [String] {
        let path = Shim.packageRoot.appendingPathComponent("Sources/CLinux/default_filter.c").path
        let text = try String(contentsOfFile: path, encoding: .utf8)
        guard let start = text.range(of: "static const int denied[] = {"),
              let end = text.range(of: "};", range: start.upperBound..<text.endIndex) else {
            throw ProbeError(description: "no denied[] in \(path)")
        }
        var names: [String] = []
        var rest = text[start.upperBound..<end.lowerBound]
        while let found = rest.range(of: "__NR_") {
            let name = rest[found.upperBound...].prefix { $0.isLetter || $0.isNumber || $0 == "_" }
            names.append(String(name))
            rest = rest[name.endIndex...]
        }
        return names
    }

    struct ProbeError: Error, CustomStringConvertible {
        let description: String
    }

    struct Result {
        let status: Int32
        let output: String
        /// `NAME=ANSWER` lines.
        var results: [String: String] {
            var answers: [String: String] = [:]
            for line in output.split(separator: "\n") {
                guard let equals = line.firstIndex(of: "=") else { continue }
                answers[String(line[..<equals])] = String(line[line.index(after: equals)...])
            }
            return answers
        }
    }

    let shim = Shim()
    var path: String { shim.directory.appendingPathComponent("probe").path }

    init() throws {
        let source = shim.directory.appendingPathComponent("probe.c").path
        try Self.source.write(toFile: source, atomically: true, encoding: .utf8)
        let built = shell("gcc -O0 -static -o '\(path)' '\(source)' -lpthread")
        if built.status != 0 { shim.cleanUp() }
        try #require(built.status == 0, "gcc -static: \(built.output)")
    }

    func cleanUp() { shim.cleanUp() }

    /// `secretshim run FLAGS -- probe ARGUMENTS`.
    func run(_ flags: [String], _ arguments: String...) -> Result {
        launch(flags + ["--", path] + arguments)
    }

    /// `secretshim run ARGUMENTS`, through /bin/sh: the status is 128 + the signal that killed it.
    func launch(_ arguments: [String]) -> Result {
        let quoted = ([Shim.binary, "run"] + arguments).map { "'" + $0.replacingOccurrences(of: "'", with: "'\\''") + "'" }
        let result = shell("SECRETSHIM_ROOT='\(shim.root)' SECRETSHIM_STATE_DIR='\(shim.state)' " + quoted.joined(separator: " "))
        return Result(status: result.status, output: result.output)
    }

    static var source: String {
        var calls = ""
        for call in denied {
            calls += """
                #ifdef SYS_\(call.name)
                    CALL("\(call.name)", SYS_\(call.name), \(call.arguments));
                #else
                    printf("\(call.name)=absent\\n");
                #endif

                """
        }
        return template.replacingOccurrences(of: "/* DENIED */\n", with: calls)
    }

    static let template = #"""
        #define _GNU_SOURCE
        #include <errno.h>
        #include <fcntl.h>
        #include <linux/sched.h>
        #include <pthread.h>
        #include <sched.h>
        #include <signal.h>
        #include <spawn.h>
        #include <stdint.h>
        #include <stdio.h>
        #include <stdlib.h>
        #include <string.h>
        #include <sys/syscall.h>
        #include <sys/wait.h>
        #include <time.h>
        #include <unistd.h>

        #ifndef CLONE_NEWTIME
        #define CLONE_NEWTIME 0x00000080
        #endif
        // Linux 6.15; older headers lack it (the same number on x86-64 and aarch64).
        #ifndef SYS_open_tree_attr
        #define SYS_open_tree_attr 467
        #endif
        #define BAD 1L

        static void report(const char *name, long r, int e) {
            if (r >= 0) printf("%s=ok\n", name);
            else printf("%s=%s\n", name, strerrorname_np(e));
        }

        #define CALL(name, ...) do { errno = 0; long r = syscall(__VA_ARGS__); report(name, r, errno); } while (0)

        static void denied(void) {
        /* DENIED */
        }

        static void allowed(void) {
            struct timespec ts;
            char buffer[512];
            CALL("statfs", SYS_statfs, "/", buffer);
            CALL("chroot", SYS_chroot, BAD);
            CALL("pidfd_open", SYS_pidfd_open, getpid(), 0);
            CALL("clock_gettime", SYS_clock_gettime, CLOCK_REALTIME, &ts);
            CALL("gettimeofday", SYS_gettimeofday, buffer, 0);
            CALL("clock_getres", SYS_clock_getres, CLOCK_REALTIME, &ts);
            CALL("openat", SYS_openat, AT_FDCWD, "/", O_RDONLY | O_DIRECTORY);
            CALL("inotify_init1", SYS_inotify_init1, 0);
            CALL("fanotify_mark", SYS_fanotify_mark, -1, 0, 0, AT_FDCWD, 0);
            CALL("sysinfo", SYS_sysinfo, buffer);
            CALL("times", SYS_times, buffer);
            CALL("quotactl_fd", SYS_quotactl_fd, -1, 0, 0, 0);
            CALL("personality", SYS_personality, 0xffffffffL);
        #ifdef SYS_arch_prctl
            CALL("arch_prctl", SYS_arch_prctl, 0x1003 /* ARCH_GET_FS */, buffer);
        #endif
        }

        // Calls the default filter does not name, which Docker's allowlist does not allow.
        static void beyond(void) {
            CALL("personality-read-implies-exec", SYS_personality, 0x0400000L);
            CALL("quotactl_fd", SYS_quotactl_fd, -1, 0, 0, 0);
        }

        // The child of a raw clone: 1 if its namespace is its parent's.
        static int same_namespace(const char *link, const char *before) {
            char now[64] = {0};
            if (readlink(link, now, sizeof now - 1) < 0) return 1;
            return strcmp(now, before) == 0;
        }

        // A child exits 0 in a new namespace, 3 in its parent's; "ok" when it was not asked for one.
        static void child_result(const char *label, long pid, int e, int asked) {
            if (pid < 0) { printf("%s=%s\n", label, strerrorname_np(e)); return; }
            int status = 0;
            while (waitpid((pid_t)pid, &status, __WALL) < 0 && errno == EINTR) {}
            int code = WIFEXITED(status) ? WEXITSTATUS(status) : 100 + WTERMSIG(status);
            const char *answer = code == 0 ? (asked ? "new" : "ok") : code == 3 ? "same" : "child-failed";
            printf("%s=%s\n", label, answer);
        }

        struct flag { const char *name; unsigned long flag; const char *link; };
        static const struct flag flags[] = {
            { "NEWNS", CLONE_NEWNS, "/proc/self/ns/mnt" },
            { "NEWUSER", CLONE_NEWUSER, "/proc/self/ns/user" },
            { "NEWPID", CLONE_NEWPID, "/proc/self/ns/pid" },
            { "NEWNET", CLONE_NEWNET, "/proc/self/ns/net" },
            { "NEWUTS", CLONE_NEWUTS, "/proc/self/ns/uts" },
            { "NEWIPC", CLONE_NEWIPC, "/proc/self/ns/ipc" },
            { "NEWCGROUP", CLONE_NEWCGROUP, "/proc/self/ns/cgroup" },
            { "NEWTIME", CLONE_NEWTIME, "/proc/self/ns/time" },
        };
        #define FLAG_COUNT (sizeof flags / sizeof flags[0])

        static void raw_clone(const char *label, unsigned long clone_flags, const char *link, int asked) {
            char before[64] = {0};
            readlink(link, before, sizeof before - 1);
            errno = 0;
            long pid = syscall(SYS_clone, clone_flags | SIGCHLD, 0, 0, 0, 0);
            if (pid == 0) _exit(same_namespace(link, before) && asked ? 3 : 0);
            child_result(label, pid, errno, asked);
        }

        static void clones(void) {
            char label[64];
            raw_clone("clone-plain", 0, "/proc/self/ns/mnt", 0);
            for (size_t i = 0; i < FLAG_COUNT; i++) {
                snprintf(label, sizeof label, "clone-%s", flags[i].name);
                raw_clone(label, flags[i].flag, flags[i].link, 1);
            }
            raw_clone("clone-NEWNS-high-word", (1UL << 32) | CLONE_NEWNS, "/proc/self/ns/mnt", 1);
        }

        static void *thread_body(void *argument) { return argument; }

        static void libc(void) {
            pid_t pid = fork();
            if (pid == 0) _exit(0);
            int status = -1;
            if (pid > 0) waitpid(pid, &status, 0);
            printf("fork=%s\n", pid > 0 && status == 0 ? "ok" : strerrorname_np(errno));
            pthread_t thread;
            int e = pthread_create(&thread, NULL, thread_body, NULL);
            if (e == 0) pthread_join(thread, NULL);
            printf("pthread_create=%s\n", e == 0 ? "ok" : strerrorname_np(e));
            char *spawn_argv[] = { "true", NULL };
            e = posix_spawn(&pid, "/bin/true", NULL, NULL, spawn_argv, NULL);
            status = -1;
            if (e == 0) waitpid(pid, &status, 0);
            printf("posix_spawn=%s\n", e == 0 && status == 0 ? "ok" : e ? strerrorname_np(e) : "child-failed");
        }

        static void clone3s(void) {
            const struct flag cases[] = {
                { "plain", 0, "/proc/self/ns/mnt" },
                { "NEWNS", CLONE_NEWNS, "/proc/self/ns/mnt" },
                { "NEWTIME", CLONE_NEWTIME, "/proc/self/ns/time" },
            };
            char label[64];
            for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
                char before[64] = {0};
                readlink(cases[i].link, before, sizeof before - 1);
                struct clone_args args;
                memset(&args, 0, sizeof args);
                args.flags = cases[i].flag;
                args.exit_signal = SIGCHLD;
                errno = 0;
                long pid = syscall(SYS_clone3, &args, sizeof args);
                // A new time namespace is its children's: the child itself is in it.
                if (pid == 0) _exit(cases[i].flag && same_namespace(cases[i].link, before) ? 3 : 0);
                snprintf(label, sizeof label, "clone3-%s", cases[i].name);
                child_result(label, pid, errno, cases[i].flag != 0);
            }
            libc();
        }

        static void unshares(void) {
            char label[64];
            for (size_t i = 0; i < FLAG_COUNT; i++) {
                snprintf(label, sizeof label, "unshare-%s", flags[i].name);
                pid_t pid = fork();
                if (pid == 0) {
                    errno = 0;
                    long r = syscall(SYS_unshare, flags[i].flag);
                    report(label, r, errno);
                    _exit(0);
                }
                waitpid(pid, NULL, 0);
            }
            int self = open("/proc/self/ns/mnt", O_RDONLY | O_CLOEXEC);
            pid_t pid = fork();
            if (pid == 0) {
                errno = 0;
                long r = syscall(SYS_setns, self, CLONE_NEWNS);
                report("setns-own-mnt", r, errno);
                _exit(0);
            }
            waitpid(pid, NULL, 0);
        }

        // x86-64's other two ABIs from this 64-bit process: x32 numbers (bit 30 set) through
        // syscall, i386 numbers through int $0x80. "-before" shows where a kill struck.
        static void abi(const char *which, const char *call) {
            long r = -1;
            errno = 0;
            printf("%s-%s-before\n", which, call);
        #if defined(__x86_64__)
            int unshare = strcmp(call, "unshare") == 0;
            if (strcmp(which, "x32") == 0) {
                r = syscall(0x40000000L | (unshare ? SYS_unshare : SYS_getpid), CLONE_NEWNS);
            } else {
                // i386: getpid is 20, unshare 310 (its flags in ebx).
                __asm__ volatile("int $0x80" : "=a"(r) : "a"(unshare ? 310L : 20L), "b"((long)CLONE_NEWNS) : "memory");
                if (r < 0 && r > -4096) { errno = (int)-r; r = -1; }
            }
        #endif
            char label[64];
            snprintf(label, sizeof label, "%s-%s", which, call);
            report(label, r, errno);
        }

        // A clone of the mount at PATH, made by open_tree_attr without the masks mounted over
        // it (not recursive) and writable (MOUNT_ATTR_RDONLY cleared); FILE read or rewritten in it.
        static void clone_tree(const char *operation, const char *path, const char *file) {
            struct { uint64_t set, clr, propagation, userns_fd; } attr = { 0, 1, 0, 0 };
            errno = 0;
            long tree = syscall(SYS_open_tree_attr, AT_FDCWD, path, 1 /* OPEN_TREE_CLONE */ | O_CLOEXEC, &attr, sizeof attr);
            char label[64];
            snprintf(label, sizeof label, "open_tree_attr-%s", operation);
            if (tree < 0) { report(label, tree, errno); return; }
            int write_it = strcmp(operation, "write") == 0;
            int fd = openat((int)tree, file, write_it ? O_WRONLY | O_TRUNC : O_RDONLY);
            if (fd < 0) { report(label, fd, errno); return; }
            char buffer[256];
            long n = write_it ? write(fd, "rewritten", 9) : read(fd, buffer, sizeof buffer);
            if (n < 0) report(label, n, errno);
            else if (write_it) printf("%s=ok\n", label);
            else printf("%s=%ld bytes\n", label, n);
        }

        // The same clone made by plain open_tree (read only: it cannot clear the read-only flag).
        static void clone_tree_plain(const char *path, const char *file) {
            errno = 0;
            long tree = syscall(SYS_open_tree, AT_FDCWD, path, 1 /* OPEN_TREE_CLONE */ | O_CLOEXEC);
            if (tree < 0) { report("open_tree-read", tree, errno); return; }
            int fd = openat((int)tree, file, O_RDONLY);
            if (fd < 0) { report("open_tree-read", fd, errno); return; }
            char buffer[256];
            long n = read(fd, buffer, sizeof buffer);
            if (n < 0) report("open_tree-read", n, errno);
            else printf("open_tree-read=%ld bytes\n", n);
        }

        int main(int argc, char **argv) {
            setvbuf(stdout, NULL, _IONBF, 0);
            // 2 under a filter, 0 without one.
            FILE *status = fopen("/proc/self/status", "r");
            char line[256];
            while (status && fgets(line, sizeof line, status)) {
                if (strncmp(line, "Seccomp:\t", 9) == 0) printf("seccomp-mode=%c\n", line[9]);
            }
            if (status) fclose(status);
            const char *mode = argc > 1 ? argv[1] : "";
            if (strcmp(mode, "denied") == 0) denied();
            else if (strcmp(mode, "allowed") == 0) allowed();
            else if (strcmp(mode, "beyond") == 0) beyond();
            else if (strcmp(mode, "clone") == 0) clones();
            else if (strcmp(mode, "clone3") == 0) clone3s();
            else if (strcmp(mode, "unshare") == 0) unshares();
            else if (strcmp(mode, "open_tree_attr") == 0 && argc > 4) clone_tree(argv[2], argv[3], argv[4]);
            else if (strcmp(mode, "open_tree") == 0 && argc > 3) clone_tree_plain(argv[2], argv[3]);
            else if (argc > 2) abi(mode, argv[2]);
            return 0;
        }
        """#
}

