import Foundation
import Testing

/// The leases, the store's location and the state dir as the attacker shapes them: a state
/// dir others can write, leases planted, forged, garbled or piled up, a full state dir, a store
/// root in a user's folder, a database that is a symlink.
@Suite(.enabled(if: runningAsRoot, "needs root"))
struct StateDirAttacks {
    /// A lease in the form `run` writes.
    static func lease(pid: pid_t, start: String, secrets: [(id: String, name: String)]) -> String {
        var text = "secretshim-lease 1\nid 0123456789ab\nname forged\npid \(pid)\nstart \(start)\nstarted 1\n"
        for secret in secrets { text += "secret \(secret.id) \(secret.name)\n" }
        return text
    }

    /// A state dir that group or others can write (anyone could plant a lease that blocks
    /// `secret rm`, or swap one): `run` and `secret rm` refuse it in one line.
    @Test(arguments: [0o1777, 0o777, 0o770, 0o720] as [mode_t])
    func aStateDirOthersCanWriteIsRefused(mode: mode_t) throws {
        let shim = Shim()
        defer { shim.cleanUp() }
        let value = uniqueValue("state")
        shim.create("s", value)
        _ = shim.folder("state", mode: mode)
        let run = shim(["run", "--secret", "s", "--secrets-dir", shim.folder("sd"), "--", "sh", "-c", "echo RAN"])
        #expect(run.status == 125, "mode \(String(mode, radix: 8)): \(run.status) \(run.stdout)")
        #expect(!run.stdout.contains("RAN"))
        expectOneLineError(run, values: [value])
        let rm = shim(["secret", "rm", "s"])
        #expect(rm.status == 1, "mode \(String(mode, radix: 8)): \(rm.status)")
        expectOneLineError(rm, values: [value])
        let kept = shim(["secret", "inspect", "s"], env: ["SECRETSHIM_STATE_DIR": shim.folder("good-state", mode: 0o700)])
        #expect(kept.status == 0, "the secret went despite the refusal: \(kept.stderr)")
        #expect(leaseFiles(in: shim.state).isEmpty)
    }

    /// A lease naming pid 1 (alive, start time right) and holding the secret, planted by
    /// another user (here: chowned to nobody) in root's 0700 state dir: ignored. The same
    /// lease owned by root holds the secret (the control).
    @Test func aLeaseOfAnotherOwnerDoesNotBlockRm() throws {
        let shim = Shim()
        defer { shim.cleanUp() }
        let id = shim.create("s", uniqueValue("own"))
        let state = shim.folder("state", mode: 0o700)
        let start = try #require(processStartTime(1))
        let path = state + "/1.lease"
        try Self.lease(pid: 1, start: start, secrets: [(id, "s")]).write(toFile: path, atomically: false, encoding: .utf8)
        chmod(path, 0o600)
        let held = shim(["secret", "rm", "s"])
        #expect(held.status == 1, "control: a root-owned lease of pid 1 should hold 's': \(held.stdout)")
        expectOneLineError(held, contains: "in use")

        #expect(chown(path, 65534, 65534) == 0)
        let rm = shim(["secret", "rm", "s"])
        #expect(rm.status == 0, "a lease owned by nobody blocked rm: \(rm.stderr)")
        #expect(shim(["secret", "inspect", "s"]).status != 0)
    }

    /// Three hundred finished `run`s: each sweeps finished leases, so the state dir holds a
    /// handful, not three hundred.
    @Test func finishedRunsDoNotPileUpLeases() throws {
        let shim = Shim()
        defer { shim.cleanUp() }
        shim.create("s", uniqueValue("sweep"))
        let sd = shim.folder("sd")
        var failures = 0
        for _ in 0..<300 {
            if shim(["run", "--secret", "s", "--secrets-dir", sd, "--", "true"], timeout: 30).status != 0 { failures += 1 }
        }
        #expect(failures == 0)
        let left = leaseFiles(in: shim.state)
        #expect(left.count <= 8, "\(left.count) leases left after 300 runs")
        #expect(shim(["secret", "rm", "s"]).status == 0)
    }

    /// 4,097 grants: refused in one line before anything happens; 4,096 still run.
    @Test func moreThan4096GrantsAreRefused() throws {
        let shim = Shim()
        defer { shim.cleanUp() }
        let value = uniqueValue("many")
        shim.create("s", value)
        let sd = shim.folder("sd")
        let tooMany = (0...4096).flatMap { ["--secret", "s,target=t\($0)"] }
        let refused = shim(["run", "--secrets-dir", sd] + tooMany + ["--", "sh", "-c", "echo RAN"])
        #expect(refused.status == 125)
        #expect(!refused.stdout.contains("RAN"))
        expectOneLineError(refused, values: [value])
        #expect(leaseFiles(in: shim.state).isEmpty)
        let most = shim(["run", "--secrets-dir", sd] + tooMany.dropLast(2) + ["--", "sh", "-c", "ls \(sd) | wc -l"])
        #expect(most.status == 0, "\(most.stderr)")
        #expect(most.stdout.trimmingCharacters(in: .whitespacesAndNewlines) == "4096")
    }

    /// A lease that does not parse, named after a live process: it may be a lease being
    /// written, so it holds every secret until its process ends.
    @Test func aGarbledLeaseOfALivePidHoldsEverything() throws {
        let shim = Shim()
        defer { shim.cleanUp() }
        shim.create("s", uniqueValue("g1"))
        shim.create("t", uniqueValue("g2"))
        let state = shim.folder("state", mode: 0o700)
        let sleeper = Spawned("/bin/sleep", ["30"], env: [:], stdin: nil, in: shim.directory)
        defer { sleeper.stop() }
        let path = state + "/\(sleeper.pid).lease"
        FileManager.default.createFile(atPath: path, contents: Data([0x67, 0x61, 0x72, 0x62, 0x00, 0xff, 0x0a, 0x7b]), attributes: [.posixPermissions: 0o600])
        for name in ["s", "t"] {
            let rm = shim(["secret", "rm", name])
            #expect(rm.status == 1, "a garbled lease of a live pid did not hold '\(name)'")
            expectOneLineError(rm, contains: "in use")
        }
        sleeper.stop()
        let rm = shim(["secret", "rm", "s", "t"])
        #expect(rm.status == 0, "the garbled lease of a dead pid still holds: \(rm.stderr)")
    }

    /// The state dir on a full tmpfs: the lease cannot be written, so `run` refuses to start
    /// (rather than running a workload that `secret rm` cannot see).
    @Test func aFullStateDirStopsRun() throws {
        let shim = Shim()
        defer { shim.cleanUp() }
        let value = uniqueValue("full")
        shim.create("s", value)
        let state = try PrivateTmpfs(at: shim.state, options: "size=16k,mode=0700")
        defer { state.unmount() }
        _ = shell("dd if=/dev/zero of='\(state.path)/fill' bs=4k")
        #expect(shell("df --output=avail '\(state.path)' | tail -1").output.trimmingCharacters(in: .whitespacesAndNewlines) == "0")
        let result = shim(["run", "--secret", "s", "--secrets-dir", shim.folder("sd"), "--", "sh", "-c", "echo RAN"])
        #expect(result.status == 125, "\(result.status) \(result.stdout) \(result.stderr)")
        #expect(!result.stdout.contains("RAN"), "the workload ran without a lease")
        expectOneLineError(result, values: [value])
        expectNoFileHolds([value], under: state.path)
    }

    /// As root, a store root (or state dir) inside a folder an ordinary user owns, who could
    /// swap its parts for symlinks: every command refuses in one line and creates nothing there.
    @Test(arguments: ["store", "sub/store", "state"])
    func aStoreInAUsersFolderIsRefusedByEveryCommand(placement: String) throws {
        let shim = Shim()
        defer { shim.cleanUp() }
        let user = shim.folder("user")
        #expect(chown(user, 65534, 65534) == 0)
        var env = ["SECRETSHIM_ROOT": shim.root, "SECRETSHIM_STATE_DIR": shim.state]
        if placement == "state" {
            shim.create("n", uniqueValue("u"))
            env["SECRETSHIM_STATE_DIR"] = user + "/state"
        } else {
            if placement.hasPrefix("sub/") { _ = shim.folder("user/sub") }
            env["SECRETSHIM_ROOT"] = user + "/" + placement
        }
        let before = shell("find '\(user)'").output
        let scanned = shim.folder("scanned")
        let commands: [([String], Data?)] = [
            (["secret", "create", "n2", "-"], Data("v".utf8)), (["secret", "ls"], nil), (["secret", "inspect", "n"], nil),
            (["secret", "rm", "n"], nil), (["run", "--secret", "n", "--secrets-dir", shim.folder("sd"), "--", "true"], nil),
            (["run", "--", "true"], nil), (["scan", scanned], nil), (["ps"], nil),
        ]
        for (arguments, stdin) in commands {
            // A state dir matters to the commands that read or write leases.
            if placement == "state" && !(arguments[0] == "run" || arguments[0] == "ps" || arguments.prefix(2) == ["secret", "rm"]) { continue }
            let result = shim(arguments, stdin: stdin, env: env)
            #expect(result.status != 0, "\(placement): \(arguments) succeeded: \(result.stdout)")
            expectOneLineError(result)
        }
        #expect(shell("find '\(user)'").output == before, "created in the user's folder")
    }

    /// `secrets.db` a symlink to a database elsewhere (or to where one would be made): no
    /// command follows it, reads through it or writes through it.
    @Test func aSymlinkedDatabaseIsNotFollowed() throws {
        let shim = Shim()
        defer { shim.cleanUp() }
        let value = uniqueValue("link")
        shim.create("n", value)
        let elsewhere = shim.path + "/elsewhere.db"
        #expect(rename(shim.root + "/secrets.db", elsewhere) == 0)
        try FileManager.default.createSymbolicLink(atPath: shim.root + "/secrets.db", withDestinationPath: elsewhere)
        let sum = shell("md5sum < '\(elsewhere)'").output
        let sd = shim.folder("sd")
        for keepLaunchIndex in [true, false] {
            if !keepLaunchIndex { try FileManager.default.removeItem(atPath: shim.root + "/launch") }
            let commands: [([String], Data?)] = [
                (["secret", "ls"], nil), (["secret", "inspect", "--show-secret", "n"], nil), (["secret", "create", "m", "-"], Data(uniqueValue().utf8)),
                (["secret", "rm", "n"], nil), (["run", "--secret", "n", "--secrets-dir", sd, "--", "cat", sd + "/n"], nil),
                (["scan", sd], nil),
            ]
            for (arguments, stdin) in commands {
                let result = shim(arguments, stdin: stdin)
                #expect(result.status != 0, "launch/ kept: \(keepLaunchIndex): \(arguments) went through the symlink: \(result.stdout)")
                expectNoValue(result.stdout, [value], "stdout of \(arguments)")
                expectOneLineError(result, values: [value])
            }
        }
        #expect(shell("md5sum < '\(elsewhere)'").output == sum, "the database behind the symlink changed")
        // A symlink to where no file is yet: nothing is created there.
        let fresh = shim.path + "/fresh.db"
        try FileManager.default.removeItem(atPath: shim.root + "/secrets.db")
        try FileManager.default.createSymbolicLink(atPath: shim.root + "/secrets.db", withDestinationPath: fresh)
        let create = shim(["secret", "create", "k", "-"], stdin: Data(uniqueValue().utf8))
        #expect(create.status != 0)
        expectOneLineError(create)
        #expect(!FileManager.default.fileExists(atPath: fresh), "a database was made through the symlink")
    }
}
