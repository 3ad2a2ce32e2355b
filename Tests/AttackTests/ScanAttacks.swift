import Foundation
import Testing

/// FIFOs and devices where a file is expected (a key, the database, a launch record, a lease,
/// a bundle's config, a path to scan): every command comes back within seconds, in one line
/// if it fails. And `scan` reports a value found in a path name without printing it.
@Suite(.enabled(if: runningAsRoot, "needs root"))
struct ScanAttacks {
    static func mkfifo(_ path: String) throws {
        try #require(Glibc.mkfifo(path, 0o600) == 0, "mkfifo \(path): \(errno)")
    }

    /// `--key-file` (or `SECRETSHIM_KEY_FILE`) a FIFO that no one writes: refused at once.
    @Test func aKeyFileThatIsAFifo() throws {
        let shim = Shim()
        defer { shim.cleanUp() }
        let value = uniqueValue("kf")
        shim.create("s", value)
        let fifo = shim.path + "/key.fifo"
        try Self.mkfifo(fifo)
        let sd = shim.folder("sd"), scanned = shim.folder("scanned")
        let commands: [([String], [String: String], Data?)] = [
            (["--key-file", fifo, "secret", "inspect", "--show-secret", "s"], [:], nil),
            (["--key-file", fifo, "run", "--secret", "s", "--secrets-dir", sd, "--", "sh", "-c", "echo RAN"], [:], nil),
            (["run", "--key-file", fifo, "--secret", "s", "--secrets-dir", sd, "--", "sh", "-c", "echo RAN"], [:], nil),
            (["run", "--secret", "s", "--secrets-dir", sd, "--", "sh", "-c", "echo RAN"], ["SECRETSHIM_KEY_FILE": fifo], nil),
            (["secret", "create", "--key-file", fifo, "t", "-"], [:], Data(uniqueValue().utf8)),
            (["--key-file", fifo, "scan", scanned], [:], nil),
        ]
        for (arguments, env, stdin) in commands {
            let started = Date()
            let result = shim(arguments, stdin: stdin, env: env, timeout: 10)
            #expect(!result.timedOut, "\(arguments) blocked on the FIFO")
            #expect(Date().timeIntervalSince(started) < 5, "\(arguments) took \(Date().timeIntervalSince(started)) s")
            #expect(result.status != 0 && !result.stdout.contains("RAN"), "\(arguments): \(result.status) \(result.stdout)")
            expectOneLineError(result, values: [value])
        }
    }

    /// `secrets.db` replaced by a FIFO: every command that opens the store fails at once.
    @Test func aDatabaseThatIsAFifo() throws {
        let shim = Shim()
        defer { shim.cleanUp() }
        let value = uniqueValue("db")
        shim.create("s", value)
        try FileManager.default.removeItem(atPath: shim.root + "/secrets.db")
        try Self.mkfifo(shim.root + "/secrets.db")
        let sd = shim.folder("sd")
        let commands: [([String], Data?)] = [
            (["secret", "ls"], nil), (["secret", "inspect", "--show-secret", "s"], nil), (["secret", "rm", "s"], nil),
            (["secret", "create", "t", "-"], Data(uniqueValue().utf8)),
            (["run", "--secret", "s", "--secrets-dir", sd, "--", "cat", sd + "/s"], nil), (["scan", sd], nil),
        ]
        for (arguments, stdin) in commands {
            let result = shim(arguments, stdin: stdin, timeout: 10)
            #expect(!result.timedOut, "\(arguments) blocked on the FIFO")
            // run may take the launch record and never open the database; whatever it did, in time.
            if result.status == 0 {
                #expect(arguments[0] == "run" && result.stdout == value, "\(arguments): \(result.stdout)")
            } else {
                expectOneLineError(result, values: [value])
            }
            expectNoValue(result.stdout, arguments[0] == "run" ? [] : [value], "stdout of \(arguments)")
        }
    }

    /// FIFOs in place of a launch record, of `launch/.synced`, of a lease, of a bundle's
    /// config.json: each command returns within seconds (using SQLite, ignoring the lease, or
    /// refusing in one line).
    @Test func fifosWhereRecordsLeasesAndConfigsAreExpected() throws {
        let shim = Shim()
        defer { shim.cleanUp() }
        let value = uniqueValue("rec")
        shim.create("s", value)
        let sd = shim.folder("sd")
        let run = ["run", "--secret", "s", "--secrets-dir", sd, "--", "cat", sd + "/s"]
        for record in ["launch/s", "launch/.synced"] {
            let path = shim.root + "/" + record
            try FileManager.default.removeItem(atPath: path)
            try Self.mkfifo(path)
            for arguments in [run, ["secret", "inspect", "--show-secret", "s"]] {
                let result = shim(arguments, timeout: 10)
                #expect(!result.timedOut, "\(arguments) blocked on a FIFO at \(record)")
                if result.status == 0 {
                    #expect(arguments[0] == "secret" || result.stdout == value, "\(record): \(result.stdout)")
                } else {
                    expectOneLineError(result, values: [value])
                }
            }
            let created = shim(["secret", "create", "t-\(record.count)", "-"], stdin: Data(uniqueValue().utf8), timeout: 10)
            #expect(!created.timedOut, "create blocked on a FIFO at \(record)")
            if created.status != 0 { expectOneLineError(created) }
        }
        // A lease that is a FIFO, named after a live pid: ignored (never opened to block).
        let state = shim.folder("state", mode: 0o700)
        let sleeper = Spawned("/bin/sleep", ["30"], env: [:], stdin: nil, in: shim.directory)
        defer { sleeper.stop() }
        try Self.mkfifo(state + "/\(sleeper.pid).lease")
        for arguments in [["ps"], run, ["secret", "rm", "t-8"]] {
            let result = shim(arguments, timeout: 10)
            #expect(!result.timedOut, "\(arguments) blocked on a FIFO lease")
            if result.status != 0 { expectOneLineError(result, values: [value]) }
        }
        // A bundle whose config.json is a FIFO.
        let bundle = shim.folder("bundle")
        try Self.mkfifo(bundle + "/config.json")
        let bundled = shim(["run", "--bundle", bundle, "--secret", "s"], timeout: 10)
        #expect(!bundled.timedOut, "run --bundle blocked on a FIFO config.json")
        #expect(bundled.status == 125)
        expectOneLineError(bundled, values: [value])
    }

    /// `scan` of a FIFO, of /dev/zero (endless), of a folder holding a FIFO: each is skipped
    /// with a warning, and scan returns at once.
    @Test func scanSkipsFifosAndDevices() throws {
        let shim = Shim()
        defer { shim.cleanUp() }
        shim.create("s", uniqueValue("scan"))
        let fifo = shim.path + "/lone.fifo"
        try Self.mkfifo(fifo)
        let folder = shim.folder("tree")
        try Self.mkfifo(folder + "/inner.fifo")
        try "plain\n".write(toFile: folder + "/plain.txt", atomically: true, encoding: .utf8)
        for target in [fifo, "/dev/zero", "/dev/urandom", folder] {
            let started = Date()
            let result = shim(["scan", target], timeout: 10)
            #expect(!result.timedOut, "scan \(target) did not return")
            #expect(Date().timeIntervalSince(started) < 5)
            #expect(result.status == 0, "scan \(target): \(result.status) \(result.output)")
            let warnings = result.stderr.split(separator: "\n")
            #expect(warnings.contains { $0.hasPrefix("secretshim: scan: warning: ") && $0.contains("skipped") }, "scan \(target): \(result.stderr)")
            #expect(warnings.allSatisfy { $0.hasPrefix("secretshim: ") }, "\(result.stderr)")
        }
    }

    /// A value that is also a file or folder name (`mkdir -p d/VALUE`): reported, by secret
    /// name, as a finding (exit 1), in every format and from a tar too; the value itself is
    /// never printed.
    @Test func scanNeverPrintsAValueFoundInAPathName() throws {
        let shim = Shim()
        defer { shim.cleanUp() }
        let value = uniqueValue("path")
        shim.create("named", value)
        let tree = shim.folder("d")
        #expect(shell("""
            cd '\(tree)' && mkdir -p '\(value)' sub && echo x > '\(value)/f' && echo y > 'x-\(value)-y.conf' \
            && : > 'sub/\(value)' && ln -s '/nowhere/\(value)' link
            """).status == 0)
        #expect(shell("tar cf '\(shim.path)/d.tar' -C '\(tree)' . && tar czf '\(shim.path)/d.tgz' -C '\(tree)' .").status == 0)
        let runs: [[String]] = [
            ["scan", tree], ["scan", "--format", "json", tree], ["scan", shim.path + "/d.tar"], ["scan", "--format", "json", shim.path + "/d.tgz"],
            ["scan", tree + "/" + value], ["scan", tree + "/" + value + "/f"],
        ]
        for arguments in runs {
            let result = shim(arguments, timeout: 30)
            #expect(result.status == 1, "\(arguments): \(result.status) \(result.stderr)")
            expectNoValue(result.stdout, [value], "scan's stdout (\(arguments))")
            expectNoValue(result.stderr, [value], "scan's stderr (\(arguments))")
            #expect(result.stdout.contains("named"), "the finding names no secret: \(result.stdout)")
        }
    }
}
