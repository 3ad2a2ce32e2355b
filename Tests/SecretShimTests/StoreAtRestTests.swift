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
