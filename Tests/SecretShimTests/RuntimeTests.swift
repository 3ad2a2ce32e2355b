import Foundation
import Testing

/// `secretshim runtime` in front of the real runc, driven the way engines drive it (create,
/// start, state, kill, delete; run in the foreground), with bundles made by `runc spec`.
@Suite(
    .enabled(if: Shim.isRoot && FileManager.default.fileExists(atPath: "/usr/sbin/runc"), "needs root and runc"),
    .serialized)
struct RuntimeTests {
    /// The operator's signed request for `specs` in the annotation (the specs as they are when
    /// `grant` refuses them, for the refusal tests).
    static func annotate(_ shim: Shim, _ specs: String) -> (inout [String: Any]) -> Void {
        let request = shim.signed(specs) ?? specs
        return { $0["annotations"] = ["org.secretshim.secrets": request] }
    }

    static func mounts() -> String { String(decoding: (try? FileHandle(forReadingFrom: URL(fileURLWithPath: "/proc/self/mountinfo")).readToEnd()) ?? Data(), as: UTF8.self) }

    @Test func aForegroundRunSeesItsSecretsAndLeavesNothing() throws {
        let shim = Shim()
        defer { shim.cleanUp() }
        shim.create("db", "s3cr3t-db-value")
        let bundle = try RootfsTests.makeBundle(
            in: shim.directory,
            args: ["sh", "-c", "cat /run/secrets/db; echo; stat -c '%a %u %g' /run/secrets/db /run/secrets/conf/db.txt; "
                + "grep ' /run/secrets ' /proc/self/mountinfo; echo x > /run/secrets/new || echo read-only; env"]
        ) {
            Self.annotate(shim, "db;db,target=conf/db.txt,uid=1000,gid=1000,mode=0400")(&$0)
            var process = $0["process"] as! [String: Any]
            process["env"] = (process["env"] as! [String]) + ["SECRETSHIM_SECRETS=" + shim.signed("db")!]
            $0["process"] = process
        }
        let config = try Data(contentsOf: URL(fileURLWithPath: bundle + "/config.json"))
        let result = shim(["runtime", "run", "--bundle", bundle, "fg-\(UUID().uuidString.prefix(8))"])
        #expect(result.status == 0, "\(result.stderr)")
        let lines = result.stdout.split(separator: "\n").map(String.init)
        #expect(lines.prefix(3) == ["s3cr3t-db-value", "444 0 0", "400 1000 1000"])
        #expect(lines.count > 3 && lines[3].contains(" ro,nosuid,nodev,noexec") && lines[3].contains("tmpfs"))
        #expect(lines.contains("read-only"))
        #expect(!result.stdout.contains("SECRETSHIM_SECRETS"), "the request variable reached the workload")
        #expect(Engines.leftovers(shim) == [])
        #expect(try Data(contentsOf: URL(fileURLWithPath: bundle + "/config.json")) == config, "config.json not restored")
        #expect((try? FileManager.default.contentsOfDirectory(atPath: shim.state + "/containers")) ?? [] == [])
    }

    @Test func createStartDeleteHoldsALeaseAndCleansUp() throws {
        let shim = Shim()
        defer { shim.cleanUp() }
        shim.create("api", "api-key-0123456789")
        let bundle = try RootfsTests.makeBundle(in: shim.directory, args: ["sleep", "60"], edit: Self.annotate(shim, "api,mode=0440"))
        let id = "life-\(UUID().uuidString.prefix(8))"
        // The container keeps the stdio of `create` (engines give it their own fifos).
        #expect(shim.detached(["runtime", "create", "--bundle", bundle, id]) == 0)
        defer { _ = shim(["runtime", "delete", "--force", id]) }
        #expect(shim(["runtime", "start", id]).status == 0)

        // On the host: a read-only tmpfs under a 0700 folder of the state dir, and a lease.
        let staged = shim.state + "/containers/" + id
        #expect(Self.mounts().contains(" \(staged) ") && Self.mounts().contains("- tmpfs"))
        #expect(shell("stat -c %a \(shim.state)/containers").output == "700\n")
        #expect(shell("stat -c '%a %s' \(staged)/api").output == "440 18\n")
        let state = shim(["runtime", "state", id])
        #expect(state.status == 0 && state.stdout.contains("\"status\": \"running\""), "\(state.stdout)")
        let ps = shim(["ps"])
        #expect(ps.stdout.contains(id) && ps.stdout.contains("api"), "\(ps.stdout)")
        let rm = shim(["secret", "rm", "api"])
        #expect(rm.status == 1 && rm.stderr.contains("in use"), "\(rm.stderr)")

        #expect(shim(["runtime", "kill", id, "KILL"]).status == 0)
        for _ in 0..<50 where !shim(["runtime", "state", id]).stdout.contains("stopped") { usleep(100_000) }
        #expect(shim(["runtime", "delete", id]).status == 0)
        #expect(Engines.leftovers(shim) == [])
        #expect(!FileManager.default.fileExists(atPath: staged))
        #expect(!shim(["ps"]).stdout.contains(id))
        #expect(shim(["secret", "rm", "api"]).status == 0)
    }

    @Test func aFailedCreateLeavesNothingBehind() throws {
        let shim = Shim()
        defer { shim.cleanUp() }
        shim.create("present", "present-value-42")
        // The wrapper refuses: a missing secret, a malformed spec. The error also goes to the
        // engine's log, in runc's JSON shape.
        for specs in ["present;missing", "present,mode=9999", "present,type=env"] {
            let bundle = try RootfsTests.makeBundle(in: shim.directory, args: ["true"], edit: Self.annotate(shim, specs))
            let config = try Data(contentsOf: URL(fileURLWithPath: bundle + "/config.json"))
            let log = bundle + "/log.json"
            let result = shim(["runtime", "--log", log, "--log-format", "json", "create", "--bundle", bundle, "bad-\(UUID().uuidString.prefix(8))"])
            #expect(result.status == 1)
            expectOneLineError(result)
            let logged = try JSONSerialization.jsonObject(with: Data(contentsOf: URL(fileURLWithPath: log))) as? [String: Any]
            #expect(logged?["level"] as? String == "error" && (logged?["msg"] as? String ?? "").hasPrefix("secretshim: "))
            #expect(try Data(contentsOf: URL(fileURLWithPath: bundle + "/config.json")) == config)
        }
        // runc itself fails after the tmpfs was made (no such command in the root).
        let bundle = try RootfsTests.makeBundle(in: shim.directory, args: ["/no/such/command"], edit: Self.annotate(shim, "present"))
        let config = try Data(contentsOf: URL(fileURLWithPath: bundle + "/config.json"))
        let id = "fail-\(UUID().uuidString.prefix(8))"
        let result = shim(["runtime", "run", "--bundle", bundle, id])
        #expect(result.status != 0)
        _ = shim(["runtime", "delete", "--force", id])
        #expect(try Data(contentsOf: URL(fileURLWithPath: bundle + "/config.json")) == config)
        #expect(Engines.leftovers(shim) == [])
        #expect((try? FileManager.default.contentsOfDirectory(atPath: shim.state + "/containers")) ?? [] == [])
        #expect(!shim(["ps"]).stdout.contains(id))
    }

    @Test func aContainerWithoutSecretsPassesThroughUntouched() throws {
        let shim = Shim()
        defer { shim.cleanUp() }
        let bundle = try RootfsTests.makeBundle(in: shim.directory, args: ["sh", "-c", "grep -c ' /run/secrets ' /proc/self/mountinfo"])
        let config = try Data(contentsOf: URL(fileURLWithPath: bundle + "/config.json"))
        let result = shim(["runtime", "run", "--bundle", bundle, "plain-\(UUID().uuidString.prefix(8))"])
        #expect(result.stdout == "0\n", "\(result.stderr)")
        #expect(try Data(contentsOf: URL(fileURLWithPath: bundle + "/config.json")) == config)
        #expect(!FileManager.default.fileExists(atPath: shim.state + "/containers"))
        // Whatever the wrapper does not handle is the runtime's, output and status alike. A
        // runc root of this test's own: other suites make containers in the default one
        // meanwhile. runc's log lines carry the time of day, which two calls need not share.
        let runcRoot = shim.directory.appendingPathComponent("runc-root").path
        func untimed(_ text: String) -> String {
            text.replacingOccurrences(of: #"time="[^"]*" "#, with: "", options: .regularExpression)
        }
        for arguments in [["--version"], ["features"], ["--root", runcRoot, "state", "no-such-container"], ["--root", runcRoot, "list"]] {
            let direct = shell("runc " + arguments.joined(separator: " "))
            let wrapped = shim(["runtime"] + arguments)
            #expect(wrapped.status == direct.status, "\(arguments)")
            #expect(untimed(wrapped.stdout + wrapped.stderr) == untimed(direct.output), "\(arguments)")
        }
        // The `secretshim-runtime` link is the same runtime.
        let link = shim.directory.appendingPathComponent("secretshim-runtime").path
        try FileManager.default.createSymbolicLink(atPath: link, withDestinationPath: Shim.binary)
        #expect(shim(["--version"], executable: link).stdout == shell("runc --version").output)
    }

    /// Docker's quoting reaches containers too: a signed request (`grant`) and the runtime's
    /// own `--secretshim-grant` each give a file at a target holding a comma.
    @Test func quotedSpecsReachTheContainer() throws {
        let shim = Shim()
        defer { shim.cleanUp() }
        shim.create("db", "quoted-db-value")
        shim.create("tls", "quoted-tls-value")
        let bundle = try RootfsTests.makeBundle(
            in: shim.directory, args: ["sh", "-c", "cat '/run/secrets/conf/a,b'; echo; cat '/run/secrets/say \"hi\",x'"]
        ) { Self.annotate(shim, #"db,"target=conf/a,b",mode=0400"#)(&$0) }
        let result = shim([
            "runtime", "--secretshim-grant", #""source=tls","target=say ""hi"",x""#, "run", "--bundle", bundle,
            "quoted-\(UUID().uuidString.prefix(8))",
        ])
        #expect(result.status == 0, "\(result.stderr)")
        #expect(result.stdout == "quoted-db-value\nquoted-tls-value")
        #expect(Engines.leftovers(shim) == [])
    }

    @Test func ownersAreMappedThroughTheContainersUserNamespace() throws {
        let shim = Shim()
        defer { shim.cleanUp() }
        shim.create("mapped", "mapped-value-77")
        let bundle = try RootfsTests.makeBundle(in: shim.directory, args: ["sleep", "60"]) {
            Self.annotate(shim, "mapped,uid=5,gid=6,mode=0400;mapped,target=dir/m")(&$0)
            var linux = $0["linux"] as! [String: Any]
            var namespaces = linux["namespaces"] as! [[String: Any]]
            namespaces.append(["type": "user"])
            linux["namespaces"] = namespaces
            linux["uidMappings"] = [["containerID": 0, "hostID": 100000, "size": 65536]]
            linux["gidMappings"] = [["containerID": 0, "hostID": 200000, "size": 65536]]
            $0["linux"] = linux
        }
        // The root belongs to the container's root, as with any user-namespaced container.
        #expect(shell("chown -R 100000:200000 \(bundle)/rootfs").status == 0)
        let id = "userns-\(UUID().uuidString.prefix(8))"
        #expect(shim.detached(["runtime", "create", "--bundle", bundle, id]) == 0)
        defer { _ = shim(["runtime", "delete", "--force", id]) }
        let staged = shim.state + "/containers/" + id
        #expect(shell("stat -c '%u %g %a' \(staged) \(staged)/mapped \(staged)/dir \(staged)/dir/m").output
            == "100000 200000 755\n100005 200006 400\n100000 200000 755\n100000 200000 444\n")
        // A uid the namespace does not map is refused.
        let unmapped = try RootfsTests.makeBundle(in: shim.directory, args: ["true"]) {
            Self.annotate(shim, "mapped,uid=70000")(&$0)
            var linux = $0["linux"] as! [String: Any]
            linux["namespaces"] = (linux["namespaces"] as! [[String: Any]]) + [["type": "user"]]
            linux["uidMappings"] = [["containerID": 0, "hostID": 100000, "size": 65536]]
            linux["gidMappings"] = [["containerID": 0, "hostID": 100000, "size": 65536]]
            $0["linux"] = linux
        }
        let refused = shim(["runtime", "create", "--bundle", unmapped, "unmapped-\(UUID().uuidString.prefix(8))"])
        #expect(refused.status == 1)
        expectOneLineError(refused, contains: "uid 70000 is not mapped")
    }
}
