import Foundation
import Testing

/// `run` reads names through `launch/`, the store's by-name copy of its sealed rows, and only
/// while it agrees with the database: a removed secret is never served, whoever removed it.
@Suite struct LaunchIndexTests {
    func index(_ shim: Shim) -> String { shim.root + "/launch" }

    // Names here have a '-', which no ID has: a name like "a" would also be found as the prefix
    // of any secret whose ID starts with "a", as Docker resolves references.

    func entries(_ shim: Shim) -> Set<String> {
        Set((try? FileManager.default.contentsOfDirectory(atPath: index(shim))) ?? []).subtracting([".synced"])
    }

    func cat(_ shim: Shim, _ name: String) -> Shim.Result {
        shim(["run", "--secret", name, "--", "cat", "/run/secrets/" + name])
    }

    /// Overwrites the database's second page with zeros, behind SQLite's back: the header (and
    /// so the stamp `run` checks) is untouched, but any SQLite read of the table fails.
    func breakTheDatabase(_ shim: Shim) throws {
        let handle = try #require(FileHandle(forWritingAtPath: shim.root + "/secrets.db"))
        try handle.seek(toOffset: 4096)
        try handle.write(contentsOf: Data(repeating: 0, count: 4096))
        try handle.close()
    }

    @Test func runReadsANameFromTheIndexWithoutSQLite() throws {
        let shim = Shim()
        defer { shim.cleanUp() }
        let id = shim.create("s-a", "value-a")
        shim.create("s-b", "value-b")
        #expect(entries(shim) == ["s-a", "s-b"])
        try breakTheDatabase(shim)
        // SQLite cannot read the store any more...
        #expect(shim(["secret", "inspect", "--show-secret", "s-a"]).status == 1)
        // ...but run, by name, never asks it.
        let both = shim(["run", "--secret", "s-a", "--secret", "s-b", "--", "cat", "/run/secrets/s-a", "/run/secrets/s-b"])
        #expect(both.status == 0, "\(both.stderr)")
        #expect(both.stdout == "value-avalue-b")
        // An ID always goes to SQLite (an ID beats a name, and the index is by name).
        let byID = shim(["run", "--secret", "\(id),target=s-a", "--", "true"])
        #expect(byID.status == 125)
        expectOneLineError(byID)
    }

    /// The index's stamp is `.synced`, a name no secret can have (Swarm's names start with a
    /// letter or digit): secrets named like the old stamp, `synced`, or like a temporary file's
    /// suffix are ordinary entries, served from the index.
    @Test func noSecretNameMeetsTheIndexsOwnFiles() throws {
        let shim = Shim()
        defer { shim.cleanUp() }
        shim.create("synced", "value-synced")
        shim.create("new-synced", "value-new")
        #expect(entries(shim) == ["synced", "new-synced"])
        try breakTheDatabase(shim)
        let both = shim(["run", "--secret", "synced", "--secret", "new-synced", "--", "cat", "/run/secrets/synced", "/run/secrets/new-synced"])
        #expect(both.status == 0, "\(both.stderr)")
        #expect(both.stdout == "value-syncedvalue-new")
    }

    @Test func aRemovedSecretIsGoneFromTheIndex() {
        let shim = Shim()
        defer { shim.cleanUp() }
        shim.create("s-a", "value-a")
        shim.create("s-b", "value-b")
        #expect(shim(["secret", "rm", "s-a"]).status == 0)
        #expect(entries(shim) == ["s-b"])
        let run = cat(shim, "s-a")
        #expect(run.status == 125)
        expectOneLineError(run, contains: "no such secret: s-a")
        #expect(cat(shim, "s-b").stdout == "value-b")
        // The name can be used again, for a new value.
        shim.create("s-a", "value-a2")
        #expect(cat(shim, "s-a").stdout == "value-a2")
    }

    /// Another writer (an older secretshim, the sqlite3 shell) moves the database's change
    /// counter without touching `launch/`: from then on `run` asks SQLite, and the next change
    /// made by secretshim rebuilds the index.
    @Test func aChangeBehindTheIndexsBackIsNeverMissed() throws {
        let shim = Shim()
        defer { shim.cleanUp() }
        shim.create("s-a", "value-a")
        shim.create("s-b", "value-b")
        let delete = shell("sqlite3 \(shim.root)/secrets.db \"DELETE FROM secrets WHERE name='s-a'\"")
        #expect(delete.status == 0, "\(delete.output)")
        #expect(entries(shim).contains("s-a"))
        let run = cat(shim, "s-a")
        #expect(run.status == 125)
        expectOneLineError(run, contains: "no such secret: s-a")
        #expect(cat(shim, "s-b").stdout == "value-b")
        shim.create("s-c", "value-c")
        #expect(entries(shim) == ["s-b", "s-c"])
        try breakTheDatabase(shim)
        #expect(cat(shim, "s-c").stdout == "value-c")
    }

    /// A database copied in from another store (its own token) is not vouched for by this
    /// store's index, even at the same change counter. The other store shares this one's key:
    /// under a key of its own, the store's key check refuses it first (as the second part shows).
    @Test func aDatabaseFromAnotherStoreIsNotMatchedToThisIndex() throws {
        let mine = Shim(), theirs = Shim(), stranger = Shim()
        defer { mine.cleanUp(); theirs.cleanUp(); stranger.cleanUp() }
        mine.create("s-a", "mine")
        let created = theirs(["--key-file", mine.root + "/master.key", "secret", "create", "other", "-"], stdin: Data("theirs".utf8))
        #expect(created.status == 0, "\(created.stderr)")
        try FileManager.default.removeItem(atPath: mine.root + "/secrets.db")
        try FileManager.default.copyItem(atPath: theirs.root + "/secrets.db", toPath: mine.root + "/secrets.db")
        let run = cat(mine, "s-a")
        #expect(run.status == 125)
        expectOneLineError(run, contains: "no such secret: s-a")

        stranger.create("other", "strange")
        try FileManager.default.removeItem(atPath: mine.root + "/secrets.db")
        try FileManager.default.copyItem(atPath: stranger.root + "/secrets.db", toPath: mine.root + "/secrets.db")
        let refused = cat(mine, "s-a")
        #expect(refused.status == 125)
        expectOneLineError(refused, contains: "is not the key of the store")
    }

    @Test func aRenamedOrEditedIndexFileIsNeverServed() throws {
        let shim = Shim()
        defer { shim.cleanUp() }
        shim.create("s-a", "value-a")
        shim.create("s-b", "value-b")
        let fm = FileManager.default
        // a's file under b's name: it fails authentication, and run asks SQLite for b.
        try fm.removeItem(atPath: index(shim) + "/s-b")
        try fm.copyItem(atPath: index(shim) + "/s-a", toPath: index(shim) + "/s-b")
        #expect(cat(shim, "s-b").stdout == "value-b")
        // A flipped byte in a's sealed value: the same.
        var bytes = try Data(contentsOf: URL(fileURLWithPath: index(shim) + "/s-a"))
        bytes[bytes.count - 20] ^= 0x01
        try bytes.write(to: URL(fileURLWithPath: index(shim) + "/s-a"))
        #expect(cat(shim, "s-a").stdout == "value-a")
    }

    @Test func aStoreWithoutAnIndexIsReadThenIndexedAtItsNextWrite() throws {
        let shim = Shim()
        defer { shim.cleanUp() }
        shim.create("s-a", "value-a")
        shim.create("s-b", "value-b")
        try FileManager.default.removeItem(atPath: index(shim))
        #expect(cat(shim, "s-a").stdout == "value-a")
        shim.create("s-c", "value-c")
        #expect(entries(shim) == ["s-a", "s-b", "s-c"])
        try breakTheDatabase(shim)
        #expect(cat(shim, "s-a").stdout == "value-a")
    }

    /// Many processes creating and removing the same names at once: afterwards every file in
    /// the index has its row, with the same ID, and every secret runs with its own value.
    @Test func concurrentCreatesAndRemovesLeaveNoOrphan() throws {
        // Values differ from names: `run` refuses a value that it finds in its command's argv.
        let shim = Shim()
        defer { shim.cleanUp() }
        let script = """
            for p in 1 2 3 4 5 6; do
              ( for i in $(seq 1 15); do
                  n="shared-$((i % 4))"
                  printf 'v-%s-%s' $p $i | "$SHIM" secret create "$n" - >/dev/null 2>&1
                  printf 'own-%s-%s-value' $p $i | "$SHIM" secret create "own-$p-$i" - >/dev/null || echo FAIL
                  [ $((i % 3)) = 0 ] && "$SHIM" secret rm "own-$p-$i" >/dev/null
                  "$SHIM" secret rm "$n" >/dev/null 2>&1
                done ) &
            done
            wait
            """
        let result = shell("SHIM='\(Shim.binary)' SECRETSHIM_ROOT='\(shim.root)' SECRETSHIM_STATE_DIR='\(shim.state)' sh -c '\(script.replacingOccurrences(of: "'", with: "'\\''"))'")
        #expect(!result.output.contains("FAIL"), "\(result.output)")
        let rows = try rowsByName(shim)
        #expect(rows.keys.filter { $0.hasPrefix("own-") }.count == 60)
        for entry in entries(shim) {
            let row = try #require(rows[entry], "\(entry) is in the index but not in the store")
            let file = try Data(contentsOf: URL(fileURLWithPath: index(shim) + "/" + entry))
            let id = String(decoding: file[20..<45], as: UTF8.self)
            #expect(id == row, "\(entry): the index holds another secret's ID")
        }
        try breakTheDatabase(shim)
        for name in rows.keys.sorted() where name.hasPrefix("own-") {
            #expect(cat(shim, name).stdout.hasPrefix("own-"), "\(name)")
        }
    }

    /// `secret rm` and `secret create` killed at random points: a secret the store no longer
    /// lists is never served, and one it lists always is, with its value.
    @Test func killMinus9NeverLeavesARemovedSecretServed() throws {
        let shim = Shim()
        defer { shim.cleanUp() }
        for round in 0..<20 {
            let name = "s-\(round % 3)"
            for arguments in [["secret", "rm", name], ["secret", "create", name, "-"]] {
                let process = Process()
                process.executableURL = URL(fileURLWithPath: Shim.binary)
                process.arguments = arguments
                process.environment = shim.environment
                let input = Pipe()
                process.standardInput = input
                process.standardOutput = FileHandle.nullDevice
                process.standardError = FileHandle.nullDevice
                try process.run()
                try input.fileHandleForWriting.write(contentsOf: Data("value-\(name)".utf8))
                try input.fileHandleForWriting.close()
                usleep(UInt32.random(in: 0...6_000))
                kill(process.processIdentifier, SIGKILL)
                process.waitUntilExit()
                let listed = try rowsByName(shim)[name] != nil
                let run = cat(shim, name)
                if listed {
                    #expect(run.status == 0 && run.stdout == "value-\(name)", "round \(round): \(name) listed, run: \(run.stderr)")
                } else {
                    #expect(run.status == 125, "round \(round): \(name) removed, yet served")
                }
            }
        }
    }

    func rowsByName(_ shim: Shim) throws -> [String: String] {
        var rows: [String: String] = [:]
        for line in shim(["secret", "ls", "--format", "json"]).stdout.split(separator: "\n") {
            let object = try #require(try JSONSerialization.jsonObject(with: Data(line.utf8)) as? [String: Any])
            rows[object["Name"] as! String] = (object["ID"] as! String)
        }
        return rows
    }
}
