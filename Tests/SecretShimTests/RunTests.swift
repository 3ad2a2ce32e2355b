import Foundation
import Testing

/// `secretshim run` against the real kernel, as root.
@Suite(.enabled(if: Shim.isRoot, "run needs root (mount namespaces)"))
struct RunTests {
    @Test func filesHaveContentOwnerAndMode() {
        let shim = Shim()
        defer { shim.cleanUp() }
        shim.create("pw", "hunter2")
        shim.create("conf", "a=1\n")
        let result = shim([
            "run", "--secret", "pw", "--secret", "conf,target=app/conf.ini,uid=1000,gid=2000,mode=0400",
            "--", "sh", "-c", "cat /run/secrets/pw; echo; stat -c '%u %g %a' /run/secrets/pw /run/secrets/app/conf.ini /run/secrets /run/secrets/app; cat /run/secrets/app/conf.ini",
        ])
        #expect(result.status == 0, "\(result.stderr)")
        #expect(result.stdout == "hunter2\n0 0 444\n1000 2000 400\n0 0 755\n0 0 755\na=1\n")
    }

    @Test func tmpfsIsReadOnlyNosuidNodevNoexecAndUnwritable() {
        let shim = Shim()
        defer { shim.cleanUp() }
        shim.create("pw", "v")
        let result = shim([
            "run", "--secret", "pw", "--", "sh", "-c",
            "grep ' /run/secrets ' /proc/self/mountinfo; echo x > /run/secrets/pw && echo WROTE; touch /run/secrets/new && echo CREATED; exit 0",
        ])
        let mount = result.stdout.split(separator: "\n").first.map(String.init) ?? ""
        let options = mount.split(separator: " ")[5].split(separator: ",")
        for option in ["ro", "nosuid", "nodev", "noexec"] { #expect(options.contains(Substring(option)), "\(mount)") }
        #expect(mount.contains(" - tmpfs "))
        #expect(mount.contains("noswap"), "kernel 6.4+ should get noswap: \(mount)")
        #expect(!result.stdout.contains("WROTE") && !result.stdout.contains("CREATED"))
    }

    /// The mount options are written by hand in CLinux (no snprintf on `run`'s path): the size,
    /// in decimal, and the root's mode, in octal, must reach the kernel as asked.
    @Test(arguments: [("3m", "size=3072k"), ("1g", "size=1048576k"), ("100k", "size=100k")])
    func tmpfsGetsTheSizeAndModeAsked(size: String, expected: String) {
        let shim = Shim()
        defer { shim.cleanUp() }
        shim.create("pw", "v")
        let result = shim(["run", "--secret", "pw", "--tmpfs-size", size, "--", "grep", " /run/secrets ", "/proc/self/mountinfo"])
        let superOptions = result.stdout.split(separator: " ").last.map { $0.split(separator: ",") } ?? []
        #expect(superOptions.contains(Substring(expected)), "\(result.stdout)")
        #expect(superOptions.contains("mode=755"), "\(result.stdout)")
    }

    @Test func valueIsInNoEnvironmentAndNoArgv() {
        let shim = Shim()
        defer { shim.cleanUp() }
        shim.create("pw", "env-argv-marker-42")
        let result = shim([
            "run", "--secret", "pw,env=PW_FILE", "--env", "EXTRA=1", "--", "sh", "-c",
            "cat /proc/self/environ /proc/1/environ /proc/self/cmdline 2>/dev/null | tr '\\0' '\\n'; echo PATHVAR=$PW_FILE; echo EXTRA=$EXTRA",
        ])
        #expect(result.status == 0)
        #expect(!result.stdout.contains("env-argv-marker-42"))
        #expect(result.stdout.contains("PATHVAR=/run/secrets/pw"))
        #expect(result.stdout.contains("EXTRA=1"))
    }

    @Test func hostSeesNothingWhileRunningAndAfter() throws {
        let shim = Shim()
        defer { shim.cleanUp() }
        shim.create("pw", "host-must-not-see")
        let marker = shim.directory.appendingPathComponent("started").path
        let secretsDir = shim.directory.appendingPathComponent("secrets").path
        let process = Process()
        process.executableURL = URL(fileURLWithPath: Shim.binary)
        process.arguments = ["run", "--secrets-dir", secretsDir, "--secret", "pw", "--name", "watched", "--", "sh", "-c", "touch \(marker); exec sleep 30"]
        process.environment = shim.environment
        try process.run()
        defer { process.terminate() }
        var waited = 0
        while !FileManager.default.fileExists(atPath: marker) && waited < 500 {
            usleep(10_000)
            waited += 1
        }
        let hostMounts = String(decoding: try FileHandle(forReadingFrom: URL(fileURLWithPath: "/proc/self/mountinfo")).readToEnd() ?? Data(), as: UTF8.self)
        #expect(!hostMounts.contains(secretsDir))
        #expect((try? FileManager.default.contentsOfDirectory(atPath: secretsDir)) == [])
        // Another process, even root, reaches the files only through the workload's own namespace.
        #expect(shell("cat \(secretsDir)/pw").status != 0)
        let ps = shim(["ps", "--format", "json"])
        #expect(ps.stdout.contains("\"Name\":\"watched\"") && ps.stdout.contains("\"PID\":\(process.processIdentifier)"))
        #expect(ps.stdout.contains("\"Secrets\":[\"pw\"]"))

        let refused = shim(["secret", "rm", "pw"])
        #expect(refused.status == 1)
        expectOneLineError(refused, contains: "secret 'pw' is in use by the following workload: watched (pid \(process.processIdentifier))")

        process.terminate()
        process.waitUntilExit()
        #expect(!(String(decoding: try FileHandle(forReadingFrom: URL(fileURLWithPath: "/proc/self/mountinfo")).readToEnd() ?? Data(), as: UTF8.self)).contains(secretsDir))
        // The holder is dead: its lease no longer blocks.
        #expect(shim(["secret", "rm", "pw"]).status == 0)
        #expect(shim(["ps", "--format", "json"]).stdout.isEmpty)
    }

    @Test func workloadExitStatusAndExecFailures() {
        let shim = Shim()
        defer { shim.cleanUp() }
        shim.create("pw", "v")
        #expect(shim(["run", "--secret", "pw", "--", "sh", "-c", "exit 42"]).status == 42)
        let notFound = shim(["run", "--secret", "pw", "--", "no-such-command-xyz"])
        #expect(notFound.status == 127)
        expectOneLineError(notFound, contains: "not found")
        let notExecutable = shim(["run", "--secret", "pw", "--", "/etc/hostname"])
        #expect(notExecutable.status == 126)
        expectOneLineError(notExecutable)
        #expect(shim(["run", "--", "true"]).status == 0)
    }

    /// Docker's CSV quoting, end to end: a target holding a comma, and one holding a quote.
    @Test func quotedTargetsHoldCommasAndQuotes() {
        let shim = Shim()
        defer { shim.cleanUp() }
        shim.create("pw", "comma-value")
        shim.create("other", "quote-value")
        let result = shim([
            "run", "--secret", #""source=pw","target=app/a,b",mode=0400"#, "--secret", #"other,"target=say ""hi""""#,
            "--", "sh", "-c", #"cat '/run/secrets/app/a,b'; echo; cat '/run/secrets/say "hi"'; echo; stat -c %a '/run/secrets/app/a,b'"#,
        ])
        #expect(result.status == 0, "\(result.stderr)")
        #expect(result.stdout == "comma-value\nquote-value\n400\n")
        let unclosed = shim(["run", "--secret", #"pw,"target=a,b"#, "--", "true"])
        #expect(unclosed.status == 125)
        expectOneLineError(unclosed, contains: "is not closed")
    }

    static let malformed: [[String]] = [
        ["--secret", "pw,mode=999"], ["--secret", "pw,mode=0x1"], ["--secret", "pw,target=../x"],
        ["--secret", "pw,target=/etc/nonexistent-secretshim-x"], ["--secret", "pw,target=/"], ["--secret", "pw,target="], ["--secret", "pw,type=env"],
        ["--secret", "pw,nokey=1"], ["--secret", "pw", "--secret", "pw"], ["--secret", "pw,uid=x"],
        ["--secret", "bad name"], ["--secret"], ["--bogus"], ["--tmpfs-size", "lots"], ["--tmpfs-size", "0"],
        ["--name", "bad name"], ["--env", "NOEQUALS"], ["--secrets-dir", "relative"], ["--secrets-dir", "/"],
        ["--secret", "missing"], ["--secret", "pw", "--tmpfs-size", "100"],
        ["--tmpfs-size", "k"], ["--tmpfs-size", "-1m"], ["--tmpfs-size", "1.5m"], ["--tmpfs-size", "2t"],
        ["--tmpfs-size", "1025g"], ["--tmpfs-size", "99999999999999999999999"], ["--tmpfs-size", ""],
        // Found by fuzz/ (run-arguments): the secrets dir is judged on bytes.
        ["--secrets-dir", "//"], ["--secrets-dir", "/run/../\u{301}x"],
    ]

    @Test(arguments: malformed)
    func malformedInputExits125WithOneLine(arguments: [String]) {
        let shim = Shim()
        defer { shim.cleanUp() }
        shim.create("pw", "v")
        let result = shim(["run"] + arguments + ["--", "true"])
        #expect(result.status == 125, "\(arguments)")
        expectOneLineError(result)
    }

    @Test func noCommandIsAnError() {
        let shim = Shim()
        defer { shim.cleanUp() }
        let result = shim(["run", "--secret", "pw"])
        #expect(result.status == 125)
        expectOneLineError(result, contains: "no command")
    }

    @Test func environmentLeakIsRefusedUnlessAllowed() {
        let shim = Shim()
        defer { shim.cleanUp() }
        shim.create("pw", "leaky-value\n")
        let refused = shim(["run", "--secret", "pw", "--", "true"], env: ["DB_PASSWORD": "leaky-value"])
        #expect(refused.status == 125)
        expectOneLineError(refused, contains: "DB_PASSWORD")
        #expect(!refused.stderr.contains("leaky-value"))
        let viaFlag = shim(["run", "--secret", "pw", "--env", "X=leaky-value\n", "--", "true"])
        #expect(viaFlag.status == 125)
        #expect(shim(["run", "--allow-env-leak", "--secret", "pw", "--", "true"], env: ["DB_PASSWORD": "leaky-value"]).status == 0)
    }

    /// Where unshare is refused (an unprivileged process in a container: here, nobody under the
    /// default seccomp filter of an outer `run`), `run` uses an existing tmpfs at the secrets
    /// dir, and refuses a disk-backed one.
    @Test func withoutUnshareItUsesAnExistingTmpfsAndRefusesDisk() throws {
        let shim = Shim(), outer = Shim()
        defer {
            shim.cleanUp()
            outer.cleanUp()
        }
        shim.create("pw", "unprivileged-value")
        // A tmpfs mounted at the secrets dir (as `docker run --tmpfs` makes), private to this test.
        let memory = shim.directory.appendingPathComponent("tmpfs-secrets").path
        let disk = shim.directory.appendingPathComponent("disk-secrets").path
        try FileManager.default.createDirectory(atPath: memory, withIntermediateDirectories: true)
        try FileManager.default.createDirectory(atPath: disk, withIntermediateDirectories: true)
        #expect(shell("mount -t tmpfs -o size=1m tmpfs \(memory)").status == 0)
        defer { shell("umount \(memory)") }
        // Hand the store and both dirs to nobody, then run the shim as nobody, inside an outer
        // run (root, with a store of its own) whose seccomp filter refuses unshare.
        #expect(shell("chown -R 65534:65534 \(shim.directory.path) \(memory) && chmod 755 \(shim.directory.path)").status == 0)
        let asNobody = "env SECRETSHIM_ROOT=\(outer.root) SECRETSHIM_STATE_DIR=\(outer.state) \(Shim.binary) run --user 65534:65534 -- env SECRETSHIM_ROOT=\(shim.root) SECRETSHIM_STATE_DIR=\(shim.state) \(Shim.binary)"
        let onDisk = shell("\(asNobody) run --secrets-dir \(disk) --secret pw,uid=65534,gid=65534 -- cat \(disk)/pw")
        #expect(onDisk.status == 125)
        #expect(onDisk.output.contains("not a tmpfs or ramfs mounted there"), "\(onDisk.output)")
        #expect((try FileManager.default.contentsOfDirectory(atPath: disk)).isEmpty)
        let inMemory = shell("\(asNobody) run --secrets-dir \(memory) --secret pw,uid=65534,gid=65534,mode=0400 -- cat \(memory)/pw")
        #expect(inMemory.status == 0, "\(inMemory.output)")
        #expect(inMemory.output.hasSuffix("unprivileged-value"))
    }
}
