import Foundation
import Testing

/// `update` against the real kernel: grants, revokes and rotations swapped into a running
/// workload's mount namespace (MOVE_MOUNT_BENEATH), every refusal changing nothing, a reader
/// that only ever sees whole sets, a `kill -9` at random moments, races with `secret rm` and
/// with other updates, and each kind of workload (plain, `--rootfs`, rootless).
@Suite(.enabled(if: runningAsRoot, "needs root"), .serialized)
struct UpdateAttacks {
    /// The workload's view of its secrets dir, through /proc/PID/root (its mount namespace).
    static func secretsDir(_ pid: pid_t, _ directory: String = "/run/secrets") -> String { "/proc/\(pid)/root\(directory)" }

    static func read(_ pid: pid_t, _ file: String) -> String? {
        try? String(contentsOfFile: secretsDir(pid) + "/" + file, encoding: .utf8)
    }

    /// The mounts at the secrets dir in the workload's own table.
    static func secretsMounts(_ pid: pid_t, _ directory: String = "/run/secrets") -> Int {
        let table = readToEnd("/proc/\(pid)/mountinfo")
        return table.split(separator: "\n").filter { $0.split(separator: " ").count > 4 && $0.split(separator: " ")[4] == Substring(directory) }.count
    }

    static func lease(_ shim: Shim) -> String {
        leaseFiles(in: shim.state).map { (try? String(contentsOfFile: shim.state + "/" + $0, encoding: .utf8)) ?? "" }.joined()
    }

    /// Starts `run --name w` with `grants` around `command`, waiting until its secrets are there.
    static func start(_ shim: Shim, _ grants: [String], _ command: [String], first: String, name: String = "w") throws -> Spawned {
        let workload = shim.start(["run", "--name", name] + grants.flatMap { ["--secret", $0] } + ["--"] + command)
        let ready = waitUntil(timeout: 10) { read(workload.pid, first) != nil }
        if !ready { workload.stop() }
        try #require(ready, "the workload did not start: \(workload.stderr)")
        return workload
    }

    /// A busybox root at `folder` (under the test's own): sh, cat and sleep.
    static func busyboxRoot(_ shim: Shim, _ folder: String) -> String {
        let root = shim.folder(folder)
        for sub in ["bin", "proc", "dev", "tmp"] { _ = shim.folder(folder + "/" + sub) }
        #expect(shell("cp /bin/busybox \(root)/bin/ && for a in sh cat sleep; do ln -s busybox \(root)/bin/$a; done").status == 0)
        return root
    }

    /// The first process of a workload's PID namespace, once the supervisor has recorded it in
    /// the lease and its secrets are there.
    static func firstProcess(_ shim: Shim, of workload: Spawned) throws -> pid_t {
        var first: pid_t = 0
        try #require(waitUntil(timeout: 10) {
            guard let line = lease(shim).split(separator: "\n").first(where: { $0.hasPrefix("workload ") }),
                let pid = pid_t(line.split(separator: " ")[1]), pid != workload.pid
            else { return false }
            first = pid
            return read(pid, "a") != nil
        }, "no workload process recorded: \(workload.stderr)")
        return first
    }

    @Test func grantRevokeAndRotateInPlace() throws {
        let shim = Shim()
        defer { shim.cleanUp() }
        let (a, b, c) = (uniqueValue("a"), uniqueValue("b"), uniqueValue("c"))
        shim.create("a", a)
        shim.create("b", b)
        let cID = shim.create("c", c)
        // The workload keeps a descriptor of the old `a` open (fd 3) across the update.
        let workload = try Self.start(shim, ["a", "b,target=sub/b"], ["sh", "-c", "exec 3</run/secrets/a; exec sleep 60"], first: "a")
        defer { workload.stop() }
        #expect(waitUntil(timeout: 5) { commandName(workload.pid) == "sleep" })
        let hostBefore = mountPoints(under: "/run/secrets")

        // Docker's order: the removal first, so c can take a's target in the same command.
        let updated = shim(["update", "--secret-rm", "a", "--secret-add", "c,target=a,mode=0400,uid=7", "w"])
        #expect(updated.status == 0, "\(updated.stderr)")
        #expect(updated.stdout.count == 13 && updated.stderr.isEmpty)
        #expect(Self.read(workload.pid, "a") == c)
        #expect(Self.read(workload.pid, "sub/b") == b)
        #expect(shell("stat -c '%a %u' \(Self.secretsDir(workload.pid))/a").output == "400 7\n")
        #expect(workload.isRunning, "no restart")
        #expect(Self.secretsMounts(workload.pid) == 1, "the old tmpfs is detached, not left beneath")
        #expect((try? String(contentsOfFile: "/proc/\(workload.pid)/fd/3", encoding: .utf8)) == a, "an open file of the old set keeps reading it")
        #expect(mountPoints(under: "/run/secrets") == hostBefore, "nothing reaches the host's mount table")

        // The lease follows: ps shows the new set, a revoked secret can go, a held one cannot.
        let ps = shim(["ps", "--format", "json"])
        #expect(ps.stdout.contains("\"Secrets\":[\"b\",\"c\"]"), "\(ps.stdout)")
        #expect(shim(["secret", "rm", "a"]).status == 0)
        let held = shim(["secret", "rm", "c"])
        #expect(held.status == 1)
        expectOneLineError(held, contains: "in use")

        // By ID as well as by name; by pid as well as by name.
        let byID = shim(["update", "--secret-rm", cID, "\(workload.pid)"])
        #expect(byID.status == 0, "\(byID.stderr)")
        #expect(Self.read(workload.pid, "a") == nil && Self.read(workload.pid, "sub/b") == b)
        expectNoValue(updated.output + byID.output + ps.output, [a, b, c], "update's output")
        // Once it ends, nothing of it is left: no lease, and every secret can go.
        workload.stop()
        #expect(shim(["ps"]).stdout.split(separator: "\n").count == 1)
        #expect(shim(["secret", "rm", "b", "c"]).status == 0)
    }

    /// A file bound outside the secrets dir is its own mount: an update swaps the secrets dir
    /// around it (it stays, with its value), and refuses to add, remove or rotate one there.
    @Test func aSecretOutsideTheSecretsDirStaysAndIsNotChangedInPlace() throws {
        let shim = Shim()
        defer { shim.cleanUp() }
        let (a, site, b) = (uniqueValue("a"), uniqueValue("site"), uniqueValue("b"))
        shim.create("a", a)
        shim.create("site", site)
        shim.create("b", b)
        let target = shim.folder("conf") + "/site.conf"
        #expect(FileManager.default.createFile(atPath: target, contents: Data("host".utf8)))
        let workload = try Self.start(shim, ["a", "site,target=\(target)"], ["sleep", "60"], first: "a")
        defer { workload.stop() }
        let view = "/proc/\(workload.pid)/root" + target
        #expect((try? String(contentsOfFile: view, encoding: .utf8)) == site)
        let lease = Self.lease(shim)
        for arguments in [["--secret-rm", "site"], ["--secret-add", "b,target=\(target)2"], ["--secret-rm", "site", "--secret-add", "b,target=\(target)"]] {
            let refused = shim(["update"] + arguments + ["w"])
            #expect(refused.status == 1, "\(arguments)")
            expectOneLineError(refused, contains: "outside the secrets dir")
            #expect(Self.lease(shim) == lease, "\(arguments) changed the lease")
        }
        let updated = shim(["update", "--secret-add", "b", "w"])
        #expect(updated.status == 0, "\(updated.stderr)")
        #expect(Self.read(workload.pid, "b") == b && Self.read(workload.pid, "a") == a)
        #expect((try? String(contentsOfFile: view, encoding: .utf8)) == site, "the file outside went with the old secrets mount")
        #expect(Self.secretsMounts(workload.pid) == 1)
        // Still held: its secret cannot be removed while the workload runs.
        #expect(shim(["secret", "rm", "site"]).status == 1)
        #expect(try String(contentsOfFile: target, encoding: .utf8) == "host")
    }

    /// Each refusal: one line, its exit status, and nothing changed (files, mounts, lease).
    @Test func everyRefusalChangesNothing() throws {
        let shim = Shim()
        defer { shim.cleanUp() }
        shim.create("a", uniqueValue("a"))
        shim.create("b", uniqueValue("b"))
        let workload = try Self.start(shim, ["a"], ["sleep", "60"], first: "a")
        defer { workload.stop() }
        let lease = Self.lease(shim)
        let cases: [([String], Int32, String)] = [
            (["--secret-add", "missing", "w"], 1, "no such secret"),
            (["--secret-add", "b,target=a", "w"], 1, "same target"),
            (["--secret-add", "b,target=a/x", "w"], 1, "folder"),
            (["--secret-add", "b,mode=999", "w"], 2, "invalid mode"),
            (["--secret-add", "b,target=../x", "w"], 2, ".."),
            (["--secret-add", "b,env=B_FILE", "w"], 2, "environment"),
            (["--secret-rm", "b", "w"], 1, "holds no secret"),
            (["--secret-add", "b", "nosuch"], 1, "no such workload"),
            (["--secret-add", "b", "--signal", "NOPE", "w"], 2, "signal"),
            (["w"], 2, "--secret-add"),
            // An empty inline value: ArgumentParser's reading (`w` is the value), not the fast path's.
            (["--secret-rm=", "w"], 2, "workload"),
            // A valid addition after a bad one is not applied either.
            (["--secret-add", "b", "--secret-add", "missing", "w"], 1, "no such secret"),
        ]
        for (arguments, status, message) in cases {
            let result = shim(["update"] + arguments)
            #expect(result.status == status, "\(arguments): \(result.stderr)")
            expectOneLineError(result, contains: message)
            #expect(Self.lease(shim) == lease, "\(arguments) changed the lease")
            #expect(Self.read(workload.pid, "b") == nil && Self.read(workload.pid, "a") != nil, "\(arguments)")
            #expect(Self.secretsMounts(workload.pid) == 1)
        }
    }

    /// A reader that goes through one directory each time (`cd /run/secrets && cat a sub/b`)
    /// sees a whole old set or a whole new set across 100 swaps of paired files; no read fails.
    @Test func aReaderSeesOnlyWholeSets() throws {
        let shim = Shim()
        defer { shim.cleanUp() }
        for version in 0...100 { shim.create("v\(version)", "value-\(version)") }
        let out = shim.path + "/reads"
        let script = """
            while :; do (cd /run/secrets && a=$(cat a) && b=$(cat sub/b) && \
            if [ "$a" = "$b" ]; then echo "ok $a"; else echo "MIXED $a $b"; fi || echo FAILED); done > \(out)
            """
        let workload = try Self.start(shim, ["v0,target=a", "v0,target=sub/b"], ["sh", "-c", script], first: "a")
        defer { workload.stop() }
        for version in 1...100 {
            let result = shim([
                "update", "--secret-rm", "v\(version - 1)", "--secret-add", "v\(version),target=a",
                "--secret-add", "v\(version),target=sub/b", "w",
            ])
            try #require(result.status == 0, "swap \(version): \(result.stderr)")
        }
        usleep(50_000)
        workload.stop()
        let lines = ((try? String(contentsOfFile: out, encoding: .utf8)) ?? "").split(separator: "\n")
        let bad = lines.filter { !$0.hasPrefix("ok value-") }
        // The last line may be cut by the kill.
        #expect(bad.count <= 1 && (bad.isEmpty || bad[0] == lines.last!), "\(bad.prefix(5))")
        let seen = Set(lines.filter { $0.hasPrefix("ok ") })
        #expect(seen.count > 10, "the reader saw \(seen.count) sets")
        #expect(seen.contains("ok value-100"))
        #expect(Self.secretsMounts(workload.pid) <= 1)
    }

    /// `kill -9` of `update` at random moments: the workload always shows the old set or the
    /// new one whole, one mount, and a lease naming exactly what it holds.
    @Test func aKilledUpdateLeavesTheOldOrTheNewSet() throws {
        let shim = Shim()
        defer { shim.cleanUp() }
        for version in 0...20 { shim.create("v\(version)", "value-\(version)") }
        let workload = try Self.start(shim, ["v0,target=a", "v0,target=sub/b"], ["sleep", "120"], first: "a")
        defer { workload.stop() }
        var current = 0
        for version in 1...20 {
            let update = shim.start([
                "update", "--secret-rm", "v\(current)", "--secret-add", "v\(version),target=a",
                "--secret-add", "v\(version),target=sub/b", "w",
            ])
            usleep(UInt32.random(in: 0...8_000))
            kill(-update.pid, SIGKILL)  // its process group, if it leads one
            update.signal(SIGKILL)
            update.wait(timeout: 10)
            // What the kill did not stop (the part in a session of its own) runs to its end.
            #expect(waitUntil(timeout: 10) { shell("pgrep -f -- 'update --secret-rm [v]'").status != 0 })
            #expect(shell("flock \(shim.state)/.update.lock true").status == 0)
            let a = Self.read(workload.pid, "a"), b = Self.read(workload.pid, "sub/b")
            #expect(a != nil && a == b, "round \(version): a=\(a ?? "-") b=\(b ?? "-")")
            #expect(a == "value-\(current)" || a == "value-\(version)", "round \(version): \(a ?? "-")")
            if a == "value-\(version)" { current = version }
            #expect(Self.secretsMounts(workload.pid) == 1, "round \(version)")
            let lease = Self.lease(shim)
            #expect(lease.contains(" v\(current)\n") && !lease.contains("wants"), "round \(version): \(lease)")
        }
        #expect(shim(["ps"]).stdout.contains("v\(current)"))
    }

    /// `secret rm` and `update --secret-add` of the same secret, at once: either the secret is
    /// gone and the update refused, or the workload holds it and the removal was refused.
    @Test func anUpdateAndARemovalNeverBothWin() throws {
        let shim = Shim()
        defer { shim.cleanUp() }
        shim.create("base", uniqueValue())
        let workload = try Self.start(shim, ["base"], ["sleep", "60"], first: "base")
        defer { workload.stop() }
        for round in 0..<10 {
            let name = "x\(round)"
            shim.create(name, "value-\(round)")
            let remove = shim.start(["secret", "rm", name])
            let update = shim(["update", "--secret-add", name, "w"])
            let removed = remove.finish()
            #expect((update.status == 0) != (removed.status == 0), "round \(round): update \(update.status), rm \(removed.status)")
            #expect((Self.read(workload.pid, name) != nil) == (update.status == 0), "round \(round)")
            let listed = shim(["secret", "ls", "--format", "json"]).stdout.contains("\"\(name)\"")
            #expect(listed == (update.status == 0), "round \(round): a held secret stays, a removed one is held by none")
        }
    }

    /// Updates of one workload at once are serialized: none is lost.
    @Test func concurrentUpdatesAreSerialized() throws {
        let shim = Shim()
        defer { shim.cleanUp() }
        shim.create("base", uniqueValue())
        for index in 0..<6 { shim.create("c\(index)", "value-\(index)") }
        let workload = try Self.start(shim, ["base"], ["sleep", "60"], first: "base")
        defer { workload.stop() }
        let updates = (0..<6).map { shim.start(["update", "--secret-add", "c\($0)", "w"]) }
        for update in updates { #expect(update.finish().status == 0) }
        for index in 0..<6 { #expect(Self.read(workload.pid, "c\(index)") == "value-\(index)") }
        #expect(Self.secretsMounts(workload.pid) == 1)
    }

    /// A root workload can reach the host's tree, and so plant a lease (a fresh-eyes attack:
    /// it renamed the state dir's parent and wrote root-owned leases in a new one). Whatever a
    /// lease claims, update acts only on what the kernel shows: a grant the mount does not hold
    /// (a secret to steal), a process in the host's own mount namespace, a container folder
    /// other than its own: each refused, nothing mounted, nothing read.
    @Test func aPlantedLeaseIsNotBelieved() throws {
        let shim = Shim()
        defer { shim.cleanUp() }
        let aID = shim.create("a", "value-a")
        let stolenID = shim.create("stolen", uniqueValue("stolen"))
        let workload = try Self.start(shim, ["a"], ["sleep", "60"], first: "a")
        defer { workload.stop() }
        let host = shim.start(["60"], executable: "/bin/sleep")  // a plain process of the host
        defer { host.stop() }
        let hostTmpfs = shim.folder("hosttmpfs")
        #expect(shell("mount -t tmpfs -o size=64k tmpfs \(hostTmpfs) && echo keep > \(hostTmpfs)/mine").status == 0)
        let leaseFile = shim.state + "/\(workload.pid).lease"
        let original = try String(contentsOfFile: leaseFile, encoding: .utf8)
        let start = processStartTime(workload.pid)!, hostStart = processStartTime(host.pid)!
        let other = try Self.start(shim, ["a"], ["sleep", "61"], first: "a", name: "other")
        defer { other.stop() }
        let otherStart = processStartTime(other.pid)!
        // A lease of the host process itself (its own file, its own pid), naming a host tmpfs.
        let hostLease = original.replacingOccurrences(of: "pid \(workload.pid)\n", with: "pid \(host.pid)\n")
            .replacingOccurrences(of: "start \(start)\n", with: "start \(hostStart)\n")
            .replacingOccurrences(of: "workload \(workload.pid) \(start)", with: "workload \(host.pid) \(hostStart)")
            .replacingOccurrences(of: "secrets-dir /run/secrets", with: "secrets-dir \(hostTmpfs)")
            .replacingOccurrences(of: "name w\n", with: "name hostw\n")
        try hostLease.write(toFile: shim.state + "/\(host.pid).lease", atomically: false, encoding: .utf8)
        let hostResult = shim(["update", "--secret-add", "a,target=b", "hostw"])
        #expect(hostResult.status == 1)
        expectOneLineError(hostResult, contains: "own")
        let plants: [(String, String)] = [
            // The workload's own process, claiming it holds `stolen` too.
            (original.replacingOccurrences(of: "grant \(aID) 0 0 292 a\n", with: "grant \(aID) 0 0 292 a\ngrant \(stolenID) 0 0 292 loot\n"),
             "does not hold"),
            // Another workload's process (whose mount holds what the lease claims), or a host process.
            (original.replacingOccurrences(of: "workload \(workload.pid) \(start)", with: "workload \(other.pid) \(otherStart)"),
             "not its workload"),
            (original.replacingOccurrences(of: "workload \(workload.pid) \(start)", with: "workload \(host.pid) \(hostStart)")
                .replacingOccurrences(of: "secrets-dir /run/secrets", with: "secrets-dir \(hostTmpfs)"),
             "not its workload"),
            // A container's folder that is not its own.
            (original.replacingOccurrences(of: "secrets-dir /run/secrets\n", with: "secrets-dir /run/secrets\nhost-dir \(hostTmpfs)\n"),
             "folder"),
        ]
        for (planted, message) in plants {
            try planted.write(toFile: leaseFile, atomically: false, encoding: .utf8)
            let result = shim(["update", "--secret-add", "a,target=b", "w"])
            #expect(result.status == 1, "\(message): \(result.stdout)")
            expectOneLineError(result, contains: message)
            #expect(Self.read(workload.pid, "loot") == nil && Self.read(workload.pid, "b") == nil)
            #expect((try? String(contentsOfFile: hostTmpfs + "/mine", encoding: .utf8)) == "keep\n", "the host's tmpfs was touched")
            #expect(mountPoints(under: hostTmpfs) == [hostTmpfs])
            #expect(Self.secretsMounts(workload.pid) == 1)
        }
        #expect(Self.read(other.pid, "b") == nil, "the other workload got nothing")
        _ = shell("umount \(hostTmpfs)")
    }

    /// A container lease whose `containers/<id>` is a symbolic link to a host tmpfs (planted
    /// in the state dir): the folder is opened following no link, so the host's mount is never
    /// swapped (a fresh-eyes attack detached a host tmpfs this way and left the new secret on it,
    /// readable by all).
    @Test func aContainerFolderThatIsALinkIsNotFollowed() throws {
        let shim = Shim()
        defer { shim.cleanUp() }
        let aID = shim.create("a", "value-a")
        shim.create("new", uniqueValue("new"))
        let workload = try Self.start(shim, ["a"], ["sleep", "60"], first: "a")
        defer { workload.stop() }
        let hostTmpfs = shim.folder("hosttmpfs")
        #expect(shell("mount -t tmpfs -o size=64k tmpfs \(hostTmpfs) && printf value-a > \(hostTmpfs)/a && chmod 444 \(hostTmpfs)/a").status == 0)
        defer { _ = shell("umount -l \(hostTmpfs)") }
        _ = shim.folder("state/containers", mode: 0o700)
        #expect(symlink(hostTmpfs, shim.state + "/containers/evil") == 0)
        let start = processStartTime(workload.pid)!
        let lease = """
            secretshim-lease 1
            id evil
            name evilc
            pid \(workload.pid)
            start \(start)
            started 1
            secret \(aID) a
            workload \(workload.pid) \(start)
            secrets-dir /run/secrets
            host-dir \(shim.state)/containers/evil
            grant \(aID) 0 0 292 a

            """
        try lease.write(toFile: shim.state + "/container-evil.lease", atomically: false, encoding: .utf8)
        let result = shim(["update", "--secret-add", "new", "evilc"])
        #expect(result.status == 1)
        expectOneLineError(result, contains: "containers/evil")
        #expect(mountPoints(under: hostTmpfs) == [hostTmpfs])
        #expect(FileManager.default.fileExists(atPath: hostTmpfs + "/a") && !FileManager.default.fileExists(atPath: hostTmpfs + "/new"))
    }

    /// An update killed between putting its tmpfs beneath and detaching the old one (the
    /// child itself, by root: here strace's fault injection) leaves two mounts stacked; the
    /// lease names that pending set, and the next update finishes the swap instead of burying
    /// it (a fresh-eyes finding: a later update detached only the top, and `secret rm` then
    /// removed a secret the buried mount still held).
    /// The stack is found by mount ID, not by path: a secrets dir given as `/run//secrets2`
    /// (mountinfo shows `/run/secrets2`) was once taken for unstacked.
    @Test(.enabled(if: FileManager.default.fileExists(atPath: "/usr/bin/strace"), "needs strace"),
          arguments: ["/run/secrets", "/run//secrets2"])
    func anUpdateKilledBetweenItsTwoMountCallsIsFinishedByTheNext(secretsDir: String) throws {
        let shim = Shim()
        defer { shim.cleanUp() }
        shim.create("a", "value-a")
        shim.create("b", "value-b")
        shim.create("c", "value-c")
        let canonical = secretsDir.replacingOccurrences(of: "//", with: "/")
        let workload = shim.start(["run", "--name", "w", "--secrets-dir", secretsDir, "--secret", "a", "--", "sleep", "60"])
        defer { workload.stop() }
        func read(_ file: String) -> String? { try? String(contentsOfFile: "/proc/\(workload.pid)/root\(canonical)/\(file)", encoding: .utf8) }
        try #require(waitUntil(timeout: 10) { read("a") != nil }, "\(workload.stderr)")
        let killed = shim(["-f", "-qq", "-e", "trace=umount2", "-e", "inject=umount2:error=EINTR:signal=SIGKILL", Shim.binary,
                           "update", "--secret-add", "b", "w"], executable: "/usr/bin/strace")
        #expect(killed.status != 0)
        // error=EINTR: the umount2 is skipped, not run while the SIGKILL is on its way.
        #expect(Self.secretsMounts(workload.pid, canonical) == 2, "the kill came between the two mount calls: \(killed.output)")
        #expect(read("a") == "value-a" && read("b") == nil, "the old set on top")
        #expect(shim(["secret", "rm", "b"]).status == 1, "the pending set is held")
        let next = shim(["update", "--secret-add", "c", "w"])
        #expect(next.status == 0, "\(next.stderr)")
        #expect(Self.secretsMounts(workload.pid, canonical) == 1)
        #expect(read("a") == "value-a" && read("b") == "value-b" && read("c") == "value-c")
        #expect(!Self.lease(shim).contains("pending") && !Self.lease(shim).contains("wants"))
        #expect(shim(["secret", "rm", "b"]).status == 1)
    }

    /// A lease may hold at most 512 KiB: an update that would write more is refused, and the
    /// workload stays updatable (a fresh-eyes finding: 300 long targets made a lease no one could
    /// read again, which then held every secret against `rm`).
    @Test func anUpdateTooBigForALeaseIsRefused() throws {
        let shim = Shim()
        defer { shim.cleanUp() }
        shim.create("a", "value-a")
        let workload = try Self.start(shim, ["a"], ["sleep", "60"], first: "a")
        defer { workload.stop() }
        let folder = Array(repeating: String(repeating: "d", count: 250), count: 15).joined(separator: "/")
        let result = shim(["update"] + (0..<300).flatMap { ["--secret-add", "a,target=\(folder)/t\($0)"] } + ["w"])
        #expect(result.status == 1)
        expectOneLineError(result, contains: "lease")
        #expect(shim(["update", "--secret-add", "a,target=b", "w"]).status == 0)
        #expect(Self.read(workload.pid, "b") == "value-a")
    }

    /// An update waits at most 10 s for the lock (a holder stopped by a root workload's
    /// SIGSTOP would otherwise block every update), then refuses in one line.
    @Test func aHeldLockIsNotWaitedForForever() throws {
        let shim = Shim()
        defer { shim.cleanUp() }
        shim.create("a", "value-a")
        let workload = try Self.start(shim, ["a"], ["sleep", "60"], first: "a")
        defer { workload.stop() }
        let holder = shim.start(["-c", "exec flock \(shim.state)/.update.lock sleep 30"], executable: "/bin/sh")
        defer { holder.stop() }
        #expect(waitUntil(timeout: 5) { shell("flock -n \(shim.state)/.update.lock true").status != 0 })
        let started = Date()
        let result = shim(["update", "--secret-add", "a,target=b", "w"])
        #expect(result.status == 1 && Date().timeIntervalSince(started) < 20)
        expectOneLineError(result, contains: "lock")
    }

    /// `--rootfs`: the workload's first process, in its PID namespace, is entered and signalled.
    @Test(.enabled(if: hasBusybox, "needs busybox"))
    func aRootfsWorkloadIsUpdatedAndSignalled() throws {
        let shim = Shim()
        defer { shim.cleanUp() }
        let root = Self.busyboxRoot(shim, "rootfs")
        shim.create("a", "value-a")
        shim.create("b", "value-b")
        let workload = shim.start(
            ["run", "--name", "w", "--rootfs", root, "--secret", "a", "--", "/bin/sh", "-c",
             "trap 'cat /run/secrets/b > /tmp/seen' HUP; while :; do sleep 0.05; done"],
            env: ["PATH": "/bin"])
        defer { workload.stop() }
        let first = try Self.firstProcess(shim, of: workload)
        let result = shim(["update", "--secret-add", "b", "--signal", "HUP", "w"])
        #expect(result.status == 0, "\(result.stderr)")
        #expect(Self.read(first, "b") == "value-b")
        #expect(waitUntil(timeout: 5) { (try? String(contentsOfFile: root + "/tmp/seen", encoding: .utf8)) == "value-b" },
                "the signal came after the swap")
        #expect(Self.secretsMounts(first) == 1)
        #expect(mountPoints(under: root).isEmpty, "nothing on the host")
    }

    /// `--bundle` (a `runc spec` bundle): its PID namespace's first process is updated.
    @Test(.enabled(if: hasBusybox && hasRunc, "needs busybox and runc"))
    func aBundleWorkloadIsUpdated() throws {
        let shim = Shim()
        defer { shim.cleanUp() }
        let bundle = shim.folder("bundle")
        _ = Self.busyboxRoot(shim, "bundle/rootfs")
        #expect(shell("cd \(bundle) && runc spec").status == 0)
        let path = bundle + "/config.json"
        var config = try JSONSerialization.jsonObject(with: Data(contentsOf: URL(fileURLWithPath: path))) as! [String: Any]
        var process = config["process"] as! [String: Any]
        process["terminal"] = false
        process["args"] = ["/bin/sh", "-c", "while :; do sleep 0.05; done"]
        config["process"] = process
        try JSONSerialization.data(withJSONObject: config).write(to: URL(fileURLWithPath: path))
        shim.create("a", "value-a")
        shim.create("b", "value-b")
        let workload = shim.start(["run", "--name", "w", "--bundle", bundle, "--secret", "a"])
        defer { workload.stop() }
        let first = try Self.firstProcess(shim, of: workload)
        let result = shim(["update", "--secret-rm", "a", "--secret-add", "b,target=a", "w"])
        #expect(result.status == 0, "\(result.stderr)")
        #expect(Self.read(first, "a") == "value-b")
        #expect(Self.secretsMounts(first) == 1)
        #expect(mountPoints(under: bundle).isEmpty, "nothing on the host")
    }

    /// Rootless: the same user updates its own workload, through its user namespace.
    @Test(.enabled(if: hasSetpriv, "needs setpriv"))
    func aRootlessWorkloadIsUpdatedByItsUser() throws {
        let shim = Shim()
        defer { shim.cleanUp() }
        let home = shim.folder("home")
        #expect(shell("chown 65534:65534 \(home)").status == 0)
        let env = ["SECRETSHIM_ROOT": "", "SECRETSHIM_STATE_DIR": "", "HOME": home,
                   "XDG_DATA_HOME": home + "/data", "XDG_RUNTIME_DIR": home + "/runtime"]
        for name in ["one", "two"] {
            let created = shim(asNobody + [Shim.binary, "secret", "create", name, "-"], stdin: Data("value-\(name)".utf8),
                               env: env, executable: "/usr/bin/setpriv")
            #expect(created.status == 0, "\(created.stderr)")
        }
        let workload = shim.start(asNobody + [Shim.binary, "run", "--name", "mine", "--secret", "one", "--", "sleep", "60"],
                                  env: env, executable: "/usr/bin/setpriv")
        defer { workload.stop() }
        try #require(waitUntil(timeout: 10) { Self.read(workload.pid, "one") != nil }, "\(workload.stderr)")
        let result = shim(asNobody + [Shim.binary, "update", "--secret-rm", "one", "--secret-add", "two,target=one", "mine"],
                          env: env, executable: "/usr/bin/setpriv")
        #expect(result.status == 0, "\(result.stderr)")
        #expect(Self.read(workload.pid, "one") == "value-two")
        #expect(shell("stat -c '%u' \(Self.secretsDir(workload.pid))/one").output == "65534\n")
        #expect(Self.secretsMounts(workload.pid) == 1)
        // Root's own state dir knows nothing of it: another user's workload is not found.
        #expect(shim(["update", "--secret-add", "two", "mine"]).status == 1)
    }
}
