import Foundation
import Testing

/// `store backup`, `store restore` and `key rotate` (README "Operations"): what they keep,
/// what they refuse in one line, and that a refusal changes nothing.
@Suite struct StoreOperationsTests {
    /// Every file of the store root but the audit log, by path, and its bytes: what a refusal
    /// must leave exactly as it was (the log gains the refusal).
    static func snapshot(_ root: String) -> [String: Data] {
        var files: [String: Data] = [:]
        guard let enumerator = FileManager.default.enumerator(atPath: root) else { return files }
        for case let path as String in enumerator where !path.hasPrefix("events.log") {
            var isDirectory: ObjCBool = false
            let full = root + "/" + path
            if FileManager.default.fileExists(atPath: full, isDirectory: &isDirectory), !isDirectory.boolValue {
                files[path] = FileManager.default.contents(atPath: full) ?? Data()
            }
        }
        return files
    }

    /// The values `names` hold as a workload reads them, `name=value` per line.
    static func values(_ shim: Shim, _ names: [String], env: [String: String] = [:]) -> Shim.Result {
        shim(
            ["run"] + names.flatMap { ["--secret", $0] }
                + ["--", "/bin/sh", "-c", "for f in /run/secrets/*; do printf '%s=%s\\n' \"${f##*/}\" \"$(cat \"$f\")\"; done"], env: env)
    }

    static func expected(_ pairs: [(String, String)]) -> String {
        pairs.sorted { $0.0 < $1.0 }.map { "\($0.0)=\($0.1)\n" }.joined()
    }

    /// A backup holds the sealed rows, their labels and versions, never a value nor the key;
    /// restored on a "new host" (another root, the key copied), every secret reads back.
    @Test func aBackupRestoresOnANewHostWithItsKey() throws {
        let old = Shim(), new = Shim()
        defer { old.cleanUp(); new.cleanUp() }
        let pairs = [("db-password", "pw-\(UUID().uuidString)"), ("api-token", "tok-\(UUID().uuidString)")]
        for (name, value) in pairs { #expect(old(["secret", "create", "--label", "team=a", name, "-"], stdin: Data(value.utf8)).status == 0) }
        let inspectedBefore = old(["secret", "inspect", "db-password"]).stdout
        let file = old.directory.path + "/backup.db"
        let backup = old(["store", "backup", file])
        #expect(backup.status == 0, "\(backup.stderr)")
        #expect(backup.stdout.contains("backed up 2 secrets"))
        let bytes = try Data(contentsOf: URL(fileURLWithPath: file))
        for (_, value) in pairs { #expect(bytes.range(of: Data(value.utf8)) == nil, "a value is readable in the backup") }
        let key = try Data(contentsOf: URL(fileURLWithPath: old.root + "/master.key"))
        #expect(bytes.range(of: key) == nil, "the key is in the backup")
        let attributes = try FileManager.default.attributesOfItem(atPath: file)
        #expect((attributes[.posixPermissions] as? Int) == 0o600)

        // The new host: the key first (a backup never holds it), then the restore.
        let keyCopy = new.directory.path + "/keys/secretshim.key"
        try FileManager.default.createDirectory(atPath: new.directory.path + "/keys", withIntermediateDirectories: true, attributes: [.posixPermissions: 0o700])
        FileManager.default.createFile(atPath: keyCopy, contents: key, attributes: [.posixPermissions: 0o400])
        let env = ["SECRETSHIM_KEY_FILE": keyCopy]
        let restored = new(["store", "restore", file], env: env)
        #expect(restored.status == 0, "\(restored.stderr)")
        #expect(restored.stdout == "restored 2 secrets from \(file)\n")
        #expect(new(["secret", "inspect", "db-password"], env: env).stdout == inspectedBefore, "IDs, versions, times and labels are kept")
        #expect(Self.values(new, pairs.map(\.0), env: env).stdout == Self.expected(pairs))
        // launch/ was rebuilt from the restored rows: run reads there again.
        #expect(FileManager.default.fileExists(atPath: new.root + "/launch/db-password"))
        // A new secret gets a version above every restored one (Docker's Version.Index only grows).
        #expect(new(["secret", "create", "later", "-"], stdin: Data("x".utf8), env: env).status == 0)
        let versions = new(["secret", "inspect", "later", "db-password", "api-token"], env: env).stdout
        let indexes = versions.matches(of: /"Index":\s*(\d+)/).map { Int($0.1)! }
        #expect(indexes.count == 3 && indexes[0] > indexes[1] && indexes[0] > indexes[2], "\(versions)")

        // The events: the backup, and the restore's creates.
        let events = new(["events", "--until", "0s", "--format", "{{.Type}} {{.Action}} {{.Actor.Attributes.name}}"], env: env).stdout
        #expect(events.contains("secret create db-password") && events.contains("store restore"), "\(events)")
        #expect(old(["events", "--until", "0s", "--filter", "type=store"]).stdout.contains("backup"))
    }

    /// A backup never replaces a file, and refuses a store whose key is not its own.
    @Test func backupRefusals() throws {
        let shim = Shim()
        defer { shim.cleanUp() }
        shim.create("s", "v")
        let taken = shim.directory.path + "/taken"
        FileManager.default.createFile(atPath: taken, contents: Data("keep me".utf8))
        let overwrite = shim(["store", "backup", taken])
        #expect(overwrite.status == 1)
        expectOneLineError(overwrite, contains: "a file is already there")
        #expect(FileManager.default.contents(atPath: taken) == Data("keep me".utf8))

        let otherKey = shim.directory.path + "/other.key"
        FileManager.default.createFile(atPath: otherKey, contents: Data((0..<32).map { _ in UInt8.random(in: 0...255) }), attributes: [.posixPermissions: 0o400])
        let mismatch = shim(["store", "backup", shim.directory.path + "/b.db"], env: ["SECRETSHIM_KEY_FILE": otherKey])
        #expect(mismatch.status == 1)
        expectOneLineError(mismatch, contains: "is not the key of the store")
        #expect(!FileManager.default.fileExists(atPath: shim.directory.path + "/b.db"))

        // As root, a backup is written only through root's own folders, named by their real
        // path (a fresh-eyes finding: a user who owned a folder on the way swapped it, or a link
        // in it, for another directory, and root made its file there).
        if Shim.isRoot {
            let users = shim.directory.path + "/users"
            try FileManager.default.createDirectory(atPath: users, withIntermediateDirectories: false)
            #expect(chown(users, 65534, 65534) == 0)
            let foreign = shim(["store", "backup", users + "/b.db"])
            #expect(foreign.status == 1)
            expectOneLineError(foreign, contains: "belongs to uid 65534, not root")
            let linked = shim.directory.path + "/linked"
            try FileManager.default.createSymbolicLink(atPath: linked, withDestinationPath: shim.directory.path)
            let viaLink = shim(["store", "backup", linked + "/b.db"])
            #expect(viaLink.status == 1)
            expectOneLineError(viaLink, contains: "give the folder by its real path")
            #expect(!FileManager.default.fileExists(atPath: shim.directory.path + "/b.db") && !FileManager.default.fileExists(atPath: users + "/b.db"))
            #expect(shim(["store", "backup", shim.directory.path + "//./b2.db"]).status == 0, "a path with // and . is its real path")
        }

        let noStore = shim(["store", "backup", shim.directory.path + "/c.db"], env: ["SECRETSHIM_ROOT": shim.directory.path + "/none"])
        #expect(noStore.status == 1)
        expectOneLineError(noStore, contains: "no store at")
        #expect((try FileManager.default.contentsOfDirectory(atPath: shim.directory.path)).filter { $0.contains("partial") }.isEmpty)
    }

    /// Every refusal of `store restore`: one line, exit 1, the store byte for byte as it was.
    @Test func restoreRefusalsChangeNothing() throws {
        let shim = Shim(), other = Shim()
        defer { shim.cleanUp(); other.cleanUp() }
        let value = "kept-\(UUID().uuidString)"
        shim.create("kept", value)
        let good = shim.directory.path + "/good.db"
        #expect(shim(["store", "backup", good]).status == 0)
        shim.create("after-backup", "x")
        let live = Process()
        let flag = shim.directory.path + "/running"
        FileManager.default.createFile(atPath: flag, contents: nil)
        live.executableURL = URL(fileURLWithPath: Shim.binary)
        live.arguments = ["run", "--name", "holder", "--secret", "after-backup", "--", "/bin/sh", "-c", "while [ -e \(flag) ]; do sleep 0.05; done"]
        live.environment = shim.environment
        try live.run()
        defer {
            try? FileManager.default.removeItem(atPath: flag)
            live.waitUntilExit()
        }
        #expect(eventually(10) { shim(["ps"]).stdout.contains("holder") })

        // Another store's backup (another key), and files that are no backup at all.
        other.create("theirs", "t")
        let foreign = other.directory.path + "/foreign.db"
        #expect(other(["store", "backup", foreign]).status == 0)
        let dir = shim.directory.path
        let truncated = dir + "/truncated.db", random = dir + "/random.db", altered = dir + "/altered.db", notOurs = dir + "/other-sqlite.db"
        let goodBytes = try Data(contentsOf: URL(fileURLWithPath: good))
        try goodBytes.prefix(goodBytes.count / 2).write(to: URL(fileURLWithPath: truncated))
        try Data((0..<8192).map { _ in UInt8.random(in: 0...255) }).write(to: URL(fileURLWithPath: random))
        try goodBytes.write(to: URL(fileURLWithPath: altered))
        let hex = shell("sqlite3 \(altered) \"SELECT hex(sealed) FROM secrets\"").output.trimmingCharacters(in: .whitespacesAndNewlines)
        var flipped = Array(hex)
        flipped[30] = flipped[30] == "0" ? "1" : "0"
        #expect(shell("sqlite3 \(altered) \"UPDATE secrets SET sealed = X'\(String(flipped))'\"").status == 0)
        #expect(shell("sqlite3 \(notOurs) 'CREATE TABLE t (x); INSERT INTO t VALUES (1);'").status == 0)
        let fifo = dir + "/fifo"
        #expect(mkfifo(fifo, 0o600) == 0)
        // Fresh-eyes findings: a file made without the key (the schema, no rows, no key check,
        // a huge version counter), times of the wrong type, a sparse terabyte.
        let forged = dir + "/forged.db", shapes = dir + "/shapes.db", huge = dir + "/huge.db"
        let schema = shell("sqlite3 \(good) .schema").output
        #expect(shell("sqlite3 \(forged) \"\(schema.replacingOccurrences(of: "\n", with: " ")) PRAGMA user_version=1; INSERT INTO meta VALUES('index', 9223372036854775807);\"").status == 0)
        try goodBytes.write(to: URL(fileURLWithPath: shapes))
        #expect(shell("sqlite3 \(shapes) \"UPDATE secrets SET created_ns = 'yesterday'\"").status == 0)
        #expect(shell("truncate -s 1T \(huge)").status == 0)

        let before = Self.snapshot(shim.root)
        let refusals: [(arguments: [String], fragment: String)] = [
            (["store", "restore", good], "already holds 2 secrets: restore replaces a store only with --force"),
            (["store", "restore", "--force", good], "is in use by the following workload: holder"),
            (["store", "restore", "--force", foreign], "made under another key"),
            (["store", "restore", "--force", truncated], "corrupt, or not a secretshim store backup"),
            (["store", "restore", "--force", random], "corrupt, or not a secretshim store backup"),
            (["store", "restore", "--force", notOurs], "not a secretshim store backup (no secretshim schema)"),
            (["store", "restore", "--force", altered], "do not open with the key"),
            (["store", "restore", "--force", fifo], "not a regular file"),
            (["store", "restore", "--force", dir], "not a regular file"),
            (["store", "restore", "--force", dir + "/missing.db"], "No such file"),
            (["store", "restore", "--force", forged], "made under another key"),
            (["store", "restore", "--force", shapes], "rows of the wrong shape"),
            (["store", "restore", "--force", huge], "more than the store's file system can take"),
            (["store", "restore"], "missing expected argument"),
            (["store", "restore", ""], "give the backup's file"),
        ]
        for (arguments, fragment) in refusals {
            let result = shim(arguments)
            #expect(result.status == (arguments.count == 2 || arguments.last == "" ? 2 : 1), "\(arguments): \(result.stderr)")
            expectOneLineError(result, contains: fragment)
            #expect(Self.snapshot(shim.root) == before, "\(arguments) changed the store")
        }
        // The refusals are in the audit log.
        #expect(shim(["events", "--until", "0s", "--filter", "type=store", "--filter", "action=refuse"]).stdout.split(separator: "\n").count >= 12)
        // No copy of a backup is left in the store's folder.
        #expect(try FileManager.default.contentsOfDirectory(atPath: shim.root).filter { $0.hasPrefix(".restore") }.isEmpty)

        // A key file missing on a new host: refused, and no store is made.
        let fresh = dir + "/fresh-root"
        let noKey = shim(["store", "restore", good], env: ["SECRETSHIM_ROOT": fresh])
        #expect(noKey.status == 1)
        expectOneLineError(noKey, contains: "is missing: copy the store's key there first")
        #expect(!FileManager.default.fileExists(atPath: fresh))

        // With the workload gone, --force replaces the store: `after-backup` is removed.
        try? FileManager.default.removeItem(atPath: flag)
        live.waitUntilExit()
        let forced = shim(["store", "restore", "--force", good])
        #expect(forced.status == 0, "\(forced.stderr)")
        #expect(shim(["secret", "ls", "--format", "{{.Name}}"]).stdout == "kept\n")
        #expect(Self.values(shim, ["kept"]).stdout == "kept=\(value)\n")
        let events = shim(["events", "--until", "0s", "--filter", "action=remove", "--format", "{{.Actor.Attributes.name}} {{.Actor.Attributes.reason}}"]).stdout
        #expect(events.contains("after-backup store restore \(good)"), "\(events)")
    }

    /// `key rotate`: every value the same under a new key, the old key refused, a running
    /// workload keeps its files, `run` after it reads with the new key, backups before it
    /// open only with the old key, backups after it with the new one.
    @Test func keyRotationReSealsEverything() throws {
        let shim = Shim()
        defer { shim.cleanUp() }
        let pairs = (0..<5).map { ("s\($0)", "value-\($0)-\(UUID().uuidString)") }
        for (name, value) in pairs { shim.create(name, value) }
        let keyFile = shim.root + "/master.key"
        let oldKey = try Data(contentsOf: URL(fileURLWithPath: keyFile))
        let oldCopy = shim.directory.path + "/old.key"
        FileManager.default.createFile(atPath: oldCopy, contents: oldKey, attributes: [.posixPermissions: 0o400])
        let before = shim.directory.path + "/before.db"
        #expect(shim(["store", "backup", before]).status == 0)

        let output = shim.directory.path + "/seen"
        let flag = shim.directory.path + "/running"
        FileManager.default.createFile(atPath: flag, contents: nil)
        let live = Process()
        live.executableURL = URL(fileURLWithPath: Shim.binary)
        live.arguments = ["run", "--name", "steady", "--secret", "s1", "--", "/bin/sh", "-c", "while [ -e \(flag) ]; do sleep 0.05; done; cat /run/secrets/s1 > \(output)"]
        live.environment = shim.environment
        try live.run()
        #expect(eventually(10) { shim(["ps"]).stdout.contains("steady") })

        let rotated = shim(["key", "rotate"])
        #expect(rotated.status == 0, "\(rotated.stderr)")
        #expect(rotated.stdout.contains("re-sealed 5 secrets under a new key in \(keyFile)"))
        let newKey = try Data(contentsOf: URL(fileURLWithPath: keyFile))
        #expect(newKey.count == 32 && newKey != oldKey)
        let attributes = try FileManager.default.attributesOfItem(atPath: keyFile)
        #expect((attributes[.posixPermissions] as? Int) == 0o400)
        #expect(!FileManager.default.fileExists(atPath: keyFile + ".next"))

        try FileManager.default.removeItem(atPath: flag)
        live.waitUntilExit()
        #expect(live.terminationStatus == 0)
        #expect((try? String(contentsOfFile: output, encoding: .utf8)) == pairs[1].1, "the running workload kept its file")

        #expect(Self.values(shim, pairs.map(\.0)).stdout == Self.expected(pairs))
        let old = shim(["secret", "ls"], env: ["SECRETSHIM_KEY_FILE": oldCopy])
        #expect(old.status == 1)
        expectOneLineError(old, contains: "is not the key of the store")
        // The database and launch/ hold no row the old key opens: the rows were re-sealed.
        let sealedNow = shell("sqlite3 \(shim.root)/secrets.db 'SELECT hex(sealed) FROM secrets'").output
        let sealedBefore = shell("sqlite3 \(before) 'SELECT hex(sealed) FROM secrets'").output
        #expect(Set(sealedNow.split(separator: "\n")).isDisjoint(with: sealedBefore.split(separator: "\n")))

        let refused = shim(["store", "restore", "--force", before])
        #expect(refused.status == 1)
        expectOneLineError(refused, contains: "made under another key")
        let after = shim.directory.path + "/after.db"
        #expect(shim(["store", "backup", after]).status == 0)
        #expect(shim(["store", "restore", "--force", after]).status == 0)
        #expect(shim(["events", "--until", "0s", "--filter", "type=store", "--filter", "action=rotate"]).stdout.contains("rotate"))

        // Refusals: a key that is not the store's, no store at all.
        let wrong = shim(["key", "rotate"], env: ["SECRETSHIM_KEY_FILE": oldCopy])
        #expect(wrong.status == 1)
        expectOneLineError(wrong, contains: "is not the key of the store")
        #expect(try Data(contentsOf: URL(fileURLWithPath: keyFile)) == newKey)
        let none = shim(["key", "rotate"], env: ["SECRETSHIM_ROOT": shim.directory.path + "/none"])
        #expect(none.status == 1)
        expectOneLineError(none, contains: "no store at")
    }

    /// The two states a killed rotation can leave, made by hand, each opening with exactly one
    /// key: killed before its commit (a stray `.next` that opens nothing), and after its commit
    /// but before its rename (the key file one rotation behind, `.next` the store's key), which
    /// the next command finishes, `run` included.
    @Test func aKilledRotationIsFinishedOrForgotten() throws {
        let shim = Shim()
        defer { shim.cleanUp() }
        shim.create("s", "the-value")
        let keyFile = shim.root + "/master.key"
        let oldKey = try Data(contentsOf: URL(fileURLWithPath: keyFile))

        // Before the commit: a stray next key.
        let stray = Data((0..<32).map { _ in UInt8.random(in: 0...255) })
        FileManager.default.createFile(atPath: keyFile + ".next", contents: stray, attributes: [.posixPermissions: 0o400])
        #expect(Self.values(shim, ["s"]).stdout == "s=the-value\n")
        #expect(try Data(contentsOf: URL(fileURLWithPath: keyFile)) == oldKey, "a stray next key was taken")
        // The next rotation rotates to it (a key never used, as one `--prepare` writes).
        #expect(shim(["key", "rotate"]).status == 0)
        let newKey = try Data(contentsOf: URL(fileURLWithPath: keyFile))
        #expect(newKey == stray)
        // `--prepare` writes the next key and changes nothing else.
        let prepared = shim(["key", "rotate", "--prepare"])
        #expect(prepared.status == 0 && prepared.stdout.contains(keyFile + ".next"), "\(prepared.stderr)")
        let preparedKey = try Data(contentsOf: URL(fileURLWithPath: keyFile + ".next"))
        #expect(try Data(contentsOf: URL(fileURLWithPath: keyFile)) == newKey && preparedKey != newKey)
        #expect(shim(["key", "rotate"]).status == 0)
        #expect(try Data(contentsOf: URL(fileURLWithPath: keyFile)) == preparedKey)
        #expect(Self.values(shim, ["s"]).stdout == "s=the-value\n")
        // A `.next` with a second name (a hard link) would outlive the rotation: refused.
        let elsewhere = shim.directory.path + "/elsewhere.key"
        FileManager.default.createFile(atPath: elsewhere, contents: Data((0..<32).map { _ in UInt8.random(in: 0...255) }), attributes: [.posixPermissions: 0o400])
        #expect(link(elsewhere, keyFile + ".next") == 0)
        let linked = shim(["key", "rotate"])
        #expect(linked.status == 1)
        expectOneLineError(linked, contains: "other names (hard links)")
        #expect(try Data(contentsOf: URL(fileURLWithPath: keyFile)) == preparedKey)
        try FileManager.default.removeItem(atPath: keyFile + ".next")
        // A `.next` that is not a key (wrong size): refused in one line, nothing changed.
        FileManager.default.createFile(atPath: keyFile + ".next", contents: Data("short".utf8), attributes: [.posixPermissions: 0o400])
        let bad = shim(["key", "rotate"])
        #expect(bad.status == 1)
        expectOneLineError(bad, contains: "must hold exactly 32 bytes")
        #expect(try Data(contentsOf: URL(fileURLWithPath: keyFile)) == preparedKey)
        try FileManager.default.removeItem(atPath: keyFile + ".next")

        // After the commit, before the rename.
        try FileManager.default.removeItem(atPath: keyFile)
        FileManager.default.createFile(atPath: keyFile, contents: newKey, attributes: [.posixPermissions: 0o400])
        FileManager.default.createFile(atPath: keyFile + ".next", contents: preparedKey, attributes: [.posixPermissions: 0o400])
        #expect(Self.values(shim, ["s"]).stdout == "s=the-value\n", "run did not finish the rotation")
        #expect(try Data(contentsOf: URL(fileURLWithPath: keyFile)) == preparedKey)
        #expect(!FileManager.default.fileExists(atPath: keyFile + ".next"))
    }

    /// The key as a systemd credential: sealed with `systemd-creds encrypt --with-key=host`,
    /// decrypted into a private folder as systemd does for `LoadCredentialEncrypted=`, and found
    /// through `$CREDENTIALS_DIRECTORY` without `--key-file`.
    @Test(.enabled(if: Shim.isRoot && FileManager.default.fileExists(atPath: "/usr/bin/systemd-creds")))
    func theKeyAsASystemdCredential() throws {
        let shim = Shim()
        defer { shim.cleanUp() }
        let key = shim.directory.path + "/plain.key"
        FileManager.default.createFile(atPath: key, contents: Data((0..<32).map { _ in UInt8.random(in: 0...255) }), attributes: [.posixPermissions: 0o400])
        let sealed = shim.directory.path + "/secretshim.key.cred"
        let encrypt = shell("systemd-creds encrypt --with-key=host --name=secretshim.key '\(key)' '\(sealed)'")
        #expect(encrypt.status == 0, "\(encrypt.output)")
        let credentials = shim.directory.path + "/credentials"
        try FileManager.default.createDirectory(atPath: credentials, withIntermediateDirectories: false, attributes: [.posixPermissions: 0o500])
        let decrypt = shell("systemd-creds decrypt --name=secretshim.key '\(sealed)' '\(credentials)/secretshim.key' && chmod 400 '\(credentials)/secretshim.key'")
        #expect(decrypt.status == 0, "\(decrypt.output)")
        let env = ["CREDENTIALS_DIRECTORY": credentials]
        #expect(shim(["secret", "create", "s", "-"], stdin: Data("v".utf8), env: env).status == 0)
        #expect(!FileManager.default.fileExists(atPath: shim.root + "/master.key"), "the credential was not used")
        #expect(Self.values(shim, ["s"], env: env).stdout == "s=v\n")
        #expect(shim(["secret", "ls"], env: ["SECRETSHIM_KEY_FILE": key]).status == 0, "the store is the credential's key's")
        // Without it, the store refuses in one line.
        let without = shim(["secret", "ls"])
        #expect(without.status == 1)
        expectOneLineError(without, contains: "is missing")
    }

    /// On an etcd store, backups are etcd's own (one line, exit 1).
    @Test func notOnAnEtcdStore() {
        let shim = Shim()
        defer { shim.cleanUp() }
        for arguments in [["store", "backup", "/tmp/x.db"], ["store", "restore", "/tmp/x.db"]] {
            let result = shim(arguments, env: ["SECRETSHIM_STORE": "etcd+insecure://127.0.0.1:1"])
            #expect(result.status == 1, "\(arguments)")
            expectOneLineError(result, contains: "works on the local store")
        }
    }
}
