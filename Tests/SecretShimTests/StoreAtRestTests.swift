import Foundation
import Testing

/// The store on disk: encrypted, authenticated, keyed, and whole after concurrency and crashes.
@Suite struct StoreAtRestTests {
    func allBytes(under directory: String) -> [(String, Data)] {
        var files: [(String, Data)] = []
        let enumerator = FileManager.default.enumerator(atPath: directory)!
        for case let path as String in enumerator {
            let full = directory + "/" + path
            var isDirectory: ObjCBool = false
            if FileManager.default.fileExists(atPath: full, isDirectory: &isDirectory), !isDirectory.boolValue,
                let data = FileManager.default.contents(atPath: full)
            {
                files.append((full, data))
            }
        }
        return files
    }

    @Test func noValueIsReadableOnDisk() {
        let shim = Shim()
        defer { shim.cleanUp() }
        let value = "plaintext-marker-\(UUID().uuidString)"
        shim.create("marker", value)
        // Also while a reader keeps the WAL around.
        shim(["secret", "ls"])
        let files = allBytes(under: shim.directory.path)
        #expect(files.count >= 2)
        for (path, data) in files {
            #expect(data.range(of: Data(value.utf8)) == nil, "value found in \(path)")
        }
    }

    /// Flips one byte of the sealed value with the sqlite3 CLI.
    func tamper(_ shim: Shim, name: String) {
        let db = shim.root + "/secrets.db"
        let hex = shell("sqlite3 \(db) \"SELECT hex(sealed) FROM secrets WHERE name='\(name)'\"").output.trimmingCharacters(in: .whitespacesAndNewlines)
        var bytes = Array(hex)
        #expect(bytes.count > 40)
        bytes[30] = bytes[30] == "0" ? "1" : "0"
        let update = shell("sqlite3 \(db) \"UPDATE secrets SET sealed = X'\(String(bytes))' WHERE name='\(name)'\"")
        #expect(update.status == 0, "\(update.output)")
    }

    @Test func aFlippedByteIsAnErrorNotGarbage() {
        let shim = Shim()
        defer { shim.cleanUp() }
        shim.create("victim", "the-original-value")
        shim.create("bystander", "untouched")
        tamper(shim, name: "victim")
        let shown = shim(["secret", "inspect", "--show-secret", "victim"])
        #expect(shown.status == 1)
        expectOneLineError(shown, contains: "cannot be decrypted")
        #expect(!shown.stdout.contains("SecretData"))
        let run = shim(["run", "--secret", "victim", "--", "true"])
        #expect(run.status == 125)
        expectOneLineError(run, contains: "cannot be decrypted")
        #expect(shim(["secret", "inspect", "--show-secret", "bystander"]).stdout.contains("untouched"))
    }

    @Test func aRecordMovedToAnotherNameFailsAuthentication() {
        let shim = Shim()
        defer { shim.cleanUp() }
        shim.create("a", "value-a")
        shim.create("b", "value-b")
        let db = shim.root + "/secrets.db"
        let swap = shell("sqlite3 \(db) \"UPDATE secrets SET sealed = (SELECT sealed FROM secrets WHERE name='a') WHERE name='b'\"")
        #expect(swap.status == 0)
        let result = shim(["secret", "inspect", "--show-secret", "b"])
        #expect(result.status == 1)
        expectOneLineError(result, contains: "cannot be decrypted")
    }

    @Test func anotherKeyCannotRead() throws {
        let shim = Shim()
        defer { shim.cleanUp() }
        shim.create("keyed", "value")
        let otherKey = shim.directory.appendingPathComponent("other.key").path
        #expect(FileManager.default.createFile(atPath: otherKey, contents: Data((0..<32).map { UInt8($0) }), attributes: [.posixPermissions: 0o400]))
        let result = shim(["secret", "inspect", "--show-secret", "keyed", "--key-file", otherKey])
        #expect(result.status == 1)
        expectOneLineError(result, contains: "cannot be decrypted")
        let viaEnv = shim(["secret", "inspect", "--show-secret", "keyed"], env: ["SECRETSHIM_KEY_FILE": otherKey])
        #expect(viaEnv.status == 1)
    }

    @Test(arguments: [(32, 0o644, "too open"), (32, 0o440, "too open"), (31, 0o400, "exactly 32 bytes"), (33, 0o600, "exactly 32 bytes")])
    func badKeyFilesAreRefused(size: Int, mode: Int, message: String) {
        let shim = Shim()
        defer { shim.cleanUp() }
        let key = shim.directory.appendingPathComponent("bad.key").path
        #expect(FileManager.default.createFile(atPath: key, contents: Data(repeating: 7, count: size), attributes: [.posixPermissions: mode]))
        let result = shim(["secret", "create", "--key-file", key, "x", "-"], stdin: Data("v".utf8))
        #expect(result.status == 1)
        expectOneLineError(result, contains: message)
        #expect(shim(["secret", "ls", "-q"]).stdout.isEmpty)
    }

    // MARK: The store and its key belong together

    /// Every file and folder under `directory`, with its mode and bytes: what "nothing was
    /// written" compares.
    func snapshot(_ directory: String) -> [String] {
        var entries: [String] = []
        let enumerator = FileManager.default.enumerator(atPath: directory)!
        for case let path as String in enumerator {
            // The audit log records the refusals themselves (secretshim events); the store is
            // the rest, compared whole.
            if path.hasPrefix("events.log") { continue }
            var st = stat()
            lstat(directory + "/" + path, &st)
            let bytes = FileManager.default.contents(atPath: directory + "/" + path).map { $0.base64EncodedString() } ?? "-"
            entries.append("\(path) \(String(st.st_mode, radix: 8)) \(st.st_size) \(bytes)")
        }
        return entries.sorted()
    }

    /// Every command that touches the store, each with the exit status it fails with. `runtime`
    /// is given `/bin/true` as its runc: had it gone on, it would have succeeded.
    func storeCommands(_ shim: Shim) throws -> [(arguments: [String], status: Int32)] {
        let scanned = shim.directory.appendingPathComponent("scanned").path
        let bundle = shim.directory.appendingPathComponent("bundle").path
        try FileManager.default.createDirectory(atPath: scanned, withIntermediateDirectories: true)
        try FileManager.default.createDirectory(atPath: bundle, withIntermediateDirectories: true)
        try #"{"ociVersion":"1.0.2","process":{"args":["true"],"env":[]},"root":{"path":"rootfs"}}"#
            .write(toFile: bundle + "/config.json", atomically: true, encoding: .utf8)
        var commands: [(arguments: [String], status: Int32)] = [
            (["secret", "create", "c", "-"], 1), (["secret", "ls"], 1), (["secret", "ls", "-q"], 1),
            (["secret", "inspect", "a", "b"], 1), (["secret", "inspect", "--show-secret", "a"], 1), (["secret", "rm", "a", "b"], 1),
            (["scan", scanned], 2), (["secret", "export", "a", "-o", shim.directory.appendingPathComponent("exported").path], 1),
            (["grant", "a"], 1), (["runtime", "--secretshim-grant", "a", "create", "--bundle", bundle, "c1"], 1),
        ]
        if Shim.isRoot {
            commands.append((["run", "--secret", "a", "--", "cat", "/run/secrets/a"], 125))
            commands.append((["run", "--secret", "a", "--secret", "b", "--", "true"], 125))
        }
        return commands
    }

    /// Runs every store command, expecting each to refuse in one line that contains `fragments`,
    /// and to leave the store exactly as it was.
    func expectEveryCommandRefuses(_ shim: Shim, containing fragments: [String], env: [String: String] = [:]) throws {
        let before = snapshot(shim.root)
        let logBefore = (try? String(contentsOfFile: shim.root + "/events.log", encoding: .utf8)) ?? ""
        for (arguments, status) in try storeCommands(shim) {
            var environment = env
            environment["SECRETSHIM_RUNTIME"] = "/bin/true"
            let result = shim(arguments, stdin: Data("new-value".utf8), env: environment)
            #expect(result.status == status, "\(arguments): \(result.status) \(result.stderr)")
            #expect(result.stdout.isEmpty, "\(arguments) printed \(result.stdout)")
            for fragment in fragments { expectOneLineError(result, contains: fragment) }
            #expect(!result.stderr.contains("value-a") && !result.stderr.contains("value-b"))
        }
        #expect(snapshot(shim.root) == before, "a refused command changed the store")
        // What the audit log gained: refusals only, and no value.
        let log = (try? String(contentsOfFile: shim.root + "/events.log", encoding: .utf8)) ?? ""
        #expect(!log.contains("value-a") && !log.contains("value-b") && !log.contains("new-value"))
        for line in log.dropFirst(logBefore.count).split(separator: "\n") {
            #expect(line.contains("\"Action\":\"refuse\""), "a refused command logged more than its refusal: \(line)")
        }
        #expect(!FileManager.default.fileExists(atPath: shim.directory.appendingPathComponent("exported").path + "/secrets.db"))
    }

    /// The store as the test made it, by its real path (as root, paths are resolved).
    func realRoot(_ shim: Shim) -> String {
        guard let real = realpath(shim.root, nil) else { return shim.root }
        defer { free(real) }
        return String(cString: real)
    }

    /// Restoring `secrets.db` without its `master.key` used to make `create` take a new key:
    /// every older secret lost. Now every command refuses, names the store and the key, and
    /// writes nothing: no key file, no row, no `launch/` entry.
    @Test func aStoreRestoredWithoutItsKeyRefusesEveryCommandAndWritesNothing() throws {
        let shim = Shim()
        defer { shim.cleanUp() }
        shim.create("a", "value-a")
        shim.create("b", "value-b")
        let root = realRoot(shim)
        let key = shim.root + "/master.key"
        let saved = shim.directory.appendingPathComponent("saved.key").path
        try FileManager.default.moveItem(atPath: key, toPath: saved)

        try expectEveryCommandRefuses(shim, containing: ["the store at \(root) holds secrets", "key file \(root)/master.key is missing"])
        #expect(!FileManager.default.fileExists(atPath: key), "a new key was made")

        // The key back: everything as before.
        try FileManager.default.moveItem(atPath: saved, toPath: key)
        #expect(shim(["secret", "ls", "-q"]).stdout.split(separator: "\n").count == 2)
        #expect(shim(["secret", "inspect", "--show-secret", "a"]).stdout.contains("value-a"))
    }

    /// Another well-formed key, in the key file's place or given by `--key-file` or
    /// `SECRETSHIM_KEY_FILE`: refused by every command, nothing written; the rows stay under one key.
    @Test func aWrongKeyIsRefusedByEveryCommandAndWritesNothing() throws {
        let shim = Shim()
        defer { shim.cleanUp() }
        shim.create("a", "value-a")
        shim.create("b", "value-b")
        let root = realRoot(shim)
        let other = shim.directory.appendingPathComponent("other.key").path
        #expect(FileManager.default.createFile(atPath: other, contents: Data((0..<32).map { UInt8($0 * 7 % 256) }), attributes: [.posixPermissions: 0o400]))
        try expectEveryCommandRefuses(shim, containing: ["is not the key of the store at \(root)", other], env: ["SECRETSHIM_KEY_FILE": other])

        // In the key file's own place.
        let key = shim.root + "/master.key"
        let saved = shim.directory.appendingPathComponent("saved.key").path
        try FileManager.default.moveItem(atPath: key, toPath: saved)
        try FileManager.default.copyItem(atPath: other, toPath: key)
        try expectEveryCommandRefuses(shim, containing: ["the key file \(root)/master.key is not the key of the store at \(root)"])
        try FileManager.default.removeItem(atPath: key)
        try FileManager.default.moveItem(atPath: saved, toPath: key)
        #expect(shim(["secret", "ls", "-q"]).stdout.split(separator: "\n").count == 2)
        #expect(shim(["secret", "create", "c", "-"], stdin: Data("value-c".utf8)).status == 0)
    }

    /// A store made before key checks: taken by a key that opens its rows, which the first
    /// change then records; never by another key.
    @Test func aStoreWithoutAKeyCheckIsAdoptedOnlyByItsOwnKey() throws {
        let shim = Shim()
        defer { shim.cleanUp() }
        shim.create("a", "value-a")
        shim.create("b", "value-b")
        let db = shim.root + "/secrets.db"
        #expect(shell("sqlite3 \(db) 'DROP TABLE key_check'").status == 0)
        let other = shim.directory.appendingPathComponent("other.key").path
        #expect(FileManager.default.createFile(atPath: other, contents: Data(repeating: 9, count: 32), attributes: [.posixPermissions: 0o400]))

        try expectEveryCommandRefuses(shim, containing: ["is not the key of the store"], env: ["SECRETSHIM_KEY_FILE": other])
        #expect(!shell("sqlite3 \(db) .tables").output.contains("key_check"))

        #expect(shim(["secret", "inspect", "--show-secret", "a"]).stdout.contains("value-a"))
        #expect(!shell("sqlite3 \(db) .tables").output.contains("key_check"), "a read wrote the check")
        #expect(shim(["secret", "create", "c", "-"], stdin: Data("value-c".utf8)).status == 0)
        #expect(shell("sqlite3 \(db) 'SELECT count(*) FROM key_check'").output == "1\n")
        let refused = shim(["secret", "create", "d", "-"], stdin: Data("value-d".utf8), env: ["SECRETSHIM_KEY_FILE": other])
        #expect(refused.status == 1)
        expectOneLineError(refused, contains: "is not the key of the store")
    }

    /// A store whose secrets are all gone has nothing a new key could lose: its lost key is
    /// replaced, and its check with it.
    @Test func anEmptiedStoreTakesANewKey() throws {
        let shim = Shim()
        defer { shim.cleanUp() }
        shim.create("a", "value-a")
        #expect(shim(["secret", "rm", "a"]).status == 0)
        try FileManager.default.removeItem(atPath: shim.root + "/master.key")
        #expect(shim(["secret", "ls", "-q"]).status == 0)
        let created = shim(["secret", "create", "b", "-"], stdin: Data("value-b".utf8))
        #expect(created.status == 0, "\(created.stderr)")
        #expect(created.stderr.contains("created the store's key"))
        #expect(shim(["secret", "inspect", "--show-secret", "b"]).stdout.contains("value-b"))
    }

    @Test func concurrentCreatorsLoseNothing() {
        let shim = Shim()
        defer { shim.cleanUp() }
        // 8 processes, 25 creates each, all at once, on a store that does not exist yet
        // (so they also race to create the database and the key).
        let script = """
            for p in 1 2 3 4 5 6 7 8; do
              ( for i in $(seq 1 25); do printf 'value-%s-%s' $p $i | "$SHIM" secret create "s-$p-$i" - >/dev/null || echo FAIL; done ) &
            done
            wait
            """
        let result = shell("SHIM='\(Shim.binary)' SECRETSHIM_ROOT='\(shim.root)' SECRETSHIM_STATE_DIR='\(shim.state)' sh -c '\(script.replacingOccurrences(of: "'", with: "'\\''"))'")
        #expect(!result.output.contains("FAIL"), "\(result.output)")
        let ids = shim(["secret", "ls", "-q"]).stdout.split(separator: "\n")
        #expect(ids.count == 200)
        #expect(Set(ids).count == 200)
        let shown = shim(["secret", "inspect", "--show-secret", "s-3-17", "s-8-25"]).stdout
        #expect(shown.contains("value-3-17") && shown.contains("value-8-25"))
    }

    @Test func killMinus9LeavesEverySecretWholeOrAbsent() throws {
        let shim = Shim()
        defer { shim.cleanUp() }
        shim.create("seed", "seed")
        let payload = shim.directory.appendingPathComponent("payload")
        // A large value: a kill lands in the middle of reading, sealing or committing it.
        let value = Data((0..<400_000).map { UInt8(0x41 + $0 % 26) })
        #expect(FileManager.default.createFile(atPath: payload.path, contents: value))
        for round in 0..<30 {
            let process = Process()
            process.executableURL = URL(fileURLWithPath: Shim.binary)
            process.arguments = ["secret", "create", "crash-\(round)", payload.path]
            process.environment = shim.environment
            process.standardOutput = FileHandle.nullDevice
            process.standardError = FileHandle.nullDevice
            try process.run()
            usleep(UInt32.random(in: 0...12_000))
            kill(process.processIdentifier, SIGKILL)
            process.waitUntilExit()
        }
        let names = shim(["secret", "ls", "--format", "json"]).stdout.split(separator: "\n").compactMap {
            (try? JSONSerialization.jsonObject(with: Data($0.utf8)) as? [String: Any])?["Name"] as? String
        }
        #expect(names.contains("seed"))
        for name in names where name != "seed" {
            let shown = shim(["secret", "inspect", "--show-secret", name])
            #expect(shown.status == 0, "\(name): \(shown.stderr)")
            let object = (try JSONSerialization.jsonObject(with: shown.stdoutBytes) as! [[String: Any]])[0]
            #expect((object["SecretData"] as? String)?.utf8.count == value.count, "\(name) is not whole")
        }
        // The store still takes writes.
        #expect(shim(["secret", "create", "after", "-"], stdin: Data("v".utf8)).status == 0)
    }
}
