import Foundation
import Testing

/// Absolute targets outside the secrets dir (Docker's nginx example's
/// `target=/etc/nginx/conf.d/site.conf`, the Compose specification's absolute `target`): a
/// read-only bind of the file from a private tmpfs over that path, made in the workload's own
/// mount namespace, for `run`, `--rootfs`, `--bundle` and the runtime wrapper in front of the
/// real runc.
@Suite(.enabled(if: Shim.isRoot && FileManager.default.fileExists(atPath: "/bin/busybox"), "needs root and busybox-static"))
struct OutsideTargetTests {
    @Test func onTheHostsTreeAnExistingFileIsCoveredForTheWorkloadAlone() throws {
        let shim = Shim()
        defer { shim.cleanUp() }
        shim.create("site", "server { listen 8443; }")
        shim.create("pw", "inside-value")
        let conf = shim.directory.appendingPathComponent("conf.d")
        try FileManager.default.createDirectory(at: conf, withIntermediateDirectories: true)
        let site = conf.appendingPathComponent("site.conf").path
        try "host's own\n".write(toFile: site, atomically: true, encoding: .utf8)
        let before = RootfsTests.hostMountTable(keeping: shim.directory)
        let result = shim([
            "run", "--secret", "site,target=\(site),mode=0440,uid=33,gid=33,env=SITE_FILE", "--secret", "pw", "--",
            "sh", "-c",
            "cat \"$SITE_FILE\"; echo; echo \"$SITE_FILE\"; stat -c '%a %u %g' \(site); ls /run/secrets; "
                + "echo x > \(site) 2>/dev/null || echo read-only; grep ' \(site) ' /proc/self/mountinfo",
        ])
        #expect(result.status == 0, "\(result.stderr)")
        let lines = result.stdout.split(separator: "\n").map(String.init)
        #expect(lines.prefix(6) == ["server { listen 8443; }", site, "440 33 33", "pw", "read-only", lines.count > 5 ? lines[5] : ""])
        #expect(lines.count > 5 && lines[5].contains(" ro,nosuid,nodev,noexec") && lines[5].contains("tmpfs"), "\(lines)")
        // The host's file and mount table are as they were.
        #expect(try String(contentsOfFile: site, encoding: .utf8) == "host's own\n")
        #expect(RootfsTests.hostMountTable(keeping: shim.directory) == before)
    }

    @Test func whatCannotBePlacedIsRefusedInOneLine() throws {
        let shim = Shim()
        defer { shim.cleanUp() }
        shim.create("site", "v")
        let folder = shim.directory.path
        try "x".write(toFile: folder + "/plain", atomically: true, encoding: .utf8)
        let cases: [(String, String)] = [
            // In the host's tree no file is made: the target must exist.
            ("site,target=\(folder)/absent", "does not exist"),
            ("site,target=\(folder)/no-such-folder/x", "does not exist in the workload's root"),
            ("site,target=\(folder)/plain/x", "is not a folder"),
            ("site,target=\(folder)", "is a folder"),
        ]
        for (spec, fragment) in cases {
            let result = shim(["run", "--secret", spec, "--", "true"])
            #expect(result.status == 125, "\(spec)")
            expectOneLineError(result, contains: fragment)
        }
        // A folder that leads into the secrets dir through a link: the tmpfs would cover the
        // file, and its env=VAR would name another secret's (a fresh-eyes finding).
        shim.create("other", "other-value")
        try FileManager.default.createDirectory(atPath: folder + "/sd", withIntermediateDirectories: true)
        try FileManager.default.createSymbolicLink(atPath: folder + "/sdlink", withDestinationPath: "sd")
        FileManager.default.createFile(atPath: folder + "/sd/x", contents: nil)
        let linked = shim(["run", "--secrets-dir", folder + "/sd", "--secret", "site,target=\(folder)/sdlink/x,env=S", "--secret", "other,target=x", "--", "true"])
        #expect(linked.status == 125)
        expectOneLineError(linked, contains: "leads into the secrets dir through a link")
        let spelled = shim(["run", "--secrets-dir", folder + "/sd", "--secret", "site,target=/\(folder)/./sd/x", "--secret", "other,target=x", "--", "true"])
        #expect(spelled.status == 125)
        expectOneLineError(spelled, contains: "two secrets have the same target 'x'")
        #expect(!FileManager.default.fileExists(atPath: folder + "/absent"), "a mount point was made on the host")
        #expect(!FileManager.default.fileExists(atPath: folder + "/no-such-folder"))
        // An update cannot change it in place: refused, nothing changed.
    }

    @Test func inARootfsTheMountPointIsMadeInsideTheRoot() throws {
        let shim = Shim()
        defer { shim.cleanUp() }
        shim.create("site", "inside-the-root")
        let root = try RootfsTests.makeRootfs(at: shim.directory)
        try FileManager.default.createDirectory(atPath: root + "/etc/app", withIntermediateDirectories: true)
        // A link in the root to the host's /etc: resolved inside the root (its own /etc).
        try FileManager.default.createSymbolicLink(atPath: root + "/etc/linked", withDestinationPath: "/etc")
        let before = RootfsTests.hostMountTable(keeping: shim.directory)
        let result = shim(
            ["run", "--rootfs", root, "--secret", "site,target=/etc/app/site.conf,mode=0400,uid=app",
             "--secret", "site,target=/etc/linked/hostname-like", "--", "sh", "-c",
             "cat /etc/app/site.conf; echo; stat -c '%a %u' /etc/app/site.conf; cat /etc/hostname-like; echo; ls /run/secrets | wc -l"],
            env: RootfsTests.env)
        #expect(result.status == 0, "\(result.stderr)")
        #expect(result.stdout == "inside-the-root\n400 1000\ninside-the-root\n0\n", "\(result.stdout)")
        // Mount points made inside the root, empty, as runc makes them; none on the host.
        #expect(try Data(contentsOf: URL(fileURLWithPath: root + "/etc/app/site.conf")).isEmpty)
        #expect(FileManager.default.fileExists(atPath: root + "/etc/hostname-like"))
        #expect(!FileManager.default.fileExists(atPath: "/etc/hostname-like"))
        #expect(RootfsTests.hostMountTable(keeping: shim.directory) == before)
        try FileManager.default.createDirectory(atPath: root + "/var", withIntermediateDirectories: true)
        try FileManager.default.createSymbolicLink(atPath: root + "/var/run", withDestinationPath: "../run")
        let linked = shim(["run", "--rootfs", root, "--secret", "site,target=/var/run/secrets/app.conf", "--", "true"], env: RootfsTests.env)
        #expect(linked.status == 125)
        expectOneLineError(linked, contains: "leads into the secrets dir through a link")
        let missing = shim(["run", "--rootfs", root, "--secret", "site,target=/opt/app/x", "--", "true"], env: RootfsTests.env)
        #expect(missing.status == 125)
        expectOneLineError(missing, contains: "folder \(root)/opt/app does not exist")
        #expect(!FileManager.default.fileExists(atPath: root + "/opt"))
        // A file where a folder is wanted, and a folder where the file would go.
        for (spec, fragment) in [("site,target=/etc/app/site.conf/x", "is not a folder in the workload's root"),
                                 ("site,target=/etc/app", "is a folder")] {
            let refused = shim(["run", "--rootfs", root, "--secret", spec, "--", "true"], env: RootfsTests.env)
            #expect(refused.status == 125, "\(spec)")
            expectOneLineError(refused, contains: fragment)
        }
        #expect(RootfsTests.hostMountTable(keeping: shim.directory) == before)
    }

    @Test(.enabled(if: FileManager.default.fileExists(atPath: "/usr/sbin/runc"), "needs runc"))
    func aBundleAndTheRuntimeWrapperPlaceItToo() throws {
        let shim = Shim()
        defer { shim.cleanUp() }
        shim.create("site", "for-the-container")
        // --bundle: the bundle's own root.
        let bundle = try RootfsTests.makeBundle(
            in: shim.directory, args: ["sh", "-c", "cat /etc/site.conf; echo; stat -c %a /etc/site.conf"])
        let run = shim(["run", "--bundle", bundle, "--secret", "site,target=/etc/site.conf,mode=0400"])
        #expect(run.status == 0 && run.stdout == "for-the-container\n400\n", "\(run.stdout) \(run.stderr)")
        // A folder the bundle's root lacks: refused in one line, no folder made in it.
        let bundleMissing = shim(["run", "--bundle", bundle, "--secret", "site,target=/opt/app/site.conf"])
        #expect(bundleMissing.status == 125)
        expectOneLineError(bundleMissing, contains: "/opt/app does not exist")
        #expect(!FileManager.default.fileExists(atPath: bundle + "/rootfs/opt/app"))

        // The runtime wrapper: runc binds the file from a tmpfs under the state dir; delete
        // removes it with the rest.
        let wrapped = try RootfsTests.makeBundle(
            in: shim.directory,
            args: ["sh", "-c", "cat /etc/site.conf; echo; stat -c '%a %u' /etc/site.conf; ls /run/secrets; grep -c ' /etc/site.conf ' /proc/self/mountinfo"],
            edit: RuntimeTests.annotate(shim, "site,target=/etc/site.conf,mode=0440,uid=1000;site"))
        let config = try Data(contentsOf: URL(fileURLWithPath: wrapped + "/config.json"))
        let result = shim(["runtime", "run", "--bundle", wrapped, "out-\(UUID().uuidString.prefix(8))"])
        #expect(result.status == 0, "\(result.stderr)")
        #expect(result.stdout == "for-the-container\n440 1000\nsite\n1\n", "\(result.stdout)")
        #expect(Engines.leftovers(shim) == [])
        #expect(try Data(contentsOf: URL(fileURLWithPath: wrapped + "/config.json")) == config, "config.json not restored")

        // A folder that leads into /run/secrets through a link is refused too.
        let linking = try RootfsTests.makeBundle(in: shim.directory, args: ["true"], edit: RuntimeTests.annotate(shim, "site,target=/var/run/secrets/x"))
        try FileManager.default.createDirectory(atPath: linking + "/rootfs/var", withIntermediateDirectories: true)
        try FileManager.default.createDirectory(atPath: linking + "/rootfs/run/secrets", withIntermediateDirectories: true)
        try FileManager.default.createSymbolicLink(atPath: linking + "/rootfs/var/run", withDestinationPath: "/run")
        let intoSecrets = shim(["runtime", "run", "--bundle", linking, "link-\(UUID().uuidString.prefix(8))"])
        #expect(intoSecrets.status != 0)
        expectOneLineError(intoSecrets, contains: "leads into /run/secrets through a link")
        #expect(Engines.leftovers(shim) == [])

        // A folder the image lacks is refused at create, in one line, leaving nothing.
        let lacking = try RootfsTests.makeBundle(in: shim.directory, args: ["true"], edit: RuntimeTests.annotate(shim, "site,target=/opt/app/site.conf"))
        let refused = shim(["runtime", "run", "--bundle", lacking, "lack-\(UUID().uuidString.prefix(8))"])
        #expect(refused.status != 0)
        expectOneLineError(refused, contains: "folder /opt/app does not exist in the container's root")
        #expect(Engines.leftovers(shim) == [])
    }
}
