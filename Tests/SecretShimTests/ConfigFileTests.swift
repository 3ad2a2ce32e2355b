import Foundation
import Testing

/// The configuration file (SPEC.md "configuration"): its keys in effect behind flags and the
/// environment, for `run`, the ArgumentParser commands and the runtime wrapper; the cache `run`
/// reads it through; every malformed or untrusted file refused in one line, changing nothing.
@Suite(.enabled(if: Shim.isRoot, "as root: the file's trust checks are root's"), .serialized)
struct ConfigFileTests {
    /// `info --format json` as a dictionary of strings.
    func info(_ shim: Shim, _ arguments: [String] = [], env: [String: String]) -> [String: String] {
        let result = shim(arguments + ["info", "--format", "json"], env: env)
        #expect(result.status == 0, "\(result.stderr)")
        let object = (try? JSONSerialization.jsonObject(with: Data(result.stdout.utf8))) as? [String: Any] ?? [:]
        return object.compactMapValues { $0 as? String }
    }

    func write(_ text: String, to path: String, mode: Int = 0o644) throws {
        try text.write(toFile: path, atomically: false, encoding: .utf8)
        chmod(path, mode_t(mode))
    }

    @Test func flagsBeatTheEnvironmentWhichBeatsTheFile() throws {
        let shim = Shim()
        defer { shim.cleanUp() }
        let file = shim.directory.appendingPathComponent("config.toml").path
        let fileRoot = shim.directory.appendingPathComponent("from-file").path
        try write("""
            # secretshim's configuration
            root = "\(fileRoot)"
            key_file = "\(fileRoot)/other.key"
            node = "node-from-file"

            """, to: file)
        // The harness sets SECRETSHIM_ROOT: empty counts as not given.
        let noRoot = ["SECRETSHIM_ROOT": "", "SECRETSHIM_CONFIG": file]
        var seen = info(shim, env: noRoot)
        #expect(seen["Config"] == file && seen["Root"] == fileRoot && seen["KeyFile"] == fileRoot + "/other.key")
        #expect(seen["Node"] == "node-from-file")
        seen = info(shim, env: noRoot.merging(["SECRETSHIM_ROOT": shim.root, "SECRETSHIM_NODE": "env-node"]) { $1 })
        #expect(seen["Root"] == shim.root && seen["Node"] == "env-node")
        let flagRoot = shim.directory.appendingPathComponent("from-flag").path
        seen = info(shim, ["--root", flagRoot], env: noRoot.merging(["SECRETSHIM_ROOT": shim.root]) { $1 })
        #expect(seen["Root"] == flagRoot)
        // --config beats SECRETSHIM_CONFIG, before the command and after it.
        let other = shim.directory.appendingPathComponent("other.toml").path
        try write("root = \"\(flagRoot)\"\n", to: other)
        #expect(info(shim, ["--config", other], env: noRoot)["Root"] == flagRoot)
        let after = shim(["info", "--config", other, "--format", "json"], env: noRoot)
        #expect(after.stdout.contains("\"Root\":\"\(flagRoot)\""), "\(after.stdout) \(after.stderr)")
    }

    @Test func runAndTheStoreCommandsUseTheConfiguredStore() throws {
        let shim = Shim()
        defer { shim.cleanUp() }
        let file = shim.directory.appendingPathComponent("config.toml").path
        try write("root = \"\(shim.root)\"\nstate_dir = \"\(shim.state)\"\n", to: file)
        let env = ["SECRETSHIM_ROOT": "", "SECRETSHIM_STATE_DIR": "", "SECRETSHIM_CONFIG": file]
        let created = shim(["secret", "create", "db_password", "-"], stdin: Data("from-config".utf8), env: env)
        #expect(created.status == 0, "\(created.stderr)")
        let ran = shim(["run", "--secret", "db_password", "--", "/bin/cat", "/run/secrets/db_password"], env: env)
        #expect(ran.status == 0 && ran.stdout == "from-config", "\(ran.stderr)")
        // run's own --config, and the runtime wrapper's global flag (a config that does not
        // exist is named in its refusal, so the flag was read).
        let missing = shim.directory.appendingPathComponent("missing.toml").path
        let runMissing = shim(["run", "--config", missing, "--", "/bin/true"], env: env)
        #expect(runMissing.status == 125)
        expectOneLineError(runMissing, contains: "missing.toml")
        let runtime = shim(["runtime", "--secretshim-config", missing, "state", "x"], env: env)
        #expect(runtime.status == 1)
        #expect(runtime.stderr.contains("config \(missing)"), "\(runtime.stderr)")
    }

    /// `run` reads what secretshim-documents answered from the cache while the file is the
    /// same file, unchanged; any change to it is read again; a cache that others could have
    /// written is not used.
    @Test func theCacheFollowsTheFileAndTrustsOnlyItsOwner() throws {
        let shim = Shim()
        defer { shim.cleanUp() }
        let file = shim.directory.appendingPathComponent("config.toml").path
        try write("node = \"first\"\n", to: file)
        let env = ["SECRETSHIM_CONFIG": file]
        #expect(info(shim, env: env)["Node"] == "first")
        let cache = shim.state + "/config.cache"
        var attributes = try FileManager.default.attributesOfItem(atPath: cache)
        #expect((attributes[.posixPermissions] as? Int) == 0o600)
        // A changed file (same size, same second) is read again.
        try write("node = \"other\"\n", to: file)
        #expect(info(shim, env: env)["Node"] == "other")
        // The cache is what run reads: one edited to say something else, with the file's
        // identity intact, is believed while it is the owner's alone (this shows the cache is
        // in use) and ignored once group or others could write it.
        let forged = try String(contentsOfFile: cache, encoding: .utf8).replacingOccurrences(of: "node other", with: "node forged")
        try forged.write(toFile: cache, atomically: false, encoding: .utf8)
        #expect(info(shim, env: env)["Node"] == "forged")
        chmod(cache, 0o622)
        #expect(info(shim, env: env)["Node"] == "other")
        attributes = try FileManager.default.attributesOfItem(atPath: cache)
        #expect((attributes[.posixPermissions] as? Int) == 0o600, "the cache was written again, owner-only")
    }

    @Test func malformedAndUntrustedFilesAreRefusedInOneLineChangingNothing() throws {
        let shim = Shim()
        defer { shim.cleanUp() }
        let file = shim.directory.appendingPathComponent("config.toml").path
        let cases: [(text: String, status: Int32, fragment: String)] = [
            ("root = [\n", 2, "line 1"),
            ("root = \"/x\"\nroot = \"/y\"\n", 2, "line 2"),
            ("rooot = \"/x\"\n", 2, "unknown key 'rooot'"),
            ("[etcd]\ncert = \"/x\"\n", 2, "unknown key 'etcd'"),
            ("root = 5\n", 2, "'root' must be a string"),
            ("root = \"relative/dir\"\n", 2, "must be an absolute path"),
            ("node = \"\"\n", 2, "non-empty string"),
            ("node = \"a\\u001b[2Jb\"\n", 2, "without control characters"),
            ("\"k\\u001b]0;x\\u0007\" = \"v\"\n", 2, "unknown key 'k\\x1b]0;x\\x07'"),
            ("store = \"http://example.com\"\n", 2, "config.toml: store: "),
            ("node = \"\\u009b2J\"\n", 2, "without control characters"),
            ("node = \"\\u202eevil\"\n", 2, "without control characters"),
            ("root = \"/a\\u0000b\"\n", 2, "NUL"),
            ("node = 1979-05-27T07:32:00Z\n", 2, "'node' must be a string"),
            ("\u{FF}\u{FE}", 2, "config"),
        ]
        for (text, status, fragment) in cases {
            try write(text, to: file)
            let result = shim(["secret", "create", "x", "-"], stdin: Data("v".utf8), env: ["SECRETSHIM_CONFIG": file])
            #expect(result.status == status, "\(text): \(result.stderr)")
            expectOneLineError(result, contains: fragment)
            let ran = shim(["run", "--", "/bin/true"], env: ["SECRETSHIM_CONFIG": file])
            #expect(ran.status == 125, "\(text): \(ran.stderr)")
            expectOneLineError(ran, contains: fragment)
        }
        #expect(shim(["secret", "ls", "-q"]).stdout.isEmpty, "a refused command created a secret")

        // Files root must not trust: another user's, writable by group, not a regular file,
        // too big, and a missing file that was asked for.
        try write("node = \"n\"\n", to: file)
        chown(file, 65534, 65534)
        for (what, prepare, fragment) in [
            ("another user's", { chown(file, 65534, 65534) }, "belongs to uid 65534"),
            ("group-writable", { chown(file, 0, 0); chmod(file, 0o664) }, "writable by group or others"),
            ("a FIFO", { unlink(file); mkfifo(file, 0o644) }, "not a regular file"),
        ] as [(String, () -> Void, String)] {
            prepare()
            let result = shim(["info"], env: ["SECRETSHIM_CONFIG": file])
            #expect(result.status == 1, "\(what): \(result.stderr)")
            expectOneLineError(result, contains: fragment)
        }
        unlink(file)
        try write(String(repeating: "# padding\n", count: 7000), to: file)
        expectOneLineError(shim(["info"], env: ["SECRETSHIM_CONFIG": file]), contains: "not a configuration file")
        let missing = shim(["info"], env: ["SECRETSHIM_CONFIG": shim.directory.appendingPathComponent("none.toml").path])
        #expect(missing.status == 1)
        expectOneLineError(missing, contains: "No such file")
    }
}
