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
        // The wrapper reads its store from the file it is given: the request verifies under
        // that store's key and the container reads the secret.
        if FileManager.default.fileExists(atPath: "/usr/sbin/runc") {
            let bundle = try RootfsTests.makeBundle(
                in: shim.directory, args: ["cat", "/run/secrets/db_password"], edit: RuntimeTests.annotate(shim, "db_password"))
            let wrapped = shim(["runtime", "--secretshim-config", file, "run", "--bundle", bundle, "cfg-\(UUID().uuidString.prefix(8))"], env: env)
            #expect(wrapped.status == 0 && wrapped.stdout == "from-config", "\(wrapped.stdout) \(wrapped.stderr)")
        }
    }

    /// `store` and the etcd client's files from the file, as `info` shows them (no cluster
    /// needed: nothing is dialled).
    @Test func theEtcdSettingsComeFromTheFileToo() throws {
        let shim = Shim()
        defer { shim.cleanUp() }
        let file = shim.directory.appendingPathComponent("config.toml").path
        // The client's files must exist (they are checked as the key file is), not be valid.
        let pki = shim.directory.appendingPathComponent("pki").path
        try FileManager.default.createDirectory(atPath: pki, withIntermediateDirectories: true)
        for name in ["ca", "node", "node-key", "other-ca"] { try write("x\n", to: "\(pki)/\(name).pem", mode: 0o600) }
        try write("""
            store = "etcd://127.0.0.1:2379"
            etcd_cacert = "\(pki)/ca.pem"
            etcd_cert = "\(pki)/node.pem"
            etcd_key = "\(pki)/node-key.pem"

            """, to: file)
        let seen = info(shim, env: ["SECRETSHIM_CONFIG": file, "SECRETSHIM_STORE": ""])
        #expect(seen["Store"] == "etcd://127.0.0.1:2379", "\(seen)")
        #expect(seen["EtcdCACert"] == pki + "/ca.pem" && seen["EtcdCert"] == pki + "/node.pem" && seen["EtcdKey"] == pki + "/node-key.pem", "\(seen)")
        // The environment still wins over the file.
        let overridden = info(shim, env: ["SECRETSHIM_CONFIG": file, "SECRETSHIM_ETCD_CACERT": pki + "/other-ca.pem"])
        #expect(overridden["EtcdCACert"] == pki + "/other-ca.pem", "\(overridden)")
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

    /// With no --config and no SECRETSHIM_CONFIG: root reads /etc/secretshim/config.toml (here
    /// a private /etc, in a mount namespace of its own), a user $XDG_CONFIG_HOME's, else
    /// ~/.config's.
    @Test func theDefaultFileIsEtcForRootAndXDGForAUser() throws {
        let shim = Shim()
        defer { shim.cleanUp() }
        let fileRoot = shim.directory.appendingPathComponent("etc-root").path
        let script = """
            mount -t tmpfs -o mode=0755 tmpfs /etc && mkdir -m 0755 /etc/secretshim &&
            printf 'root = "%s"\\n' '\(fileRoot)' > /etc/secretshim/config.toml && chmod 0644 /etc/secretshim/config.toml &&
            exec '\(Shim.binary)' info --format json
            """
        let env = ["SECRETSHIM_ROOT": "", "SECRETSHIM_CONFIG": ""]
        let asRoot = shim(["-m", "sh", "-c", script], env: env, executable: "/usr/bin/unshare")
        #expect(asRoot.status == 0, "\(asRoot.stderr)")
        #expect(asRoot.stdout.contains("\"Config\":\"/etc/secretshim/config.toml\"") && asRoot.stdout.contains("\"Root\":\"\(fileRoot)\""), "\(asRoot.stdout)")

        // A user (nobody): $XDG_CONFIG_HOME/secretshim/config.toml, else ~/.config/secretshim/config.toml.
        let home = shim.directory.appendingPathComponent("home").path
        #expect(shell("mkdir -p \(home)/xdg/secretshim \(home)/.config/secretshim && chmod 755 \(shim.directory.path)").status == 0)
        try write("node = \"from-xdg\"\n", to: home + "/xdg/secretshim/config.toml")
        try write("node = \"from-dot-config\"\n", to: home + "/.config/secretshim/config.toml")
        #expect(shell("chown -R 65534:65534 \(home)").status == 0)
        let asNobody = ["--reuid", "65534", "--regid", "65534", "--clear-groups", Shim.binary, "info", "--format", "json"]
        let userEnv = env.merging(["SECRETSHIM_STATE_DIR": "", "HOME": home, "XDG_DATA_HOME": home + "/data",
                                   "XDG_RUNTIME_DIR": home + "/runtime"]) { $1 }
        let xdg = shim(asNobody, env: userEnv.merging(["XDG_CONFIG_HOME": home + "/xdg"]) { $1 }, executable: "/usr/bin/setpriv")
        #expect(xdg.status == 0 && xdg.stdout.contains("\"Node\":\"from-xdg\""), "\(xdg.stdout) \(xdg.stderr)")
        let dotConfig = shim(asNobody, env: userEnv.merging(["XDG_CONFIG_HOME": ""]) { $1 }, executable: "/usr/bin/setpriv")
        #expect(dotConfig.status == 0 && dotConfig.stdout.contains("\"Node\":\"from-dot-config\""), "\(dotConfig.stdout) \(dotConfig.stderr)")
    }

    /// `info`'s kernel features, each against a probe of its own: Landlock among the kernel's
    /// LSMs, `unshare -U`, a `noswap` tmpfs (Linux 6.4), MOVE_MOUNT_BENEATH (Linux 6.5).
    @Test func infoReportsTheKernelAsProbedApart() throws {
        let shim = Shim()
        defer { shim.cleanUp() }
        let result = shim(["info", "--format", "json"])
        #expect(result.status == 0, "\(result.stderr)")
        let object = (try? JSONSerialization.jsonObject(with: Data(result.stdout.utf8))) as? [String: Any] ?? [:]
        // securityfs, mounted in a namespace of its own where the host has not.
        let lsms = shell("cat /sys/kernel/security/lsm 2>/dev/null || unshare -m sh -c 'mount -t securityfs none /sys/kernel/security && cat /sys/kernel/security/lsm'").output
        let landlock = object["Landlock"] as? Int
        #expect(landlock != nil && (landlock! > 0) == lsms.split(whereSeparator: { $0 == "," || $0.isWhitespace }).contains("landlock"), "\(result.stdout) / \(lsms)")
        #expect(object["UserNamespaces"] as? Bool == (shell("unshare -U true").status == 0), "\(result.stdout)")
        let noswap = shell("unshare -m mount -t tmpfs -o noswap tmpfs /mnt").status == 0
        #expect(object["TmpfsNoswap"] as? Bool == noswap, "\(result.stdout)")
        var name = utsname()
        uname(&name)
        let release = withUnsafeBytes(of: &name.release) { String(decoding: $0.prefix(while: { $0 != 0 }), as: UTF8.self) }
        let version = release.split(separator: ".").prefix(2).compactMap { Int($0.prefix(while: \.isNumber)) }
        let beneath = version.count == 2 && (version[0], version[1]) >= (6, 5)
        #expect(object["MoveMountBeneath"] as? Bool == beneath, "\(result.stdout) / \(release)")
        #expect(object["Rootless"] as? Bool == false && object["Store"] as? String == "local")
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
