import Foundation
import Testing

/// `--rootfs`, `--bundle` and rootless runs, against the real kernel, with a busybox-static root
/// filesystem built here and a bundle made by the real `runc spec`.
@Suite(.enabled(if: Shim.isRoot && FileManager.default.fileExists(atPath: "/bin/busybox"), "needs root and busybox-static"))
struct RootfsTests {
    /// A minimal root: busybox and its applets, passwd and group, nothing else.
    static func makeRootfs(at directory: URL) throws -> String {
        let root = directory.appendingPathComponent("rootfs")
        for folder in ["bin", "etc", "proc", "dev", "tmp"] {
            try FileManager.default.createDirectory(at: root.appendingPathComponent(folder), withIntermediateDirectories: true)
        }
        // Copied by a child process: a copy made here holds a writable fd that a fork in a test
        // running alongside inherits until its exec, and exec of busybox then fails ETXTBSY.
        let copied = shell("cp /bin/busybox '\(root.appendingPathComponent("bin/busybox").path)'")
        try #require(copied.status == 0, "cp busybox: \(copied.output)")
        for applet in ["sh", "cat", "ls", "id", "grep", "echo", "hostname", "touch", "stat", "mkdir", "mount", "umount", "head", "wc", "sleep", "env", "cp", "test"] {
            try FileManager.default.createSymbolicLink(atPath: root.appendingPathComponent("bin/\(applet)").path, withDestinationPath: "busybox")
        }
        try "root:x:0:0:root:/root:/bin/sh\nnobody:x:65534:65534:nobody:/:/bin/sh\napp:x:1000:1000::/:/bin/sh\nweb:x:1001:1001::/srv/web:/bin/sh\n"
            .write(to: root.appendingPathComponent("etc/passwd"), atomically: true, encoding: .utf8)
        try "root:x:0:\nnogroup:x:65534:\napp:x:1000:\n".write(to: root.appendingPathComponent("etc/group"), atomically: true, encoding: .utf8)
        return root.path
    }

    /// A `runc spec` bundle around a busybox root, with `args` and `edit` applied.
    static func makeBundle(in directory: URL, args: [String], edit: (inout [String: Any]) -> Void = { _ in }) throws -> String {
        let bundle = directory.appendingPathComponent("bundle-\(UUID().uuidString.prefix(8))")
        try FileManager.default.createDirectory(at: bundle, withIntermediateDirectories: true)
        _ = try makeRootfs(at: bundle)
        let spec = shell("cd \(bundle.path) && runc spec")
        try #require(spec.status == 0, "runc spec: \(spec.output)")
        let path = bundle.appendingPathComponent("config.json")
        var config = try JSONSerialization.jsonObject(with: Data(contentsOf: path)) as! [String: Any]
        var process = config["process"] as! [String: Any]
        process["terminal"] = false
        process["args"] = args
        config["process"] = process
        edit(&config)
        try JSONSerialization.data(withJSONObject: config).write(to: path)
        return bundle.path
    }

    /// The host's mount table, less what other tests running alongside mount in their own
    /// folders (the engines' overlays, netns and shm mounts, the adversarial suite's private
    /// tmpfs mounts, all under `secretshim-*` folders); this test's own folder is kept.
    static func hostMountTable(keeping own: URL) -> [Substring] {
        let table = String(decoding: (try? FileHandle(forReadingFrom: URL(fileURLWithPath: "/proc/self/mountinfo")).readToEnd()) ?? Data(), as: UTF8.self)
        return table.split(separator: "\n").filter {
            !$0.contains("/run/ss") && (!$0.contains("/secretshim-") || $0.contains(own.path))
        }
    }

    static let env = ["PATH": "/bin"]

    @Test func aBusyboxRootSeesItsSecretsAndTheHostSeesNothing() throws {
        let shim = Shim()
        defer { shim.cleanUp() }
        shim.create("pw", "in-the-root")
        let root = try Self.makeRootfs(at: shim.directory)
        let before = Self.hostMountTable(keeping: shim.directory)
        let result = shim(
            ["run", "--rootfs", root, "--secret", "pw,mode=0400,uid=1000", "--user", "app", "--", "sh", "-c",
             "id -u; cat /run/secrets/pw; echo; stat -c '%a %u' /run/secrets/pw; ls /dev | wc -l; grep -c . /proc/self/mountinfo; ls /"],
            env: Self.env)
        #expect(result.status == 0, "\(result.stderr)")
        let lines = result.stdout.split(separator: "\n").map(String.init)
        #expect(lines.prefix(3) == ["1000", "in-the-root", "400 1000"])
        // Owners by name, from the root's own passwd and group (the host has no user "app").
        let named = shim(["run", "--rootfs", root, "--secret", "pw,mode=0440,uid=app,gid=app", "--", "stat", "-c", "%a %u %g", "/run/secrets/pw"], env: Self.env)
        #expect(named.stdout == "440 1000 1000\n", "\(named.stderr)")
        let unknown = shim(["run", "--rootfs", root, "--secret", "pw,uid=postgres", "--", "true"], env: Self.env)
        #expect(unknown.status == 125)
        expectOneLineError(unknown, contains: "unable to find user postgres")
        // --user's HOME is the root's passwd's (runc's rule), a user the host does not have.
        let home = shim(["run", "--rootfs", root, "--user", "web", "--", "sh", "-c", "echo $HOME; id -u"], env: Self.env.merging(["HOME": "/root"]) { $1 })
        #expect(home.status == 0 && home.stdout == "/srv/web\n1001\n", "\(home.stdout) \(home.stderr)")
        // null zero full random urandom tty fd stdin stdout stderr ptmx shm
        #expect(lines.count > 3 && lines[3] == "12")
        #expect(!result.stdout.contains("work"), "the host's tree is reachable: \(result.stdout)")
        #expect(Self.hostMountTable(keeping: shim.directory) == before)
        let left = try FileManager.default.contentsOfDirectory(atPath: root + "/run/secrets")
        #expect(left.isEmpty, "the host sees files in the rootfs: \(left)")
    }

    /// Symlinks planted in the rootfs, pointing at host paths, absolute or by "..": whatever
    /// `run` does with them, nothing is written or mounted outside the root.
    @Test(arguments: [
        ("run", "HOST"), ("run", "../../../../../../../../HOST"), ("run/secrets", "HOST"), ("run/secrets", "/etc"),
        ("dev", "HOST"), ("proc", "HOST"),
    ])
    func symlinksInTheRootNeverLeadOut(link: String, target: String) throws {
        let shim = Shim()
        defer { shim.cleanUp() }
        shim.create("pw", "never-outside")
        let root = try Self.makeRootfs(at: shim.directory)
        let host = shim.directory.appendingPathComponent("host-side")
        try FileManager.default.createDirectory(at: host, withIntermediateDirectories: true)
        let linkPath = URL(fileURLWithPath: root).appendingPathComponent(link)
        try? FileManager.default.removeItem(at: linkPath)
        try FileManager.default.createDirectory(at: linkPath.deletingLastPathComponent(), withIntermediateDirectories: true)
        try FileManager.default.createSymbolicLink(atPath: linkPath.path, withDestinationPath: target.replacingOccurrences(of: "HOST", with: host.path))
        let before = Self.hostMountTable(keeping: shim.directory)
        let result = shim(["run", "--rootfs", root, "--secret", "pw", "--", "cat", "/run/secrets/pw"], env: Self.env)
        #expect(try FileManager.default.contentsOfDirectory(atPath: host.path).isEmpty, "written outside the root")
        #expect(Self.hostMountTable(keeping: shim.directory) == before)
        #expect(!shell("grep -rl never-outside /etc \(host.path) 2>/dev/null").output.contains("/"))
        // Either it ran, with the secret inside, or it refused in one line; never anything else.
        if result.status == 0 {
            #expect(result.stdout == "never-outside")
        } else {
            #expect(result.status == 125)
            expectOneLineError(result)
        }
    }

    @Test func aRuncSpecBundleRunsWithItsOwnSettings() throws {
        let shim = Shim()
        defer { shim.cleanUp() }
        shim.create("pw", "bundled")
        let bundle = try Self.makeBundle(
            in: shim.directory,
            args: ["sh", "-c",
                "cat /run/secrets/pw; echo; hostname; echo pid=$$; grep -E '^(CapBnd|NoNewPrivs|Seccomp):' /proc/self/status; touch /x 2>/dev/null; echo touch=$?; exit 7"])
        let before = Self.hostMountTable(keeping: shim.directory)
        let result = shim(["run", "--bundle", bundle, "--secret", "pw"])
        #expect(result.status == 7, "\(result.stderr)")
        // runc spec: hostname "runc", a PID namespace, bounding set audit_write kill
        // net_bind_service, noNewPrivileges, a read-only root.
        #expect(result.stdout == "bundled\nrunc\npid=1\nCapBnd:\t0000000020000420\nNoNewPrivs:\t1\nSeccomp:\t2\ntouch=1\n")
        #expect(Self.hostMountTable(keeping: shim.directory) == before)

        // The bundle's own linux.seccomp replaces the default filter.
        let filteredBundle = try Self.makeBundle(in: shim.directory, args: ["sh", "-c", "mkdir /dev/shm/made 2>/dev/null; echo mkdir=$?"]) {
            var linux = $0["linux"] as! [String: Any]
            linux["seccomp"] = ["defaultAction": "SCMP_ACT_ALLOW", "syscalls": [["names": ["mkdir", "mkdirat"], "action": "SCMP_ACT_ERRNO"]]]
            $0["linux"] = linux
        }
        let filtered = shim(["run", "--bundle", filteredBundle])
        #expect(filtered.stdout == "mkdir=1\n", "\(filtered.stderr)")
        let unconfined = shim(["run", "--bundle", filteredBundle, "--seccomp", "unconfined"])
        #expect(unconfined.stdout == "mkdir=0\n", "\(unconfined.stderr)")
    }

    @Test func badRootsAndBundlesAreOneLineErrors() throws {
        let shim = Shim()
        defer { shim.cleanUp() }
        let bundle = shim.directory.appendingPathComponent("b")
        try FileManager.default.createDirectory(at: bundle, withIntermediateDirectories: true)
        try "{\"root\": ".write(to: bundle.appendingPathComponent("config.json"), atomically: true, encoding: .utf8)
        let cases: [([String], String)] = [
            (["--rootfs", "relative/dir", "--", "true"], "absolute"),
            (["--rootfs", "/nonexistent-root", "--", "true"], "No such file"),
            (["--bundle", "/nonexistent-bundle"], "No such file"),
            (["--bundle", bundle.path], "not a valid OCI config"),
            (["--bundle", bundle.path, "--rootfs", "/", "--", "true"], "cannot be combined"),
        ]
        for (arguments, message) in cases {
            let result = shim(["run"] + arguments)
            #expect(result.status == 125, "\(arguments)")
            expectOneLineError(result, contains: message)
        }
    }

    /// An ordinary user (nobody), its store under $XDG_DATA_HOME: a user namespace maps it, the
    /// workload sees its own uid, and its secret, on a tmpfs no one else sees.
    @Test func anOrdinaryUserRunsRootless() throws {
        let shim = Shim()
        defer { shim.cleanUp() }
        let home = shim.directory.appendingPathComponent("home")
        try FileManager.default.createDirectory(at: home, withIntermediateDirectories: true)
        #expect(shell("chown 65534:65534 \(home.path) && chmod 755 \(shim.directory.path)").status == 0)
        let asNobody = ["--reuid", "65534", "--regid", "65534", "--clear-groups", Shim.binary]
        let env = ["SECRETSHIM_ROOT": "", "SECRETSHIM_STATE_DIR": "", "HOME": home.path,
                   "XDG_DATA_HOME": home.path + "/data", "XDG_RUNTIME_DIR": home.path + "/runtime"]
        let created = shim(asNobody + ["secret", "create", "mine", "-"], stdin: Data("rootless-value".utf8), env: env, executable: "/usr/bin/setpriv")
        #expect(created.status == 0, "\(created.stderr)")
        #expect(FileManager.default.fileExists(atPath: home.path + "/data/secretshim/secrets.db"))
        let result = shim(asNobody + ["run", "--secret", "mine,mode=0400", "--", "sh", "-c",
                                      "id -u; cat /proc/self/uid_map | tr -s ' '; cat /run/secrets/mine; echo; stat -c '%a %u' /run/secrets/mine"],
                          env: env, executable: "/usr/bin/setpriv")
        #expect(result.status == 0, "\(result.stderr)")
        #expect(result.stdout == "65534\n 65534 65534 1\nrootless-value\n400 65534\n")
        // A rootless user's root filesystem is its own (as an unpacked image under its home).
        let root = try Self.makeRootfs(at: shim.directory)
        #expect(shell("chown -R 65534:65534 \(root)").status == 0)
        let inRoot = shim(asNobody + ["run", "--rootfs", root, "--secret", "mine", "--", "sh", "-c", "id -u; cat /run/secrets/mine"],
                          env: env.merging(["PATH": "/bin"]) { $1 }, executable: "/usr/bin/setpriv")
        #expect(inRoot.status == 0, "\(inRoot.stderr)")
        #expect(inRoot.stdout == "65534\nrootless-value")
        let foreignOwner = shim(asNobody + ["run", "--secret", "mine,uid=0,gid=5", "--", "true"], env: env, executable: "/usr/bin/setpriv")
        #expect(foreignOwner.status == 125)
        expectOneLineError(foreignOwner, contains: "rootless")
    }
}
