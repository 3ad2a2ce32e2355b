import Foundation
import Testing

/// `secret create|ls|inspect|rm` against SPEC.md's rules, through the built binary.
@Suite struct SecretCommandsTests {
    static let validNames = ["a", "A1", "db_pw", "api.key", "my-secret", "x.y_z-9", String(repeating: "n", count: 64)]
    static let invalidNames = ["-a", "a-", "_a", "a_", ".a", "a.", "a b", "a/b", "é", String(repeating: "n", count: 65), "a$b"]

    @Test(arguments: validNames)
    func createAcceptsSwarmNames(name: String) {
        let shim = Shim()
        defer { shim.cleanUp() }
        let result = shim(["secret", "create", name, "-"], stdin: Data("v".utf8))
        #expect(result.status == 0, "\(result.stderr)")
        let id = result.stdout.trimmingCharacters(in: .newlines)
        #expect(id.count == 25)
        #expect(id.allSatisfy { ("0"..."9").contains($0) || ("a"..."z").contains($0) })
    }

    @Test(arguments: invalidNames)
    func createRefusesBadNames(name: String) {
        let shim = Shim()
        defer { shim.cleanUp() }
        // `--`: a name such as "-a" is data here, not a flag.
        let result = shim(["secret", "create", "--", name, "-"], stdin: Data("v".utf8))
        #expect(result.status == 1)
        expectOneLineError(result, contains: "invalid name")
        #expect(shim(["secret", "ls", "-q"]).stdout.isEmpty)
    }

    @Test(arguments: [(0, false), (1, true), (511_999, true), (512_000, false), (700_000, false)])
    func createEnforcesSizeLimit(size: Int, accepted: Bool) {
        let shim = Shim()
        defer { shim.cleanUp() }
        let file = shim.directory.appendingPathComponent("value")
        #expect(FileManager.default.createFile(atPath: file.path, contents: Data(repeating: 0x61, count: size)))
        let result = shim(["secret", "create", "s", file.path])
        #expect(result.status == (accepted ? 0 : 1))
        if !accepted { expectOneLineError(result, contains: "larger than 0 and less than 500 KB") }
    }

    @Test func duplicateNameIsRefusedAndOriginalKept() {
        let shim = Shim()
        defer { shim.cleanUp() }
        let id = shim.create("dup", "first")
        let second = shim(["secret", "create", "dup", "-"], stdin: Data("second".utf8))
        #expect(second.status == 1)
        expectOneLineError(second, contains: "already exists")
        #expect(shim(["secret", "ls", "-q"]).stdout == id + "\n")
        #expect(shim(["secret", "inspect", "--show-secret", "dup"]).stdout.contains("\"SecretData\": \"first\""))
    }

    @Test func missingFileAndUsageErrors() {
        let shim = Shim()
        defer { shim.cleanUp() }
        let missing = shim(["secret", "create", "x", "/nonexistent/file"])
        #expect(missing.status == 1)
        expectOneLineError(missing, contains: "No such file")
        let usage = shim(["secret", "create", "onlyname"])
        #expect(usage.status == 2)
        expectOneLineError(usage)
        let badLabel = shim(["secret", "create", "--label", "=v", "x", "-"], stdin: Data("v".utf8))
        #expect(badLabel.status == 2)
        expectOneLineError(badLabel, contains: "invalid label")
        let unknown = shim(["secret", "frobnicate"])
        #expect(unknown.status == 2)
        expectOneLineError(unknown)
    }

    @Test func lsTableQuietJSONAndFilters() throws {
        let shim = Shim()
        defer { shim.cleanUp() }
        let a = shim.create("alpha", "1", labels: ["env=prod", "team=db"])
        let b = shim.create("beta", "2", labels: ["env=dev"])
        let table = shim(["secret", "ls"]).stdout.split(separator: "\n")
        #expect(table.count == 3)
        #expect(table[0].split(separator: " ", omittingEmptySubsequences: true) == ["ID", "NAME", "CREATED", "UPDATED"])
        #expect(table[1].hasPrefix(a) && table[1].contains("alpha") && table[1].contains("ago"))
        #expect(shim(["secret", "ls", "-q"]).stdout == "\(a)\n\(b)\n")

        let lines = shim(["secret", "ls", "--format", "json"]).stdout.split(separator: "\n")
        #expect(lines.count == 2)
        let first = try JSONSerialization.jsonObject(with: Data(lines[0].utf8)) as! [String: Any]
        #expect(Set(first.keys) == ["ID", "Name", "CreatedAt", "UpdatedAt", "Labels"])
        #expect(first["ID"] as? String == a)
        #expect(first["Labels"] as? String == "env=prod,team=db")

        #expect(shim(["secret", "ls", "-q", "--filter", "name=al"]).stdout == "\(a)\n")
        #expect(shim(["secret", "ls", "-q", "--filter", "label=env"]).stdout == "\(a)\n\(b)\n")
        #expect(shim(["secret", "ls", "-q", "--filter", "label=env=dev"]).stdout == "\(b)\n")
        #expect(shim(["secret", "ls", "-q", "--filter", "label=env=prod", "--filter", "name=beta"]).stdout == "")
        #expect(shim(["secret", "ls", "-q", "--filter", "id=\(b.prefix(6))"]).stdout == "\(b)\n")
        // Any --format other than table and json is a Go template, as Docker's: "yaml" prints
        // "yaml" for each secret; a malformed template is the usage error.
        #expect(shim(["secret", "ls", "--format", "yaml"]).stdout == "yaml\nyaml\n")
        for bad in [["--filter", "colour=red"], ["--filter", "name"], ["--format", "{{.Name"]] {
            let result = shim(["secret", "ls"] + bad)
            #expect(result.status == 2, "\(bad)")
            expectOneLineError(result)
        }
    }

    @Test func inspectHasDockersShapeAndNoValue() throws {
        let shim = Shim()
        defer { shim.cleanUp() }
        let id = shim.create("db_pw", "s3cr3t-value", labels: ["k=v"])
        for reference in ["db_pw", id, String(id.prefix(5))] {
            let result = shim(["secret", "inspect", reference])
            #expect(result.status == 0)
            #expect(!result.stdout.contains("s3cr3t-value"))
            let array = try JSONSerialization.jsonObject(with: result.stdoutBytes) as! [[String: Any]]
            #expect(array.count == 1)
            let object = array[0]
            #expect(Set(object.keys) == ["ID", "Version", "CreatedAt", "UpdatedAt", "Spec"])
            #expect(object["ID"] as? String == id)
            #expect((object["Version"] as? [String: Any])?["Index"] as? Int == 1)
            let spec = object["Spec"] as! [String: Any]
            #expect(spec["Name"] as? String == "db_pw")
            #expect(spec["Labels"] as? [String: String] == ["k": "v"])
            let created = object["CreatedAt"] as! String
            #expect(created.range(of: #"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d(\.\d{1,9})?Z$"#, options: .regularExpression) != nil, "\(created)")
        }
        let shown = shim(["secret", "inspect", "--show-secret", "db_pw"])
        let object = (try JSONSerialization.jsonObject(with: shown.stdoutBytes) as! [[String: Any]])[0]
        #expect(object["SecretData"] as? String == "s3cr3t-value")
    }

    @Test func inspectOfMissingPrintsFoundAndFails() throws {
        let shim = Shim()
        defer { shim.cleanUp() }
        shim.create("here", "v")
        let result = shim(["secret", "inspect", "here", "gone"])
        #expect(result.status == 1)
        expectOneLineError(result, contains: "no such secret: gone")
        #expect((try JSONSerialization.jsonObject(with: result.stdoutBytes) as! [Any]).count == 1)
        #expect(shim(["secret", "inspect", "gone"]).status == 1)
    }

    @Test func rmRemovesSeveralAndReportsMissing() {
        let shim = Shim()
        defer { shim.cleanUp() }
        shim.create("one", "1")
        let two = shim.create("two", "2")
        shim.create("three", "3")
        let result = shim(["secret", "rm", "one", two, "nope"])
        #expect(result.status == 1)
        expectOneLineError(result, contains: "no such secret: nope")
        #expect(result.stdout == "one\n\(two)\n")
        #expect(shim(["secret", "ls", "--format", "json"]).stdout.contains("three"))
        #expect(shim(["secret", "ls", "-q"]).stdout.split(separator: "\n").count == 1)
    }

    @Test func globalOptionsBeforeOrAfterTheCommand() {
        let shim = Shim()
        defer { shim.cleanUp() }
        let other = shim.directory.appendingPathComponent("other").path
        #expect(shim(["--root", other, "secret", "create", "x", "-"], stdin: Data("v".utf8)).status == 0)
        #expect(shim(["secret", "ls", "-q", "--root", other]).stdout.count == 26)
        #expect(shim(["--root=\(other)", "secret", "ls", "-q"]).stdout.count == 26)
        #expect(shim(["secret", "ls", "-q"]).stdout.isEmpty)
        var st = stat()
        stat(other, &st)
        #expect(st.st_mode & 0o777 == 0o700)
        stat(other + "/master.key", &st)
        #expect(st.st_mode & 0o777 == 0o400)
    }

    /// A root that does not exist is an error for every command that only reads (it names the
    /// path, and makes nothing there), not an empty store; `run` without secrets needs no store.
    @Test func aRootThatDoesNotExistIsAnErrorForReads() throws {
        let shim = Shim()
        defer { shim.cleanUp() }
        let missing = shim.directory.appendingPathComponent("no-such-store").path
        let exported = shim.directory.appendingPathComponent("exported").path
        var commands: [([String], Int32)] = [
            (["secret", "ls"], 1), (["secret", "ls", "-q"], 1), (["secret", "inspect", "x"], 1), (["secret", "rm", "x"], 1),
            (["scan", shim.directory.path], 2), (["secret", "export", "x", "-o", exported], 1), (["grant", "x"], 1),
        ]
        if Shim.isRoot { commands.append((["run", "--secret", "x", "--", "true"], 125)) }
        for (arguments, status) in commands {
            for given in [["--root", missing], ["--root=\(missing)"]] {
                let result = shim(given + arguments)
                #expect(result.status == status, "\(arguments): \(result.status) \(result.stderr)")
                expectOneLineError(result, contains: "no store at \(missing): the folder does not exist")
            }
            let viaEnvironment = shim(arguments, env: ["SECRETSHIM_ROOT": missing])
            expectOneLineError(viaEnvironment, contains: "no store at \(missing)")
            #expect(!FileManager.default.fileExists(atPath: missing), "\(arguments) made the store")
        }
        #expect(!FileManager.default.fileExists(atPath: exported + "/secrets.db"))
        if Shim.isRoot { #expect(shim(["--root", missing, "run", "--", "true"]).status == 0) }
        // A root that exists but holds no database yet is an empty store.
        try FileManager.default.createDirectory(atPath: missing, withIntermediateDirectories: false)
        let empty = shim(["--root", missing, "secret", "ls", "-q"])
        #expect(empty.status == 0 && empty.stdout.isEmpty && empty.stderr.isEmpty, "\(empty.stderr)")
    }

    /// The command that makes the key says once, on stderr, where it is and that it needs a
    /// backup of its own; stdout stays the ID alone, and no later command says it again.
    @Test func theFirstCreateSaysOnceWhereTheKeyIs() throws {
        let shim = Shim()
        defer { shim.cleanUp() }
        let first = shim(["secret", "create", "one", "-"], stdin: Data("1".utf8))
        #expect(first.status == 0)
        #expect(first.stdout.trimmingCharacters(in: .newlines).count == 25)
        let lines = first.stderr.split(separator: "\n")
        #expect(lines.count == 1, "\(first.stderr)")
        #expect(first.stderr.hasPrefix("secretshim: secret create: created the store's key "))
        #expect(first.stderr.contains("/master.key: keep a backup of it apart from secrets.db"))
        for later in [["secret", "create", "two", "-"], ["secret", "ls"], ["secret", "rm", "two"], ["secret", "create", "three", "-"]] {
            let result = shim(later, stdin: Data("2".utf8))
            #expect(result.status == 0)
            #expect(result.stderr.isEmpty, "\(later): \(result.stderr)")
        }
        // A key the user made: nothing to say.
        let own = shim.directory.appendingPathComponent("own.key").path
        #expect(FileManager.default.createFile(atPath: own, contents: Data(repeating: 3, count: 32), attributes: [.posixPermissions: 0o400]))
        let other = shim.directory.appendingPathComponent("other").path
        let given = shim(["--root", other, "--key-file", own, "secret", "create", "x", "-"], stdin: Data("v".utf8))
        #expect(given.status == 0 && given.stderr.isEmpty, "\(given.stderr)")
    }

    /// "no such secret" says which store was searched, as `info` and the other errors name it.
    @Test func noSuchSecretNamesTheStore() throws {
        let shim = Shim()
        defer { shim.cleanUp() }
        shim.create("here", "v")
        let root = try #require(realpath(shim.root, nil).map { pointer in
            defer { free(pointer) }
            return String(cString: pointer)
        })
        var commands: [([String], Int32)] = [
            (["secret", "inspect", "gone"], 1), (["secret", "rm", "gone"], 1), (["grant", "gone"], 1),
            (["secret", "export", "gone", "-o", shim.directory.appendingPathComponent("x").path], 1),
        ]
        if Shim.isRoot { commands.append((["run", "--secret", "gone", "--", "true"], 125)) }
        for (arguments, status) in commands {
            let result = shim(arguments)
            #expect(result.status == status, "\(arguments)")
            expectOneLineError(result, contains: "no such secret: gone (in the store at \(root))")
        }
        #expect(shim(["info", "--format", "json"]).stdout.contains("\"Root\":\"\(root)\""))
    }

    @Test func noCommandPrintsAValueExceptShowSecret() {
        let shim = Shim()
        defer { shim.cleanUp() }
        let value = "NEVER-PRINT-THIS-9f8e7d"
        shim.create("hidden", value, labels: ["a=b"])
        let commands: [[String]] = [
            ["secret", "ls"], ["secret", "ls", "--format", "json"], ["secret", "ls", "-q"],
            ["secret", "inspect", "hidden"], ["secret", "inspect", "hidden", "missing"], ["ps"], ["ps", "--format", "json"],
            ["secret", "create", "hidden", "-"], ["run", "--secret", "hidden,mode=999", "--", "true"],
            ["run", "--secret", "hidden", "--", "/nonexistent"],
        ]
        for command in commands {
            let result = shim(command, stdin: Data(value.utf8))
            #expect(!result.stdout.contains(value) && !result.stderr.contains(value), "\(command)")
        }
    }
}
