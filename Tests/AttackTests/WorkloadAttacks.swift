import Foundation
import Testing

/// The workload as the attacker: root inside, reaching for the store, the key, the leases,
/// a sibling workload's secrets, its own secrets tmpfs, or capabilities it should not hold.
@Suite(.enabled(if: runningAsRoot, "run needs root"))
struct WorkloadAttacks {
    /// A root workload granted `a` asks the shim itself for `b`, reads the key, and tries to
    /// plant or delete leases: the store, the key and the state dir are hidden from it.
    @Test(arguments: [[], ["--cap-add", "ALL"]])
    func aRootWorkloadCannotReachTheStoreTheKeyOrTheLeases(extra: [String]) throws {
        let shim = Shim()
        defer { shim.cleanUp() }
        let a = uniqueValue("a"), b = uniqueValue("b")
        shim.create("a", a)
        shim.create("b", b)
        let sd = shim.folder("sd"), sibling = shim.folder("sibling")
        // Another workload, whose lease the attacker tries to delete.
        let holder = shim.start(["run", "--name", "holder", "--secret", "b", "--secrets-dir", sibling, "--", "sleep", "30"])
        defer { holder.stop() }
        #expect(waitUntil(timeout: 10) { leaseFiles(in: shim.state).contains("\(holder.pid).lease") && commandName(holder.pid) == "sleep" })
        let bin = Shim.binary, root = shim.root, state = shim.state
        let script = """
            \(bin) secret inspect --show-secret b; echo inspect=$?
            \(bin) --root \(root) secret inspect --show-secret b; echo inspect-root=$?
            \(bin) --root \(root) --key-file \(root)/master.key secret inspect --show-secret b; echo inspect-key=$?
            \(bin) secret ls; echo ls=$?
            cat \(root)/master.key >/dev/null 2>&1; echo key=$?
            cat /proc/1/root\(root)/master.key >/dev/null 2>&1; echo key-via-init=$?
            cat /proc/$PPID/root\(root)/master.key >/dev/null 2>&1; echo key-via-parent=$?
            cat \(root)/secrets.db >/dev/null 2>&1; echo db=$?
            ls \(root)/launch >/dev/null 2>&1; echo launch=$?
            touch \(state)/planted.lease 2>/dev/null; echo plant=$?
            rm -f \(state)/\(holder.pid).lease 2>/dev/null; echo delete=$?
            mv \(state) \(state).moved 2>/dev/null; echo move=$?
            rm -rf \(root) 2>/dev/null; echo wipe=$?
            """
        let result = shim(["run"] + extra + ["--secret", "a", "--secrets-dir", sd, "--", "/bin/sh", "-c", script])
        #expect(result.status == 0, "\(result.stderr)")
        expectNoValue(result.output, [b], "the workload's output")
        let found = statuses(result.stdout)
        for step in ["inspect", "inspect-root", "inspect-key", "key", "key-via-init", "key-via-parent", "db", "launch", "plant", "move"] {
            #expect(found[step] != nil && found[step] != "0", "\(extra) \(step) succeeded: \(result.stdout)")
        }
        // Whatever the workload saw, the host's store, key and leases are untouched.
        #expect(!FileManager.default.fileExists(atPath: state + "/planted.lease"))
        #expect(leaseFiles(in: state).contains("\(holder.pid).lease"), "the sibling's lease was deleted")
        #expect(!FileManager.default.fileExists(atPath: state + ".moved"))
        #expect(FileManager.default.fileExists(atPath: root + "/master.key"))
        let inspect = shim(["secret", "inspect", "--show-secret", "b"])
        #expect(inspect.status == 0 && inspect.stdout.contains("SecretData"), "the store was damaged: \(inspect.stderr)")
        let ps = shim(["ps", "--format", "json"])
        #expect(ps.stdout.contains("\"PID\":\(holder.pid)"), "ps lost the sibling: \(ps.stdout)")
    }

    /// Workload B holds `b`; workload A (root, the same capabilities) reaches for B's files
    /// and memory through /proc. A Landlock domain per workload stops it; a `--rootfs`
    /// workload does not even see B's pid; an ordinary user is stopped by the kernel.
    @Test(.enabled(if: hasBusybox && hasSetpriv, "needs busybox and setpriv"))
    func aSiblingWorkloadCannotReadAnothersSecretsMemoryOrEnvironment() throws {
        let shim = Shim()
        defer { shim.cleanUp() }
        let a = uniqueValue("a"), b = uniqueValue("b"), mark = uniqueValue("env")
        shim.create("a", a)
        shim.create("b", b)
        let sdA = shim.folder("sda"), sdB = shim.folder("sdb")
        let victim = shim.start(["run", "--secret", "b", "--secrets-dir", sdB, "--env", "ATK_MARK=\(mark)", "--", "sleep", "30"])
        defer { victim.stop() }
        try #require(waitUntil(timeout: 10) { commandName(victim.pid) == "sleep" }, "B never started: \(victim.stderr)")
        let pid = victim.pid
        // Root on the host reads them all: the attack is real, only the workload is stopped.
        let control = shell("cat /proc/\(pid)/root\(sdB)/b; tr '\\0' '\\n' < /proc/\(pid)/environ")
        try #require(control.output.contains(b) && control.output.contains(mark), "control: \(control.output)")

        let probe = """
            cat /proc/\(pid)/root\(sdB)/b; echo root=$?
            ls /proc/\(pid)/root/ >/dev/null; echo ls-root=$?
            tr '\\0' '\\n' < /proc/\(pid)/environ; echo environ=$?
            (exec 3</proc/\(pid)/mem); echo mem=$?
            (exec 3</proc/\(pid)/maps); echo maps=$?
            ls /proc/\(pid)/cwd/ >/dev/null; echo cwd=$?
            ls /proc/\(pid)/fd/ >/dev/null; echo fd=$?
            test -e /proc/\(pid); echo exists=$?
            """
        let steps = ["root", "ls-root", "environ", "mem", "maps", "cwd"]
        for extra in [[], ["--cap-add", "SYS_PTRACE"], ["--cap-add", "DAC_READ_SEARCH"], ["--user", "65534"], ["--user", "65534", "--cap-add", "ALL"]] {
            let result = shim(["run"] + extra + ["--secret", "a", "--secrets-dir", sdA, "--", "/bin/sh", "-c", probe])
            #expect(result.status == 0, "\(extra): \(result.stderr)")
            expectNoValue(result.output, [b, mark], "workload A's output (\(extra))")
            let found = statuses(result.stdout)
            for step in steps { #expect(found[step] != nil && found[step] != "0", "\(extra): \(step) succeeded: \(result.stdout)") }
        }
        // With CAP_SYS_ADMIN this kernel lets /proc/PID/environ, maps and auxv through (not
        // ptrace-checked as the rest): B's environment holds no value (run refuses one there),
        // and its files and memory stay out of reach.
        let admin = shim(["run", "--cap-add", "SYS_ADMIN", "--secret", "a", "--secrets-dir", sdA, "--", "/bin/sh", "-c", probe])
        #expect(admin.status == 0, "\(admin.stderr)")
        expectNoValue(admin.output, [b], "workload A's output (--cap-add SYS_ADMIN)")
        let adminFound = statuses(admin.stdout)
        for step in ["root", "ls-root", "mem", "cwd"] {
            #expect(adminFound[step] != nil && adminFound[step] != "0", "SYS_ADMIN: \(step) succeeded: \(admin.stdout)")
        }
        if adminFound["environ"] == "0" { print("note: with --cap-add SYS_ADMIN a workload reads another's /proc/PID/environ on this kernel") }
        // A root of its own comes with a PID namespace: B's pid does not exist there.
        let rootfs = try Rootfs.make(at: shim.folder("r"))
        let contained = shim(["run", "--rootfs", rootfs, "--secret", "a", "--", "/bin/sh", "-c", probe], env: ["PATH": "/bin"])
        #expect(contained.status == 0, "\(contained.stderr)")
        expectNoValue(contained.output, [b, mark], "the --rootfs workload's output")
        #expect(statuses(contained.stdout)["exists"] == "1", "B's pid is visible in the --rootfs workload: \(contained.stdout)")
        // An ordinary user on the host.
        let quoted = probe.replacingOccurrences(of: "'", with: "'\\''")
        let nobody = shell("setpriv \(asNobody.joined(separator: " ")) /bin/sh -c '\(quoted)'")
        expectNoValue(nobody.output, [b, mark], "an ordinary user's output")
        let found = statuses(nobody.output)
        for step in steps { #expect(found[step] != nil && found[step] != "0", "nobody: \(step) succeeded: \(nobody.output)") }
    }

    /// Started with inheritable and ambient capabilities raised (as a careless parent or a
    /// CVE-2022-24769 runtime would leave them), the workload holds none of either.
    @Test(.enabled(if: hasSetpriv, "needs setpriv"), arguments: [[], ["--user", "65534"], ["--cap-drop", "ALL"]])
    func inheritableAndAmbientCapabilitiesAreCleared(extra: [String]) throws {
        let shim = Shim()
        defer { shim.cleanUp() }
        shim.create("s", uniqueValue("caps"))
        let raise = ["--inh-caps", "+net_raw,+sys_admin,+sys_ptrace", "--ambient-caps", "+net_raw,+sys_admin,+sys_ptrace"]
        let control = shim(raise + ["grep", "-E", "^Cap(Inh|Amb)", "/proc/self/status"], executable: "/usr/bin/setpriv")
        try #require(control.status == 0 && !control.stdout.contains("0000000000000000"), "control: \(control.output)")

        let result = shim(raise + [Shim.binary, "run"] + extra + ["--secret", "s", "--secrets-dir", shim.folder("sd"), "--",
                                                             "grep", "^Cap", "/proc/self/status"],
                          executable: "/usr/bin/setpriv")
        #expect(result.status == 0, "\(result.stderr)")
        let fields = Dictionary(uniqueKeysWithValues: result.stdout.split(separator: "\n").map { line -> (String, String) in
            let parts = line.split(separator: ":", maxSplits: 1)
            return (String(parts[0]), parts.count > 1 ? parts[1].trimmingCharacters(in: .whitespaces) : "")
        })
        #expect(fields["CapInh"] == "0000000000000000", "\(extra): \(result.stdout)")
        #expect(fields["CapAmb"] == "0000000000000000", "\(extra): \(result.stdout)")
        if extra.first == "--user" || extra.last == "ALL" {
            #expect(fields["CapPrm"] == "0000000000000000", "\(extra): \(result.stdout)")
            #expect(fields["CapEff"] == "0000000000000000", "\(extra): \(result.stdout)")
        }
    }

    /// From inside, with and without CAP_SYS_ADMIN: the secrets tmpfs cannot be unmounted,
    /// remounted writable, escaped by a new mount namespace, or written; it is nosuid, nodev,
    /// noexec and read-only.
    @Test(arguments: [[], ["--cap-add", "SYS_ADMIN"], ["--cap-add", "ALL"]])
    func theWorkloadCannotUndoItsSecretsMount(extra: [String]) throws {
        let shim = Shim()
        defer { shim.cleanUp() }
        let value = uniqueValue("mnt")
        shim.create("s", value)
        let sd = shim.folder("sd")
        let script = """
            umount \(sd) 2>/dev/null; echo umount=$?
            umount -l \(sd) 2>/dev/null; echo umount-lazy=$?
            mount -o remount,rw \(sd) 2>/dev/null; echo remount=$?
            mount -o remount,rw,bind \(sd) 2>/dev/null; echo remount-bind=$?
            mount -t tmpfs tmpfs \(sd) 2>/dev/null; echo overmount=$?
            unshare -m true 2>/dev/null; echo unshare=$?
            unshare -Urm true 2>/dev/null; echo unshare-user=$?
            echo x > \(sd)/s 2>/dev/null; echo write=$?
            touch \(sd)/new 2>/dev/null; echo create=$?
            rm -f \(sd)/s 2>/dev/null; echo delete=$?
            chmod 4755 \(sd)/s 2>/dev/null; echo chmod=$?
            cat \(sd)/s; echo
            grep " \(sd) " /proc/self/mountinfo
            """
        let result = shim(["run"] + extra + ["--secret", "s", "--secrets-dir", sd, "--", "/bin/sh", "-c", script])
        #expect(result.status == 0, "\(result.stderr)")
        let lines = result.stdout.split(separator: "\n").map(String.init)
        for step in ["umount", "umount-lazy", "remount", "remount-bind", "overmount", "unshare", "unshare-user", "write", "create", "delete", "chmod"] {
            let line = lines.first { $0.hasPrefix(step + "=") }
            #expect(line != nil && line != step + "=0", "\(extra) \(step) succeeded: \(result.stdout)")
        }
        #expect(lines.contains(value), "the secret changed or vanished: \(result.stdout)")
        let table = lines.filter { $0.contains(" \(sd) ") }
        #expect(table.count == 1, "mounts at the secrets dir: \(table)")
        let options = mountOptions(at: sd, in: table.joined(separator: "\n")) ?? []
        for option in ["ro", "nosuid", "nodev", "noexec"] {
            #expect(options.contains(option), "\(extra): \(option) missing: \(options)")
        }
        #expect(mountPoints(under: sd).isEmpty)
        expectNoFileHolds([value], under: shim.path)
    }

    /// Where unshare is refused (here: under an outer `run`'s default seccomp filter), the
    /// inner `run` may only write into a tmpfs mounted at the secrets dir; a plain folder of
    /// a tmpfs (a shared /run, say) is refused in one line and stays empty.
    @Test func withoutUnshareOnlyAMountedTmpfsIsUsed() throws {
        let outer = Shim()
        defer { outer.cleanUp() }
        let inner = Shim()
        defer { inner.cleanUp() }
        let value = uniqueValue("nested")
        inner.create("x", value)
        let tmpfs = try PrivateTmpfs(at: outer.path + "/t", options: "size=4m,mode=0755")
        defer { tmpfs.unmount() }
        let plain = tmpfs.path + "/plain"
        try FileManager.default.createDirectory(atPath: plain, withIntermediateDirectories: true)
        let innerEnv = ["SECRETSHIM_ROOT": inner.root, "SECRETSHIM_STATE_DIR": inner.state]
        func nested(_ directory: String) -> ProcessResult {
            outer(["run", "--seccomp", "default", "--", "/usr/bin/env"] + innerEnv.map { "\($0.key)=\($0.value)" } +
                  [Shim.binary, "--root", inner.root, "run", "--secret", "x", "--secrets-dir", directory, "--", "cat", directory + "/x"])
        }
        let refused = nested(plain)
        #expect(refused.status == 125, "\(refused.status) \(refused.stdout) \(refused.stderr)")
        expectOneLineError(refused, values: [value])
        expectNoValue(refused.stdout, [value], "stdout")
        #expect(try FileManager.default.contentsOfDirectory(atPath: plain).isEmpty, "written into a plain folder")
        expectNoFileHolds([value], under: tmpfs.path)

        // A tmpfs mounted at the secrets dir (`docker run --tmpfs`): used, the file written.
        let mounted = try PrivateTmpfs(at: tmpfs.path + "/mounted", options: "size=1m,mode=0755")
        defer { mounted.unmount() }
        let used = nested(mounted.path)
        #expect(used.status == 0, "\(used.stderr)")
        #expect(used.stdout == value)
        #expect((try? String(contentsOfFile: mounted.path + "/x", encoding: .utf8)) == value)
        #expect(try FileManager.default.contentsOfDirectory(atPath: plain).isEmpty)
    }
}
