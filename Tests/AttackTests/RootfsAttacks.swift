import Foundation
import Testing

/// A root filesystem is the attacker's: every path in it may be a symlink chosen to make the
/// shim mount or write on the host. And a workload with a root of its own must still record
/// its lease on the host, where `secret rm` and `ps` look.
@Suite(.enabled(if: runningAsRoot && hasBusybox, "needs root and busybox-static"))
struct RootfsAttacks {
    static let env = ["PATH": "/bin"]

    /// `run/secrets` a symlink that resolves to the root itself (absolute, by "..", or both):
    /// mounting there would cover the whole tree, or, on a tmpfs root, the tmpfs itself (whose
    /// superblock a read-only remount would also have hit). Refused in one line; nothing written.
    @Test(arguments: ["/", "/.", "..", "../..", "../../../../../../..", "/../../.."])
    func secretsLinkedToTheRootIsRefused(target: String) throws {
        let shim = Shim()
        defer { shim.cleanUp() }
        let value = uniqueValue("root")
        shim.create("s", value)
        let tmpfs = try PrivateTmpfs(at: shim.path + "/t")
        defer { tmpfs.unmount() }
        let root = try Rootfs.make(at: tmpfs.path)
        try FileManager.default.createDirectory(atPath: root + "/run", withIntermediateDirectories: true)
        try FileManager.default.createSymbolicLink(atPath: root + "/run/secrets", withDestinationPath: target)
        let before = mountPoints(under: tmpfs.path)

        let result = shim(["run", "--secret", "s", "--rootfs", root, "--", "/bin/sh", "-c", "true"], env: Self.env)
        #expect(result.status == 125, "run/secrets -> \(target): \(result.status) \(result.stderr)")
        expectOneLineError(result, values: [value])
        expectNoValue(result.stdout, [value], "stdout")
        expectNoFileHolds([value], under: tmpfs.path)
        #expect(mountPoints(under: tmpfs.path) == before)
        let options = tmpfs.options.split(separator: ",").map(String.init)
        #expect(options.contains("rw") && !options.contains("ro"), "the tmpfs under the root was remounted: \(options)")
        #expect((try? FileManager.default.destinationOfSymbolicLink(atPath: root + "/run/secrets")) == target)
    }

    /// `kill -9` of `run --rootfs` at random moments of its launch: the workload, forked into
    /// a PID namespace under the shim that holds its lease, never outlives the shim. A fresh-eyes
    /// attack found 6 of 60 rounds where `sleep` lived on as an orphan holding the secret, which
    /// `ps` did not list and `secret rm` let go: the shim died before the child asked for the
    /// death signal (`ChildProcess.ParentTie` now checks, after asking, that it is still tied).
    @Test func aKilledRootfsRunTakesItsWorkloadWithIt() throws {
        let shim = Shim()
        defer { shim.cleanUp() }
        let value = uniqueValue("orphan")
        shim.create("kv", value)
        let root = try Rootfs.make(at: shim.path)
        let marker = "3\(Int.random(in: 10_000...99_999))"
        defer { _ = shell("pkill -KILL -f '^/bin/sleep \(marker)$'") }
        for _ in 0..<60 {
            let launch = shim.start(["run", "--rootfs", root, "--secret", "kv", "--", "/bin/sleep", marker], env: Self.env)
            usleep(UInt32.random(in: 0...9_000))
            kill(launch.pid, SIGKILL)
            _ = launch.finish(timeout: 5)
        }
        let survivors = { shell("pgrep -f '^/bin/sleep \(marker)$'").output.split(separator: "\n") }
        #expect(waitUntil(timeout: 5) { survivors().isEmpty }, "workloads outlived their killed shims: \(survivors())")
        #expect(shim(["secret", "rm", "kv"]).status == 0)
    }

    /// The same without a root: a secrets dir that resolves to `/`, whatever its spelling.
    @Test func aSecretsDirThatIsTheRootIsRefused() throws {
        let shim = Shim()
        defer { shim.cleanUp() }
        let value = uniqueValue("dot")
        shim.create("s", value)
        let tmpfs = try PrivateTmpfs(at: shim.path + "/t")
        defer { tmpfs.unmount() }
        try FileManager.default.createSymbolicLink(atPath: tmpfs.path + "/to-root", withDestinationPath: "/")
        try FileManager.default.createDirectory(atPath: tmpfs.path + "/a/b", withIntermediateDirectories: true)
        let spellings = ["/.", "/./.", "/tmp/..", tmpfs.path + "/to-root", tmpfs.path + "/to-root/.",
                         tmpfs.path + "/a/b/../../../../../../../.."]
        for directory in spellings {
            let result = shim(["run", "--secret", "s", "--secrets-dir", directory, "--", "sh", "-c", "echo RAN"])
            #expect(result.status == 125, "--secrets-dir \(directory): \(result.status) \(result.stdout) \(result.stderr)")
            #expect(!result.stdout.contains("RAN"))
            expectOneLineError(result, values: [value])
        }
        expectNoFileHolds([value], under: tmpfs.path)
        #expect(tmpfs.options.split(separator: ",").contains("rw"))
    }

    /// `run/secrets` a symlink to another directory (`/etc`, by several spellings): the
    /// workload gets its secrets there, inside its own root; nothing lands on the host's /etc
    /// nor in the root's own tree as the host sees it.
    @Test(arguments: ["/etc", "../etc", "/../../../../etc", "../../../../../../etc"])
    func secretsLinkedElsewhereStaysInsideTheRoot(target: String) throws {
        let shim = Shim()
        defer { shim.cleanUp() }
        let value = uniqueValue("etc")
        let name = "atk" + uniqueValue().suffix(12)
        shim.create(name, value)
        let tmpfs = try PrivateTmpfs(at: shim.path + "/t")
        defer { tmpfs.unmount() }
        let root = try Rootfs.make(at: tmpfs.path)
        try FileManager.default.createDirectory(atPath: root + "/run", withIntermediateDirectories: true)
        try FileManager.default.createSymbolicLink(atPath: root + "/run/secrets", withDestinationPath: target)
        let etcBefore = try FileManager.default.contentsOfDirectory(atPath: root + "/etc").sorted()
        let before = mountPoints(under: tmpfs.path)

        let result = shim(["run", "--secret", name, "--rootfs", root, "--", "/bin/sh", "-c",
                           "cat /run/secrets/\(name); echo; grep -c ' /etc ' /proc/self/mountinfo"], env: Self.env)
        if result.status == 0 {
            #expect(result.stdout == value + "\n1\n", "\(result.stdout)")
        } else {
            #expect(result.status == 125)
            expectOneLineError(result, values: [value])
        }
        #expect(!FileManager.default.fileExists(atPath: "/etc/" + name), "written into the host's /etc")
        #expect(try FileManager.default.contentsOfDirectory(atPath: root + "/etc").sorted() == etcBefore)
        expectNoFileHolds([value], under: tmpfs.path)
        #expect(mountPoints(under: tmpfs.path) == before)
        #expect(!hostMountInfo().contains(" /etc "), "a mount on the host's /etc")
    }

    /// A target outside the secrets dir whose folder in the root is a link to a host folder
    /// (absolute, or climbing with ".."): resolved inside the root, so the mount point is made
    /// and the file bound in the root's own folder, never in the host's.
    @Test(arguments: ["/etc", "../etc", "/../../../../etc", "../../../../../../etc"])
    func anOutsideTargetsFolderLinkedElsewhereStaysInsideTheRoot(link: String) throws {
        let shim = Shim()
        defer { shim.cleanUp() }
        let value = uniqueValue("outside")
        let name = "atk" + uniqueValue().suffix(12)
        shim.create(name, value)
        let tmpfs = try PrivateTmpfs(at: shim.path + "/t")
        defer { tmpfs.unmount() }
        let root = try Rootfs.make(at: tmpfs.path)
        try FileManager.default.createDirectory(atPath: root + "/srv", withIntermediateDirectories: true)
        try FileManager.default.createSymbolicLink(atPath: root + "/srv/conf", withDestinationPath: link)
        let before = mountPoints(under: tmpfs.path)

        let result = shim(["run", "--secret", "\(name),target=/srv/conf/\(name)", "--rootfs", root, "--", "/bin/sh", "-c",
                           "cat /srv/conf/\(name)"], env: Self.env)
        #expect(result.status == 0, "\(result.stderr)")
        #expect(result.stdout == value)
        #expect(!FileManager.default.fileExists(atPath: "/etc/" + name), "a mount point in the host's /etc")
        #expect(FileManager.default.fileExists(atPath: root + "/etc/" + name), "not in the root's own /etc")
        expectNoFileHolds([value], under: tmpfs.path)
        #expect(mountPoints(under: tmpfs.path) == before)
        #expect(!hostMountInfo().contains(name), "a mount on the host")
    }

    /// Another user owns the root and swaps a target's folder for a link to a host folder
    /// (and back) while `run` places the file: whatever it wins, nothing lands in the host
    /// folder, no mount reaches the host, and each run either shows the secret or is refused
    /// in one line.
    @Test(.enabled(if: hasSetpriv, "needs setpriv"))
    func anOutsideTargetsFolderSwappedUnderTheShim() throws {
        let shim = Shim()
        defer { shim.cleanUp() }
        let value = uniqueValue("swap-outside")
        shim.create("s", value)
        let tmpfs = try PrivateTmpfs(at: shim.path + "/t", options: "size=16m,mode=0755")
        defer { tmpfs.unmount() }
        let root = try Rootfs.make(at: tmpfs.path + "/root")
        let decoy = tmpfs.path + "/decoy"
        #expect(shell("mkdir -p '\(root)/srv/conf' '\(decoy)' && chown -R 65534:65534 '\(root)/srv' '\(decoy)'").status == 0)
        let attack = """
            cd '\(root)/srv' || exit 1
            i=0
            while [ $i -lt 100000 ] && [ ! -e '\(tmpfs.path)/stop' ]; do
              mv -T conf real 2>/dev/null; ln -s '\(decoy)' conf 2>/dev/null
              rm -f conf 2>/dev/null; ln -s ../../../decoy conf 2>/dev/null
              rm -f conf 2>/dev/null; mv -T real conf 2>/dev/null
              i=$((i+1)); echo $i > count; sleep 0.003
            done
            """
        let attacker = shim.start(asNobody + ["/bin/sh", "-c", attack], executable: "/usr/bin/setpriv")
        defer { attacker.stop() }
        #expect(waitUntil(timeout: 10) { FileManager.default.fileExists(atPath: root + "/srv/count") }, "the attacker never ran: \(attacker.stderr)")
        let before = mountPoints(under: decoy)
        var shown = 0
        var outcomes: [String] = []
        for _ in 0..<60 {
            let result = shim(["run", "--secret", "s,target=/srv/conf/s", "--rootfs", root, "--", "/bin/cat", "/srv/conf/s"], env: Self.env, timeout: 30)
            expectNoValue(result.stderr, [value], "run's errors")
            outcomes.append("\(result.status) \(result.stderr.prefix(120))")
            if result.status == 0 {
                #expect(result.stdout == value)
                shown += 1
            } else if result.status == 1 {
                // Placed, then the attacker renamed the folder away before `cat` ran.
                #expect(result.stderr.contains("can't open"), "\(result.stderr)")
                shown += 1
            } else {
                #expect(result.status == 125, "\(result.stderr)")
                expectOneLineError(result, values: [value])
            }
        }
        FileManager.default.createFile(atPath: tmpfs.path + "/stop", contents: nil)
        attacker.stop()
        // Some runs got past the folder's check into the window the attacker aims at.
        #expect(shown > 0, "no run placed the file: \(Set(outcomes))")
        #expect((try FileManager.default.contentsOfDirectory(atPath: decoy)).isEmpty, "a mount point was made in the host's folder")
        #expect(mountPoints(under: decoy) == before)
        expectNoFileHolds([value], under: tmpfs.path)
    }

    /// A `--rootfs` or `--bundle` workload records its lease on the host's state dir: `ps`
    /// lists it, `secret rm` is refused while it runs, and no lease is ever written inside
    /// the root.
    @Test(.enabled(if: hasRunc, "needs runc (runc spec)"), arguments: ["rootfs", "bundle"])
    func aContainedWorkloadHoldsItsSecretOnTheHost(mode: String) throws {
        let shim = Shim()
        defer { shim.cleanUp() }
        let value = uniqueValue("lease")
        shim.create("held", value)
        let root: String
        let arguments: [String]
        if mode == "rootfs" {
            root = try Rootfs.make(at: shim.folder("r"))
            arguments = ["run", "--name", "contained", "--rootfs", root, "--secret", "held", "--", "sleep", "30"]
        } else {
            let bundle = try Rootfs.makeBundle(at: shim.folder("b"), args: ["sleep", "30"])
            root = bundle + "/rootfs"
            arguments = ["run", "--name", "contained", "--bundle", bundle, "--secret", "held"]
        }
        let workload = shim.start(arguments, env: Self.env)
        defer { workload.stop() }
        let listed = waitUntil(timeout: 15) {
            let ps = shim(["ps", "--format", "json"])
            return ps.stdout.contains("\"PID\":\(workload.pid)") && ps.stdout.contains("\"held\"")
        }
        #expect(listed, "ps never listed the \(mode) workload: \(shim(["ps"]).output) \(workload.stderr)")

        let rm = shim(["secret", "rm", "held"])
        #expect(rm.status == 1, "secret rm of a held secret: \(rm.status) \(rm.stdout)")
        expectOneLineError(rm, contains: "in use", values: [value])
        #expect(leaseFiles(in: shim.state).contains("\(workload.pid).lease"))
        let inside = shell("find '\(root)' -name '*.lease' -o -path '*run/secretshim*'").output
        #expect(inside.isEmpty, "lease files inside the root: \(inside)")

        // The workload is its PID namespace's init, which SIGTERM does not stop: the shim is
        // killed, and the kernel kills its child (parent-death signal) and the namespace.
        let children = ((try? String(contentsOfFile: "/proc/\(workload.pid)/task/\(workload.pid)/children", encoding: .utf8)) ?? "")
            .split(separator: " ").compactMap { pid_t($0) }
        #expect(children.count == 1, "the shim should stay as the workload's parent: \(children)")
        workload.signal(SIGKILL)
        #expect(workload.wait(timeout: 15), "the \(mode) shim did not die")
        for child in children {
            #expect(waitUntil(timeout: 10) { commandName(child) == nil }, "the \(mode) workload outlived its shim")
        }
        let after = shell("find '\(root)' -name '*.lease' -o -path '*run/secretshim*'").output
        #expect(after.isEmpty, "lease files inside the root: \(after)")
        expectNoFileHolds([value], under: shim.path)
        #expect(shim(["secret", "rm", "held"]).status == 0, "the finished workload still holds its secret")
    }
}
