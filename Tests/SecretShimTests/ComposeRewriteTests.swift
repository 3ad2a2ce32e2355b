import Foundation
import Testing

/// `secretshim compose` up to the engine, which no test here needs: the rewrite Compose is
/// given (with a stand-in `docker-compose` that reports its files), Compose file format 2.x,
/// `name:` and `external:` secrets, and every malformed project refused.
@Suite(.enabled(if: Shim.isRoot, "as root: the store and state dir are root's"), .serialized)
struct ComposeRewriteTests {
    /// A stand-in for docker-compose on PATH: prints each `-f` file's mode and owner, its
    /// folder's, and its text, then its other arguments, one per line.
    static func standIn(in shim: Shim) throws -> String {
        let bin = shim.directory.appendingPathComponent("bin").path
        try FileManager.default.createDirectory(atPath: bin, withIntermediateDirectories: true)
        try """
            #!/bin/sh
            while [ $# -gt 0 ]; do
              case "$1" in
                -f) echo "file $2"; stat -c 'mode %a %u' "$2"; stat -c 'folder %a %u' "$(dirname "$2")"; cat "$2"; shift 2;;
                *) echo "arg $1"; shift;;
              esac
            done

            """.write(toFile: bin + "/docker-compose", atomically: true, encoding: .utf8)
        chmod(bin + "/docker-compose", 0o755)
        return bin
    }

    @Test func composeIsGivenAnOwnerOnlyRewriteWithSignedGrants() throws {
        let shim = Shim()
        defer { shim.cleanUp() }
        let bin = try Self.standIn(in: shim)
        let folder = shim.directory.appendingPathComponent("proj").path
        try FileManager.default.createDirectory(atPath: folder, withIntermediateDirectories: true)
        try "from-the-file".write(toFile: folder + "/pw.txt", atomically: true, encoding: .utf8)
        let externalID = shim.create("shared_ext", "made-before")
        // Compose file format 2.4 (its `version:` is Compose's to ignore), a file secret stored
        // under its own `name:`, an external one named apart from its key.
        try """
            version: "2.4"
            services:
              app:
                image: busybox
                secrets: [local, ext]
            secrets:
              local:
                file: ./pw.txt
                name: custom_name
              ext:
                external: true
                name: shared_ext

            """.write(toFile: folder + "/docker-compose.yml", atomically: true, encoding: .utf8)
        let result = ComposeTests.compose(shim, folder, "up", env: ["PATH": bin + ":/usr/bin:/bin"])
        #expect(result.status == 0, "\(result.output)")
        let lines = result.output.split(separator: "\n").map(String.init)
        let file = lines.first { $0.hasPrefix("file ") }.map { String($0.dropFirst(5)) } ?? ""
        // Under the state dir, in a folder of this invocation alone, both owner-only; gone after.
        #expect(file.hasPrefix(shim.state + "/compose/proj-") && file.hasSuffix("/compose-1.yaml"), "\(result.output)")
        #expect(lines.contains("mode 600 0") && lines.contains("folder 700 0"), "\(result.output)")
        #expect(!FileManager.default.fileExists(atPath: (file as NSString).deletingLastPathComponent))
        #expect(!result.output.contains("version") && !result.output.contains("\"secrets\""), "\(result.output)")
        #expect(!result.output.contains("from-the-file") && !result.output.contains("made-before"))
        #expect(lines.filter { $0.hasPrefix("arg ") } == ["arg -p", "arg proj", "arg --project-directory", "arg \(folder)", "arg up"], "\(result.output)")
        #expect(lines.contains("secretshim: compose: imported secret custom_name"), "\(result.output)")
        // The request: both grants, by ID, with the targets the service asked for.
        let request = lines.first { $0.contains("SECRETSHIM_SECRETS") } ?? ""
        let token = request.split(separator: "\"").dropFirst(3).first.map(String.init) ?? ""
        let parts = token.split(separator: ".")
        var payload = parts.count == 3 ? String(parts[1]).replacingOccurrences(of: "-", with: "+").replacingOccurrences(of: "_", with: "/") : ""
        while payload.count % 4 != 0 { payload += "=" }
        let grants = String(decoding: Data(base64Encoded: payload) ?? Data(), as: UTF8.self)
        let localID = shim(["secret", "inspect", "-f", "{{.ID}}", "custom_name"]).stdout.trimmingCharacters(in: .newlines)
        #expect(localID.count == 25)
        #expect(grants.contains("grant \(localID) custom_name,target=local\n") && grants.contains("grant \(externalID) shared_ext,target=ext\n"), "\(grants)")
        // The file's value went into the store under `name:`.
        let read = shim(["run", "--secret", "custom_name", "--", "/bin/cat", "/run/secrets/custom_name"])
        #expect(read.stdout == "from-the-file", "\(read.stderr)")
    }

    /// Every malformed project, flag or input: one line, its exit status, and no secret
    /// imported (no engine needed: all fail before Compose runs).
    @Test func malformedProjectsAreRefusedInOneLineChangingNothing() throws {
        let shim = Shim()
        defer { shim.cleanUp() }
        let folder = shim.directory.appendingPathComponent("bad").path
        try FileManager.default.createDirectory(atPath: folder, withIntermediateDirectories: true)
        try "pw".write(toFile: folder + "/pw.txt", atomically: true, encoding: .utf8)
        let valid = "secrets:\n  ok:\n    file: ./pw.txt\n"
        let cases: [(yaml: String, arguments: String, status: Int32, fragment: String)] = [
            ("services: [\n", "up", 2, "docker-compose.yml"),
            ("services:\n  a:\n    image: x\n    secrets: [nope]\n", "up", 2, "undefined secret 'nope'"),
            ("services:\n  a:\n    image: x\n    secrets: [{source: ok, target: /etc/../passwd}]\n" + valid, "up", 2, "'..'"),
            ("services:\n  a:\n    image: x\n    secrets: [{source: ok, mode: 0999}]\n" + valid, "up", 2, "mode"),
            ("services:\n  a:\n    image: x\n    secrets: [{source: ok, uid: \"-1\"}]\n" + valid, "up", 2, "uid"),
            ("services:\n  a:\n    image: x\n    environment: {SECRETSHIM_SECRETS: forged}\n    secrets: [ok]\n" + valid, "up", 2, "sets SECRETSHIM_SECRETS itself"),
            ("services:\n  a:\n    image: x\n    secrets: [e]\nsecrets:\n  e:\n    environment: SECRETSHIM_TEST_UNSET\n", "up", 1, "SECRETSHIM_TEST_UNSET is not set"),
            ("services:\n  a:\n    image: x\n    secrets: [m]\nsecrets:\n  m:\n    file: ./missing.txt\n", "up", 1, "missing.txt"),
            ("services:\n  a:\n    image: x\n    secrets: [x]\nsecrets:\n  x:\n    external: true\n", "up", 1, "external secret 'x' is not in the store"),
            ("services:\n  a:\n    image: x\n    secrets: [ok]\n  a:\n    image: y\n" + valid, "up", 2, "duplicated key"),
            ("a: &a [*a]\n", "up", 2, "docker-compose.yml"),
            // "Billion laughs": nine levels of nine aliases, 387 million nodes once expanded.
            (ComposeTests.laughs, "up", 2, "expands to over"),
            ("services:\n  \"a\\e[2J\":\n    image: x\n    secrets: [nope]\n", "up", 2, "a\\x1b[2J"),
            ("- just\n- a list\n", "up", 2, "not a mapping"),
            ("services: {}\n", "", 2, "give Compose's command"),
            ("services: {}\n", "--engine lxc up", 2, "engine"),
            ("services: {}\n", "--runtime 'a b' up", 2, "--runtime"),
            ("services: {}\n", "-p '!!!' up", 2, "empty once normalized"),
        ]
        for (yaml, arguments, status, fragment) in cases {
            try yaml.write(toFile: folder + "/docker-compose.yml", atomically: true, encoding: .utf8)
            let result = ComposeTests.compose(shim, folder, arguments, env: ["DOCKER_HOST": "unix:///nonexistent.sock"])
            #expect(result.status == status, "\(yaml) \(arguments): \(result.output)")
            #expect(result.output.split(separator: "\n").count == 1 && result.output.hasPrefix("secretshim: "), "\(yaml): \(result.output)")
            #expect(result.output.contains(fragment), "expected '\(fragment)' for \(yaml): \(result.output)")
        }
        #expect(shim(["secret", "ls", "-q"]).stdout.isEmpty, "a refused compose imported a secret")
        // Two definitions of one store name: refused before either is imported.
        try "pw2".write(toFile: folder + "/pw2.txt", atomically: true, encoding: .utf8)
        try "services:\n  a:\n    image: x\n    secrets: [a, b]\nsecrets:\n  a:\n    file: ./pw.txt\n    name: dup\n  b:\n    file: ./pw2.txt\n    name: dup\n"
            .write(toFile: folder + "/docker-compose.yml", atomically: true, encoding: .utf8)
        let duplicate = ComposeTests.compose(shim, folder, "up", env: [:])
        #expect(duplicate.status == 1 && duplicate.output.contains("are both named 'dup'"), "\(duplicate.output)")
        #expect(shim(["secret", "ls", "-q"]).stdout.isEmpty, "a refused compose imported a secret")
        // Two secrets, the second unreadable: the first is not imported either.
        try "services:\n  a:\n    image: x\n    secrets: [ok, m]\nsecrets:\n  ok:\n    file: ./pw.txt\n  m:\n    file: ./missing.txt\n"
            .write(toFile: folder + "/docker-compose.yml", atomically: true, encoding: .utf8)
        #expect(ComposeTests.compose(shim, folder, "up", env: [:]).status == 1)
        #expect(shim(["secret", "ls", "-q"]).stdout.isEmpty, "a refused compose imported a secret")
        // `name:` cannot take over a secret the project did not import: refused, kept as it was.
        let prodID = shim.create("prod_db", "the-real-password")
        try "services:\n  a:\n    image: x\n    secrets: [x]\nsecrets:\n  x:\n    file: ./pw.txt\n    name: prod_db\n"
            .write(toFile: folder + "/docker-compose.yml", atomically: true, encoding: .utf8)
        let takeover = ComposeTests.compose(shim, folder, "up", env: [:])
        #expect(takeover.status == 1 && takeover.output.contains("refusing to replace it"), "\(takeover.output)")
        #expect(shim(["secret", "inspect", "-f", "{{.ID}}", "prod_db"]).stdout == prodID + "\n")
        // A FIFO for a Compose file or a secret's file is refused, not waited on.
        unlink(folder + "/docker-compose.yml")
        mkfifo(folder + "/docker-compose.yml", 0o644)
        let fifo = ComposeTests.compose(shim, folder, "up", env: [:])
        #expect(fifo.status == 1 && fifo.output.contains("not a regular file"), "\(fifo.output)")
        let none = shim.directory.appendingPathComponent("empty").path
        try FileManager.default.createDirectory(atPath: none, withIntermediateDirectories: true)
        let missing = ComposeTests.compose(shim, none, "up", env: [:])
        #expect(missing.status == 2 && missing.output.contains("give -f FILE"), "\(missing.output)")
    }
}
