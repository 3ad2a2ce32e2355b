import Foundation
import Testing

/// Attacks found by a fresh pair of eyes, each reproduced for real against the built binary:
/// a root workload at the kernel's knobs (core_pattern, sysrq, sysfs, cgroup v1 release
/// agents), file handles and fanotify under a user's seccomp profile, the fallback without
/// unshare, a supervisor killed under a `--user`, a bundle whose `/dev/shm` leads out, a root
/// that shows the store, deep archives, env= targets read as code, values inside variables
/// and arguments, control bytes in errors, and short values that are file names.
@Suite(.enabled(if: getuid() == 0, "needs root"))
struct FreshEyesAttacks {
    // MARK: 1. The kernel's knobs

    static let corePattern = "/proc/sys/kernel/core_pattern"

    /// Every proc, sysfs, cgroup (v1) and binfmt_misc mount the workload sees, and under each the
    /// files that hand out root outside the sandbox: core_pattern is written (a marker, restored
    /// by the test if it ever lands), the others only opened for writing (no byte written).
    static func kernelProbe(marker: String) -> String {
        #"""
        m='\#(marker)'
        try_write() { [ -e "$1" ] || return 0; { echo "$m" > "$1"; } 2>/dev/null; echo "write:$1=$?"; }
        try_open() { [ -e "$1" ] || return 0; ( exec 3>>"$1" ) 2>/dev/null; echo "open:$1=$?"; }
        inside() {
            if [ "$1" = / ]; then echo "$2"; return; fi
            case "$2" in "$1"/*) echo "${2#"$1"}";; esac
        }
        grep -E ' - (proc|sysfs|cgroup|binfmt_misc) ' /proc/self/mountinfo | while read -r id parent dev froot mp rest; do
            fstype=${rest#* - }; fstype=${fstype%% *}
            case "$fstype" in
                proc) writes=/sys/kernel/core_pattern; opens="/sysrq-trigger /sys/kernel/modprobe /sys/kernel/core_pattern" ;;
                sysfs) writes=; opens="/kernel/uevent_helper /kernel/mm/transparent_hugepage/enabled /kernel/mm/ksm/run /kernel/profiling" ;;
                cgroup) writes=; opens=/release_agent ;;
                binfmt_misc) writes=; opens=/register ;;
                *) continue ;;
            esac
            for t in $writes; do rel=$(inside "$froot" "$t"); [ -n "$rel" ] && try_write "${mp%/}$rel"; done
            for t in $opens; do rel=$(inside "$froot" "$t"); [ -n "$rel" ] && try_open "${mp%/}$rel"; done
        done
        for p in 1 $PPID; do { echo "$m" > /proc/$p/root/proc/sys/kernel/core_pattern; } 2>/dev/null; echo "write:/proc/$p/root/proc/sys/kernel/core_pattern=$?"; done
        echo probe-done
        """#
    }

    /// A default root workload writes kernel.core_pattern (a pipe there runs as full root,
    /// outside every namespace, at the next crash), opens /proc/sysrq-trigger, sysfs knobs
    /// (uevent_helper, where the kernel has it) and cgroup v1 release agents for writing: all
    /// refused, in a plain run, in a busybox root, and with the host's tree as the root.
    @Test(arguments: ["plain", "rootfs", "rootfs /"])
    func aRootWorkloadCannotWriteTheKernelsKnobs(mode: String) throws {
        let shim = Shim()
        defer { shim.cleanUp() }
        let value = uniqueValue("knob")
        shim.create("s", value)
        let marker = "atk-core-" + randomText(16)
        let before = try String(contentsOfFile: Self.corePattern, encoding: .utf8)
        defer {
            // Never leave the host's core pattern changed by this test.
            if let now = try? String(contentsOfFile: Self.corePattern, encoding: .utf8), now.contains(marker) {
                try? before.write(toFile: Self.corePattern, atomically: false, encoding: .utf8)
            }
        }
        let probe = Self.kernelProbe(marker: marker)
        let result: ProcessResult
        switch mode {
        case "plain":
            result = shim(["run", "--secret", "s", "--secrets-dir", shim.folder("sd"), "--", "/bin/sh", "-c", probe])
        case "rootfs":
            let root = try Rootfs.make(at: shim.folder("r"))
            result = shim(["run", "--rootfs", root, "--secret", "s", "--", "/bin/sh", "-c", probe], env: ["PATH": "/bin"])
        default:
            result = shim(["run", "--rootfs", "/", "--secret", "s", "--secrets-dir", shim.folder("sd"), "--", "/bin/sh", "-c", probe])
        }
        #expect(result.status == 0, "\(mode): \(result.status) \(result.stderr)")
        #expect(result.stdout.contains("probe-done"), "\(mode): the probe did not run: \(result.output)")
        expectNoValue(result.output, [value], "the workload's output")
        let attempts = result.stdout.split(separator: "\n").filter { $0.hasPrefix("write:") || $0.hasPrefix("open:") }
        #expect(attempts.contains { $0.hasPrefix("write:") && $0.contains("core_pattern=") && !$0.contains("/root/") },
                "\(mode): no procfs core_pattern was found to attack: \(result.stdout)")
        let succeeded = attempts.filter { $0.hasSuffix("=0") }
        #expect(succeeded.isEmpty, "\(mode): the workload wrote or opened for writing: \(succeeded)")
        if !FileManager.default.fileExists(atPath: "/proc/sysrq-trigger") {
            print("note: this kernel has no /proc/sysrq-trigger; only core_pattern, modprobe and sysfs were tried")
        }
        let after = try String(contentsOfFile: Self.corePattern, encoding: .utf8)
        #expect(!after.contains(marker), "\(mode): the workload changed kernel.core_pattern to \(after)")
        // CrashAttacks changes the pattern for its own moments; anything else is a change.
        if !after.contains("core.%e.%p") && !before.contains("core.%e.%p") {
            #expect(after == before, "\(mode): kernel.core_pattern changed: \(before) -> \(after)")
        }
    }

    // MARK: 2. File handles and fanotify

    static let dockerProfile = "/usr/share/containers/seccomp.json"

    /// fanotify_init; open_by_handle_at with a handle of "/" from name_to_handle_at; and
    /// Shocker's handle (inode 2, generation 0: the root of the file system, wherever the
    /// workload's own root is), from which it reads `argv[2]` (the store's key, relative to
    /// that file system's root) and prints only how many bytes it got.
    static let handleProbeSource = #"""
        #define _GNU_SOURCE
        #include <errno.h>
        #include <fcntl.h>
        #include <stdio.h>
        #include <string.h>
        #include <sys/fanotify.h>
        #include <unistd.h>
        int main(int argc, char **argv) {
            long r = -1;
            int e = 0;
            if (strcmp(argv[1], "fanotify") == 0) {
                errno = 0;
                r = fanotify_init(FAN_CLASS_NOTIF, O_RDONLY);
                e = errno;
            } else if (strcmp(argv[1], "nth") == 0) {
                struct { struct file_handle h; unsigned char bytes[128]; } fh;
                memset(&fh, 0, sizeof fh);
                fh.h.handle_bytes = 128;
                int mount_id = 0;
                if (name_to_handle_at(AT_FDCWD, "/", &fh.h, &mount_id, 0) != 0) printf("name_to_handle_at errno=%d\n", errno);
                int at = open("/", O_RDONLY | O_DIRECTORY);
                errno = 0;
                r = open_by_handle_at(at, &fh.h, O_RDONLY);
                e = errno;
            } else if (strcmp(argv[1], "shocker") == 0) {
                struct { struct file_handle h; unsigned char bytes[8]; } fh;
                memset(&fh, 0, sizeof fh);
                fh.h.handle_bytes = 8;
                fh.h.handle_type = 1;
                fh.bytes[0] = 2;
                int at = open("/", O_RDONLY | O_DIRECTORY);
                errno = 0;
                r = open_by_handle_at(at, &fh.h, O_RDONLY | O_DIRECTORY);
                e = errno;
                if (r >= 0 && argc > 2) {
                    int key = openat((int)r, argv[2], O_RDONLY);
                    if (key >= 0) {
                        unsigned char buffer[64];
                        printf("key-read=%ld\n", (long)read(key, buffer, sizeof buffer));
                    } else {
                        printf("key-open errno=%d\n", errno);
                    }
                }
            }
            printf("%s=%ld errno=%d\n", argv[1], r < 0 ? -1L : 0L, r < 0 ? e : 0);
            return 0;
        }
        """#

    /// `--cap-add SYS_ADMIN` (the default filter) calls fanotify_init; `--cap-add
    /// DAC_READ_SEARCH` under Docker's profile (which allows open_by_handle_at with that
    /// capability) opens the file system's root by a handle, Shocker's way, to read the host's
    /// master key from a `--rootfs`; SYS_ADMIN under Docker's profile calls fanotify_init: EPERM
    /// every time. The same probe as root on the host succeeds (the control).
    @Test(.enabled(if: FileManager.default.fileExists(atPath: "/usr/bin/gcc") && FileManager.default.fileExists(atPath: dockerProfile) && hasBusybox,
                   "needs gcc, busybox and /usr/share/containers/seccomp.json"),
          arguments: ["plain", "rootfs"])
    func fileHandlesAndFanotifyAreRefused(mode: String) throws {
        let shim = Shim()
        defer { shim.cleanUp() }
        let value = uniqueValue("handle")
        shim.create("s", value)
        let source = shim.path + "/probe.c", probe = shim.path + "/probe"
        try Self.handleProbeSource.write(toFile: source, atomically: true, encoding: .utf8)
        let built = shell("gcc -O0 -static -o '\(probe)' '\(source)'")
        try #require(built.status == 0, "gcc: \(built.output)")
        // The key's path from its file system's root, as Shocker's handle sees it.
        let realKey = URL(fileURLWithPath: shim.root + "/master.key").resolvingSymlinksInPath().path
        let mountPoint = shell("stat -c %m '\(realKey)'").output.trimmingCharacters(in: .whitespacesAndNewlines)
        let relativeKey = String(realKey.dropFirst(mountPoint == "/" ? 1 : mountPoint.count + 1))
        // The control: root on the host gets all three, and Shocker's handle reaches the key.
        let control = shell("'\(probe)' fanotify; '\(probe)' nth; '\(probe)' shocker '\(relativeKey)'")
        try #require(control.output.contains("fanotify=0 errno=0") && control.output.contains("shocker=0 errno=0"), "control: \(control.output)")
        let controlReadsTheKey = control.output.contains("key-read=32")
        if !controlReadsTheKey { print("note: Shocker's inode-2 handle does not reach \(relativeKey) here: \(control.output)") }

        var command = [probe]
        var runPrefix = ["run"]
        var env: [String: String] = [:]
        if mode == "rootfs" {
            let root = try Rootfs.make(at: shim.folder("r"))
            #expect(shell("cp '\(probe)' '\(root)/bin/probe'").status == 0)
            command = ["/bin/probe"]
            runPrefix += ["--rootfs", root]
            env["PATH"] = "/bin"
        } else {
            runPrefix += ["--secrets-dir", shim.folder("sd")]
        }
        let cases: [(flags: [String], calls: [String])] = [
            (["--cap-add", "SYS_ADMIN"], ["fanotify"]),
            (["--cap-add", "DAC_READ_SEARCH", "--seccomp", Self.dockerProfile], ["nth", "shocker"]),
            (["--cap-add", "SYS_ADMIN", "--seccomp", Self.dockerProfile], ["fanotify"]),
            (["--cap-add", "ALL", "--seccomp", Self.dockerProfile], ["fanotify", "nth", "shocker"]),
            (["--cap-add", "DAC_READ_SEARCH"], ["nth", "shocker"]),
        ]
        for (flags, calls) in cases {
            let script = calls.map { call in
                ([command[0], call] + (call == "shocker" ? [relativeKey] : [])).map { "'\($0)'" }.joined(separator: " ")
            }.joined(separator: "; ")
            let result = shim(runPrefix + flags + ["--secret", "s", "--", "/bin/sh", "-c", script], env: env)
            #expect(result.status == 0, "\(mode) \(flags): \(result.status) \(result.stderr)")
            expectNoValue(result.output, [value], "the workload's output")
            for call in calls {
                #expect(result.stdout.contains("\(call)=-1 errno=\(EPERM)\n"), "\(mode) \(flags): \(call) was not refused with EPERM: \(result.stdout)")
            }
            #expect(!result.stdout.contains("key-read="), "\(mode) \(flags): the workload read the host's master key by a file handle: \(result.stdout)")
        }
    }

    // MARK: 3. Without unshare

    /// Under an outer `run` whose default filter forbids unshare, the inner `run` (a store of
    /// its own) may write only into an empty tmpfs mounted at the secrets dir, and only if its
    /// workload cannot use the store for more than its grant: (a) a tmpfs mount that holds a file
    /// already is refused, nothing written; (b) an empty one, but a store holding another secret
    /// and a root workload: refused (an exported store is the way); (c) that exported store:
    /// works. (d) An empty folder of a tmpfs that holds other files, bind-mounted at the secrets
    /// dir (a mount root, but a shared file system): refused, nothing written there.
    @Test func withoutUnshareOnlyAnEmptyTmpfsAndAStoreOfTheGrantsAreUsed() throws {
        let outer = Shim()
        defer { outer.cleanUp() }
        let inner = Shim()
        defer { inner.cleanUp() }
        let granted = uniqueValue("grant"), other = uniqueValue("other")
        inner.create("g", granted)
        inner.create("other", other)
        let exported = inner.path + "/exported"
        let export = inner(["secret", "export", "g", "-o", exported])
        try #require(export.status == 0, "secret export: \(export.output)")
        let expectedHash = shell("printf '%s' '\(granted)' | sha256sum").output.split(separator: " ").first.map(String.init) ?? "?"
        let values = [granted, other]

        func nested(store: String, directory: String) -> ProcessResult {
            outer(["run", "--seccomp", "default", "--", "/usr/bin/env", "SECRETSHIM_ROOT=\(store)", "SECRETSHIM_STATE_DIR=\(inner.state)",
                   Shim.binary, "--root", store, "run", "--secret", "g", "--secrets-dir", directory, "--", "sha256sum", directory + "/g"])
        }
        let tmpfs = try PrivateTmpfs(at: outer.path + "/t", options: "size=4m,mode=0755")
        defer { tmpfs.unmount() }

        // (a) A tmpfs mount root that already holds a file.
        let occupied = try PrivateTmpfs(at: tmpfs.path + "/occupied", options: "size=1m,mode=0755")
        defer { occupied.unmount() }
        try "someone else's\n".write(toFile: occupied.path + "/existing", atomically: false, encoding: .utf8)
        let a = nested(store: exported, directory: occupied.path)
        #expect(a.status == 125, "(a) \(a.status) \(a.stdout) \(a.stderr)")
        expectOneLineError(a, values: values)
        expectNoValue(a.stdout, values, "(a) stdout")
        #expect(try FileManager.default.contentsOfDirectory(atPath: occupied.path) == ["existing"], "(a) written into a tmpfs others share")
        #expect((try? String(contentsOfFile: occupied.path + "/existing", encoding: .utf8)) == "someone else's\n")

        // (b) An empty tmpfs mount root, but the whole store within a root workload's reach.
        let emptyB = try PrivateTmpfs(at: tmpfs.path + "/empty-b", options: "size=1m,mode=0755")
        defer { emptyB.unmount() }
        let b = nested(store: inner.root, directory: emptyB.path)
        #expect(b.status == 125, "(b) \(b.status) \(b.stdout) \(b.stderr)")
        expectOneLineError(b, contains: "exported store", values: values)
        expectNoValue(b.stdout, values, "(b) stdout")
        #expect(try FileManager.default.contentsOfDirectory(atPath: emptyB.path).isEmpty, "(b) written although refused")

        // (c) The same with `secret export g` as the store: used.
        let emptyC = try PrivateTmpfs(at: tmpfs.path + "/empty-c", options: "size=1m,mode=0755")
        defer { emptyC.unmount() }
        let c = nested(store: exported, directory: emptyC.path)
        #expect(c.status == 0, "(c) \(c.status) \(c.stderr)")
        #expect(c.stdout.hasPrefix(expectedHash + " "), "(c) the workload did not get its secret: \(c.stdout)")
        expectNoValue(c.output, values, "(c) output")

        // (d) An empty folder of a tmpfs that holds other files, bound at the secrets dir.
        let shared = tmpfs.path + "/shared"
        try FileManager.default.createDirectory(atPath: shared + "/sub", withIntermediateDirectories: true)
        try "another tenant\n".write(toFile: shared + "/other-file", atomically: false, encoding: .utf8)
        let bound = outer.folder("bound")
        let bind = shell("mount --bind '\(shared)/sub' '\(bound)'")
        try #require(bind.status == 0, "mount --bind: \(bind.output)")
        defer { if shell("umount '\(bound)'").status != 0 { _ = shell("umount -l '\(bound)'") } }
        let d = nested(store: exported, directory: bound)
        #expect(d.status == 125, "(d) a bind-mounted folder of a shared tmpfs was used: \(d.status) \(d.stdout) \(d.stderr)")
        if d.status != 0 { expectOneLineError(d, values: values) }
        expectNoValue(d.stdout, values, "(d) stdout")
        let left = try FileManager.default.contentsOfDirectory(atPath: shared + "/sub")
        #expect(left.isEmpty, "(d) the secret was written into a folder of a shared tmpfs, where it outlives the workload: \(left)")
        for refused in [occupied.path, emptyB.path, shared] { expectNoFileHolds(values, under: refused) }
    }

    // MARK: 4. The supervisor killed

    /// Whether `pid` is gone (or a zombie: dead, waiting for its reaper).
    static func isDead(_ pid: pid_t) -> Bool {
        guard let stat = try? String(contentsOfFile: "/proc/\(pid)/stat", encoding: .utf8),
              let close = stat.lastIndex(of: ")") else { return true }
        let state = stat[stat.index(after: close)...].split(separator: " ").first
        return state == "Z" || state == "X"
    }

    static func children(of pid: pid_t) -> [pid_t] {
        ((try? String(contentsOfFile: "/proc/\(pid)/task/\(pid)/children", encoding: .utf8)) ?? "")
            .split(separator: " ").compactMap { pid_t($0) }
    }

    /// The workload's real uid (`/proc/PID/status`).
    static func uid(of pid: pid_t) -> String? {
        guard let status = try? String(contentsOfFile: "/proc/\(pid)/status", encoding: .utf8) else { return nil }
        return status.split(separator: "\n").first { $0.hasPrefix("Uid:") }?.split(separator: "\t").dropFirst().first.map(String.init)
    }

    /// A `--rootfs --user 65534` workload (and a bundle's, and one that ignores every catchable
    /// signal): kill -9 of its supervising shim takes the workload with it within seconds, and
    /// `secret rm` then succeeds.
    @Test(.enabled(if: hasBusybox && hasRunc, "needs busybox and runc"), arguments: ["rootfs", "rootfs, signals ignored", "bundle"])
    func aWorkloadDiesWithItsSupervisor(mode: String) throws {
        let shim = Shim()
        defer { shim.cleanUp() }
        let value = uniqueValue("orphan")
        shim.create("held", value)
        let arguments: [String]
        switch mode {
        case "rootfs":
            let root = try Rootfs.make(at: shim.folder("r"))
            arguments = ["run", "--rootfs", root, "--user", "65534", "--secret", "held", "--", "sleep", "30"]
        case "rootfs, signals ignored":
            let root = try Rootfs.make(at: shim.folder("r"))
            arguments = ["run", "--rootfs", root, "--user", "65534", "--secret", "held", "--", "sh", "-c",
                         "trap '' HUP INT QUIT TERM USR1 USR2 PIPE ALRM; sleep 30; sleep 30"]
        default:
            let bundle = try FreshEyes.bundle(in: shim, args: ["sleep", "30"]) { config in
                var process = config["process"] as! [String: Any]
                process["user"] = ["uid": 65534, "gid": 65534]
                config["process"] = process
            }
            arguments = ["run", "--bundle", bundle, "--secret", "held"]
        }
        let supervisor = shim.start(arguments, env: ["PATH": "/bin"])
        defer { supervisor.stop() }
        var workload: pid_t = 0
        let started = waitUntil(timeout: 15) {
            guard let child = Self.children(of: supervisor.pid).first, ["sleep", "sh"].contains(commandName(child) ?? "") else { return false }
            workload = child
            return true
        }
        try #require(started, "\(mode): the workload never started: \(supervisor.stderr)")
        defer { if !Self.isDead(workload) { kill(workload, SIGKILL) } }
        #expect(Self.uid(of: workload) == "65534", "\(mode): the workload's uid: \(Self.uid(of: workload) ?? "?")")

        supervisor.signal(SIGKILL)
        #expect(supervisor.wait(timeout: 10), "\(mode): the shim did not die")
        let died = waitUntil(timeout: 5) { Self.isDead(workload) }
        #expect(died, "\(mode): the workload (pid \(workload), \(commandName(workload) ?? "?")) outlived its supervisor by 5 s")
        var rm = ProcessResult(status: -1, stdout: "", stderr: "", timedOut: false)
        let removed = waitUntil(timeout: 5, every: 200_000) {
            rm = shim(["secret", "rm", "held"])
            return rm.status == 0
        }
        #expect(removed, "\(mode): secret rm after the supervisor died: \(rm.status) \(rm.stderr)")
        expectNoValue(supervisor.stdout + supervisor.stderr + rm.output, [value], "output")
        expectNoFileHolds([value], under: shim.path)
    }

    // MARK: 5. A bundle's /dev/shm

    /// A bundle binds its own folder `devsrc` at /dev, where `shm` is a link to a host file
    /// (absolute or by "..") or folder: the shim's chmod 1777 of /dev/shm never reaches it.
    @Test(.enabled(if: hasBusybox && hasRunc, "needs busybox and runc"), arguments: ["file", "file by ..", "folder"])
    func aBundlesDevShmLinkDoesNotChmodTheHost(target: String) throws {
        let shim = Shim()
        defer { shim.cleanUp() }
        let value = uniqueValue("shm")
        shim.create("s", value)
        let victim = target == "folder" ? shim.folder("host-folder", mode: 0o755) : shim.path + "/host-file"
        let mode: mode_t = target == "folder" ? 0o755 : 0o644
        if target != "folder" {
            try "host data\n".write(toFile: victim, atomically: false, encoding: .utf8)
            chmod(victim, mode)
        }
        let bundle = try FreshEyes.bundle(in: shim, args: ["sh", "-c", "ls /dev >/dev/null; echo RAN"]) { config in
            var mounts = config["mounts"] as! [[String: Any]]
            for index in mounts.indices where mounts[index]["destination"] as? String == "/dev" {
                mounts[index] = ["destination": "/dev", "type": "bind", "source": "devsrc", "options": ["rbind"]]
            }
            config["mounts"] = mounts
        }
        let devsrc = bundle + "/devsrc"
        try FileManager.default.createDirectory(atPath: devsrc, withIntermediateDirectories: true)
        // bundle = <shim>/b/bundle: from devsrc, "../../../" is the shim's folder.
        let link = target == "file by .." ? "../../../host-file" : victim
        try FileManager.default.createSymbolicLink(atPath: devsrc + "/shm", withDestinationPath: link)
        let before = try FileManager.default.attributesOfItem(atPath: victim)

        let result = shim(["run", "--bundle", bundle, "--secret", "s"])
        if result.status == 0 {
            #expect(result.stdout == "RAN\n", "\(result.stdout)")
        } else {
            #expect(result.status == 125, "\(target): \(result.status) \(result.stderr)")
            expectOneLineError(result, values: [value])
        }
        expectNoValue(result.output, [value], "output")
        let after = try FileManager.default.attributesOfItem(atPath: victim)
        let permissions = (after[.posixPermissions] as? NSNumber)?.uint16Value ?? 0
        #expect(permissions == UInt16(mode), "\(target): the host's \(victim) is now mode \(String(permissions, radix: 8))")
        #expect(after[.ownerAccountID] as? NSNumber == before[.ownerAccountID] as? NSNumber, "\(target): owner changed")
        if target != "folder" {
            #expect((try? String(contentsOfFile: victim, encoding: .utf8)) == "host data\n")
        } else {
            #expect(try FileManager.default.contentsOfDirectory(atPath: victim).isEmpty, "written into the host's folder")
        }
        expectNoFileHolds([value], under: shim.path)
    }

    // MARK: 6. A root that shows the store

    /// The store (key, database, launch records) and the state dir are inside the workload's
    /// root: `--rootfs /`, `--rootfs` of the store's parent, a bundle that (r)binds the store's
    /// parent, `/`, or a link to the parent. The workload reads no key and lists no store file
    /// and no lease; the other secret's value never shows.
    @Test(.enabled(if: hasBusybox && hasRunc, "needs busybox and runc"),
          arguments: ["rootfs /", "rootfs parent", "bundle rbind parent ro", "bundle bind parent rw", "bundle rbind /", "bundle bind link to parent"])
    func aRootThatShowsTheStoreHidesIt(mode: String) throws {
        let shim = Shim()
        defer { shim.cleanUp() }
        let a = uniqueValue("a"), b = uniqueValue("b")
        shim.create("a", a)
        shim.create("b", b)
        // Where the shim's folder (store and state) appears inside the root.
        let seen: String
        var arguments: [String]
        var env: [String: String] = [:]
        func bind(_ source: String, at destination: String, _ options: [String]) throws -> String {
            try FreshEyes.bundle(in: shim, args: ["true"]) { config in
                var mounts = config["mounts"] as! [[String: Any]]
                mounts.append(["destination": destination, "type": "bind", "source": source, "options": options])
                config["mounts"] = mounts
            }
        }
        switch mode {
        case "rootfs /":
            seen = shim.path
            arguments = ["run", "--rootfs", "/", "--secrets-dir", shim.folder("sd")]
        case "rootfs parent":
            // The shim's folder made a busybox root around its store.
            let made = try Rootfs.make(at: shim.folder("tmp-root"))
            let moved = shell("cd '\(made)' && cp -a bin etc proc dev tmp '\(shim.path)/'")
            try #require(moved.status == 0, "\(moved.output)")
            seen = ""
            arguments = ["run", "--rootfs", shim.path]
            env["PATH"] = "/bin"
        case "bundle rbind parent ro":
            seen = "/mnt/p"
            arguments = ["run", "--bundle", try bind(shim.path, at: "/mnt/p", ["rbind", "ro"])]
        case "bundle bind parent rw":
            seen = "/mnt/p"
            arguments = ["run", "--bundle", try bind(shim.path, at: "/mnt/p", ["bind"])]
        case "bundle rbind /":
            seen = "/host" + shim.path
            arguments = ["run", "--bundle", try bind("/", at: "/host", ["rbind", "ro"])]
        default:
            try FileManager.default.createSymbolicLink(atPath: shim.path + "/alias", withDestinationPath: shim.path)
            seen = "/mnt/p"
            arguments = ["run", "--bundle", try bind(shim.path + "/alias", at: "/mnt/p", ["rbind", "ro"])]
        }
        let store = seen + "/store", state = seen + "/state"
        let probe = """
            cat '\(store)/master.key' >/dev/null 2>&1; echo key=$?
            cat '\(store)/secrets.db' >/dev/null 2>&1; echo db=$?
            cat '\(store)/launch/b' >/dev/null 2>&1; echo record=$?
            echo listing:; ls -a '\(store)' '\(store)/launch' '\(state)' 2>/dev/null; echo end-listing
            """
        let result = shim(arguments + ["--secret", "a", "--", "/bin/sh", "-c", probe], env: env)
        #expect(result.status == 0, "\(mode): \(result.status) \(result.stderr)")
        let found = statuses(result.stdout)
        for step in ["key", "db", "record"] {
            #expect(found[step] != nil && found[step] != "0", "\(mode): the workload read the store's \(step): \(result.stdout)")
        }
        let listing = result.stdout.components(separatedBy: "listing:\n").last?.components(separatedBy: "end-listing").first ?? ""
        for name in ["master.key", "secrets.db", "synced", ".lease"] {
            #expect(!listing.contains(name), "\(mode): the workload lists the store or the leases: \(listing)")
        }
        expectNoValue(result.output, [a, b], "the workload's output")
        #expect(FileManager.default.fileExists(atPath: shim.root + "/master.key"))
        #expect(shim(["secret", "inspect", "--show-secret", "b"]).stdout.contains(b), "the store was damaged")
    }

    // MARK: 7. Deep archives

    /// A tar of a tar of a tar... 200 deep (512-byte blocks, a few hundred KB), gzip'd outside or
    /// at every level, and a gzip of a gzip 200 deep: scan refuses in one line (exit 2), never
    /// crashes (no 128+signal), never prints the value at the bottom.
    @Test(arguments: ["tar^200, gzip'd", "(tar, gzip)^200", "gzip^200"])
    func scanOfADeeplyNestedArchiveIsOneLine(shape: String) throws {
        let shim = Shim()
        defer { shim.cleanUp() }
        let value = uniqueValue("deep")
        shim.create("s", value)
        let work = shim.folder("work"), scanned = shim.folder("scanned")
        try value.write(toFile: work + "/l0", atomically: false, encoding: .utf8)
        let loop: String
        switch shape {
        case "tar^200, gzip'd":
            loop = "i=0; cur=l0; while [ $i -lt 200 ]; do i=$((i+1)); tar -b 1 -cf l$i.tar $cur && rm -f $cur || exit 1; cur=l$i.tar; done; gzip -n $cur && mv $cur.gz '\(scanned)/deep.tar.gz'"
        case "(tar, gzip)^200":
            loop = "i=0; cur=l0; while [ $i -lt 200 ]; do i=$((i+1)); tar -b 1 -czf l$i.tgz $cur && rm -f $cur || exit 1; cur=l$i.tgz; done; mv $cur '\(scanned)/deep.tgz'"
        default:
            loop = "i=0; while [ $i -lt 200 ]; do i=$((i+1)); gzip -n l0 && mv l0.gz l0 || exit 1; done; mv l0 '\(scanned)/deep.gz'"
        }
        let made = shell("cd '\(work)' && " + loop, timeout: 120)
        try #require(made.status == 0, "making the archive: \(made.output)")
        let size = shell("du -sk '\(scanned)'").output
        for format in ["table", "json"] {
            let result = shim(["scan", "--format", format, scanned], timeout: 60)
            #expect(!result.timedOut, "\(shape): scan did not return")
            #expect(result.status == 2, "\(shape) (\(size)): exit \(result.status): \(result.stderr.prefix(500))")
            #expect(result.status < 128, "\(shape): scan crashed (signal \(result.status - 128))")
            expectOneLineError(result, contains: shape == "gzip^200" ? nil : "nested", values: [value])
            expectNoValue(result.stdout, [value], "scan's stdout")
        }
    }

    // MARK: 8. Variables read as code, values in the environment and argv

    /// `env=BASH_ENV`, `env=ENV`, `env=LD_PRELOAD` (and the other loader variables) would have
    /// the shell or ld.so read the secret file as code (and print it in their errors): refused
    /// in one line, exit 125. A value inside a variable (a URL) or inside an argument: refused;
    /// `--allow-env-leak` lets both through.
    @Test func variablesReadAsCodeAndValuesInsideVariablesOrArguments() throws {
        let shim = Shim()
        defer { shim.cleanUp() }
        let value = uniqueValue("leak")
        shim.create("a", value)
        let sd = shim.folder("sd")
        for variable in ["BASH_ENV", "ENV", "LD_PRELOAD", "LD_AUDIT", "LD_LIBRARY_PATH"] {
            let result = shim(["run", "--secret", "a,env=\(variable)", "--secrets-dir", sd, "--", "bash", "-c", ":"])
            #expect(result.status == 125, "env=\(variable): \(result.status) \(result.output)")
            expectOneLineError(result, values: [value])
            expectNoValue(result.stdout, [value], "stdout (env=\(variable))")
        }
        #expect(value.utf8.count >= 16)
        let url = "URL=postgres://u:\(value)@h"
        let inEnv = shim(["run", "-e", url, "--secret", "a", "--secrets-dir", sd, "--", "true"])
        #expect(inEnv.status == 125, "a value inside a variable: \(inEnv.status) \(inEnv.stderr)")
        expectOneLineError(inEnv, contains: "environment", values: [value])
        let inArgv = shim(["run", "--secret", "a", "--secrets-dir", sd, "--", "echo", "prefix\(value)suffix"])
        #expect(inArgv.status == 125, "a value inside an argument: \(inArgv.status) \(inArgv.stdout)")
        expectOneLineError(inArgv, contains: "argument", values: [value])
        expectNoValue(inArgv.stdout, [value], "stdout")
        // Both through with --allow-env-leak (a command that prints nothing).
        let allowed = shim(["run", "--allow-env-leak", "-e", url, "--secret", "a", "--secrets-dir", sd, "--", "true", "prefix\(value)suffix"])
        #expect(allowed.status == 0, "--allow-env-leak: \(allowed.status) \(allowed.stderr)")
        expectNoValue(allowed.output, [value], "output with --allow-env-leak")
    }

    // MARK: 9. Control bytes in errors

    /// The raw control bytes (0x00-0x1f, 0x7f) of `text`, other than its one final newline.
    static func controlBytes(_ text: String) -> [UInt8] {
        var bytes = Array(text.utf8)
        if bytes.last == 0x0a { bytes.removeLast() }
        return bytes.filter { $0 < 0x20 || $0 == 0x7f }
    }

    /// A name or a spec with a carriage return, a newline, an escape sequence or a bell: every
    /// error is exactly one line ending in a newline, with no raw control byte in it.
    @Test func errorsCarryNoRawControlBytes() throws {
        let shim = Shim()
        defer { shim.cleanUp() }
        let value = uniqueValue("ctl")
        shim.create("a", value)
        let sd = shim.folder("sd")
        let cases: [[String]] = [
            ["secret", "create", "x\r\ny", "-"],
            ["run", "--secret", "a\u{1b}[2J", "--", "true"],
            ["secret", "inspect", "\u{1b}]0;title\u{07}"],
            ["secret", "rm", "a\nb"],
            ["run", "--secret", "a", "--secrets-dir", sd, "--user", "nob\nody", "--", "true"],
            ["run", "--secret", "a", "--secrets-dir", sd, "-e", "A\n=1", "--", "true"],
            ["run", "--cap-add", "SYS\u{07}\u{7f}", "--", "true"],
            ["run", "--secret", "a", "--secrets-dir", sd, "--", "/nonexistent\u{1b}[2J"],
            ["run", "--bogus\u{1b}[31m", "--", "true"],
        ]
        for arguments in cases {
            let result = shim(arguments, stdin: Data(uniqueValue("in").utf8), timeout: 20)
            let shown = arguments.map { $0.debugDescription }.joined(separator: " ")
            #expect(result.status != 0, "\(shown) succeeded")
            #expect(result.stderr.utf8.last == 0x0a && result.stderr.utf8.filter { $0 == 0x0a }.count == 1,
                    "\(shown): not exactly one line: \(result.stderr.debugDescription)")
            #expect(Self.controlBytes(result.stderr).isEmpty, "\(shown): raw control bytes \(Self.controlBytes(result.stderr)) in \(result.stderr.debugDescription)")
            #expect(result.stderr.hasPrefix("secretshim: "), "\(shown): \(result.stderr.debugDescription)")
            expectNoValue(result.output, [value], "output of \(shown)")
        }
    }

    // MARK: 10. Short values that are file names

    /// Whether `value` appears in `line` as a whole path component: bounded on each side by the
    /// line's ends or a character no name is made of (a slash, `!`, a space, a quote, a colon).
    static func holdsComponent(_ line: Substring, _ value: String) -> Bool {
        let characters = Array(line), needle = Array(value)
        guard characters.count >= needle.count else { return false }
        func isNameCharacter(_ character: Character) -> Bool { character.isLetter || character.isNumber || "._-".contains(character) }
        for start in 0...(characters.count - needle.count) where Array(characters[start..<(start + needle.count)]) == needle {
            let before = start == 0 || !isNameCharacter(characters[start - 1])
            let end = start + needle.count
            let after = end == characters.count || !isNameCharacter(characters[end])
            if before && after { return true }
        }
        return false
    }

    /// A secret of 7 bytes that is also a file name under a scanned folder (a FIFO, an empty
    /// file beside a folder `VALUEx`, a file holding the value, a folder holding a FIFO and a
    /// device, tar entries, a gzip'd tar's entry): no line scan prints, in either format,
    /// holds the value as a whole path component.
    @Test(arguments: ["fifo", "empty file and folder", "file holding it", "folder with fifo and device", "tar entries", "gzip'd tar entry"])
    func scanNeverPrintsAShortValueThatIsAFileName(layout: String) throws {
        let shim = Shim()
        defer { shim.cleanUp() }
        let value = "h" + randomText(6)
        shim.create("short", value)
        let d = shim.folder("d"), src = shim.folder("src")
        let setUp: String
        switch layout {
        case "fifo": setUp = "mkfifo d/\(value)"
        case "empty file and folder": setUp = "mkdir d/\(value)x && : > d/\(value)x/\(value) && : > d/\(value)"
        case "file holding it": setUp = "printf %s \(value) > d/\(value)"
        case "folder with fifo and device":
            setUp = "mkdir d/\(value) && mkfifo d/\(value)/fifo && mknod d/\(value)/dev c 1 3 && printf %s \(value) > d/\(value)/f"
        case "tar entries":
            setUp = "mkdir -p src/top src/\(value) src/bare && printf %s \(value) > src/\(value)/f && printf %s \(value) > src/top/\(value) && printf %s \(value) > src/bare/\(value) && tar cf d/x.tar -C src \(value) top && tar cf d/y.tar -C src/bare \(value)"
        default:
            setUp = "mkdir src/bare && printf %s \(value) > src/bare/\(value) && tar cf - -C src/bare \(value) | gzip -n > d/\(value).gz"
        }
        let made = shell("cd '\(shim.path)' && " + setUp)
        try #require(made.status == 0, "\(layout): \(made.output)")
        for format in ["table", "json"] {
            let result = shim(["scan", "--format", format, d], timeout: 30)
            #expect(!result.timedOut, "\(layout): scan did not return")
            #expect(result.status < 128, "\(layout): scan crashed: \(result.status)")
            for line in result.output.split(separator: "\n") where Self.holdsComponent(line, value) {
                Issue.record("\(layout) (\(format)): a 7-byte value is printed as a path component: \(line)")
            }
            for line in result.stderr.split(separator: "\n") {
                #expect(line.hasPrefix("secretshim: "), "\(layout): \(line)")
            }
        }
    }
}

/// Helpers of this file only (the harness's `Rootfs.makeBundle` takes no edit).
enum FreshEyes {
    /// A `runc spec` bundle around a busybox root under a new folder of `shim`'s, its process
    /// `args`, then `edit` applied to config.json.
    static func bundle(in shim: Shim, args: [String], edit: (inout [String: Any]) -> Void) throws -> String {
        let bundle = try Rootfs.makeBundle(at: shim.folder("b"), args: args)
        let path = URL(fileURLWithPath: bundle + "/config.json")
        var config = try JSONSerialization.jsonObject(with: Data(contentsOf: path)) as! [String: Any]
        edit(&config)
        try JSONSerialization.data(withJSONObject: config).write(to: path)
        return bundle
    }
}
