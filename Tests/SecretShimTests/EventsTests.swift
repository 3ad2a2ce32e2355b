import Foundation
import Testing

/// `secretshim events`: the audit log in Docker's event shape, written by the real commands
/// (create, run, a refused rm, rm, an environment-leak refusal, update, the runtime wrapper),
/// its filters, times and formats, `--follow`, rotation, concurrent writers, and that no value
/// ever reaches it.
@Suite(.enabled(if: Shim.isRoot, "needs root"), .serialized)
struct EventsTests {
    static func events(_ shim: Shim, _ arguments: [String] = [], env: [String: String] = [:]) -> [[String: Any]] {
        let result = shim(["events", "--format", "json"] + arguments, env: env)
        #expect(result.status == 0, "\(result.stderr)")
        return result.stdout.split(separator: "\n").compactMap {
            try? JSONSerialization.jsonObject(with: Data($0.utf8)) as? [String: Any]
        }
    }

    static func summary(_ event: [String: Any]) -> String {
        let actor = event["Actor"] as? [String: Any] ?? [:]
        let attributes = actor["Attributes"] as? [String: String] ?? [:]
        return "\(event["Type"] ?? "") \(event["Action"] ?? "") \(attributes["name"] ?? "")"
    }

    @Test func aCreateRunRefusedRemovalRemovalAndLeakSequence() throws {
        let shim = Shim()
        defer { shim.cleanUp() }
        let value = "audit-value-\(UUID().uuidString)"
        let id = shim.create("db", value)
        // A workload that holds it while a removal is tried.
        let holder = Process()
        holder.executableURL = URL(fileURLWithPath: Shim.binary)
        holder.arguments = ["run", "--name", "holder", "--secret", "db,mode=0400", "--", "sleep", "30"]
        holder.environment = shim.environment
        try holder.run()
        defer { if holder.isRunning { holder.terminate() } }
        #expect(waitFor { shim(["ps"]).stdout.contains("holder") })
        let refused = shim(["secret", "rm", "db"])
        #expect(refused.status == 1)
        kill(holder.processIdentifier, SIGKILL)
        holder.waitUntilExit()
        // The leak: the value in the environment.
        let leak = shim(["run", "--name", "leaky", "--secret", "db", "--", "true"], env: ["LEAKED": value])
        #expect(leak.status == 125)
        // A variable whose name holds the value too is not named (a fresh-eyes finding).
        let word = "HIDDEN_\(UInt32.random(in: 100_000...999_999))_VALUE"
        shim.create("word", word)
        let named = shim(["run", "--name", "leaky2", "--secret", "word", "--", "true"], env: ["X\(word)": "x\(word)"])
        #expect(named.status == 125 && !named.stderr.contains(word), "\(named.stderr)")
        // A grant whose workload then fails to start is revoked.
        #expect(shim(["run", "--name", "noexec", "--secret", "db", "--", "/nonexistent-command"]).status == 127)
        // Refusals before any grant: a missing secret, and secrets that do not fit the tmpfs asked for.
        #expect(shim(["run", "--name", "missing", "--secret", "nosuch", "--", "true"]).status == 125)
        #expect(shim(["run", "--name", "small", "--secret", "db", "--tmpfs-size", "4", "--", "true"]).status == 125)
        #expect(shim(["secret", "rm", "db"]).status == 0)

        let events = Self.events(shim)
        #expect(events.map(Self.summary) == [
            "secret create db", "workload grant holder", "secret refuse db", "workload revoke holder", "workload refuse leaky",
            "secret create word", "workload refuse leaky2", "workload grant noexec", "workload revoke noexec",
            "workload refuse missing", "workload refuse small", "secret remove db",
        ], "\(events)")
        // Docker's shape.
        for event in events {
            #expect(Set(event.keys) == ["Type", "Action", "Actor", "scope", "time", "timeNano"], "\(event)")
            let nano = event["timeNano"] as? Int64 ?? 0, seconds = event["time"] as? Int64 ?? -1
            #expect(nano / 1_000_000_000 == seconds && event["scope"] as? String == "local")
        }
        let grant = (events[1]["Actor"] as! [String: Any])
        let attributes = grant["Attributes"] as! [String: String]
        #expect(attributes["secrets"] == "db" && attributes["secretIDs"] == id && attributes["uid"] == "0" && attributes["pid"] != nil)
        #expect(((events[0]["Actor"] as! [String: Any])["ID"] as? String) == id)
        let refusal = ((events[2]["Actor"] as! [String: Any])["Attributes"] as! [String: String])["reason"] ?? ""
        #expect(refusal.contains("in use"), "\(refusal)")
        let leakReason = ((events[4]["Actor"] as! [String: Any])["Attributes"] as! [String: String])["reason"] ?? ""
        let noStart = ((events[8]["Actor"] as! [String: Any])["Attributes"] as! [String: String])["reason"] ?? ""
        #expect(noStart == "the workload did not start", "\(noStart)")
        #expect(leakReason.contains("LEAKED"), "\(leakReason)")
        let missing = ((events[9]["Actor"] as! [String: Any])["Attributes"] as! [String: String])["reason"] ?? ""
        let small = ((events[10]["Actor"] as! [String: Any])["Attributes"] as! [String: String])["reason"] ?? ""
        #expect(missing.contains("nosuch") && small.contains("too small"), "\(missing) / \(small)")
        // No value anywhere in the log, which is owner-only.
        let log = try Data(contentsOf: URL(fileURLWithPath: shim.root + "/events.log"))
        #expect(!String(decoding: log, as: UTF8.self).contains(value) && !String(decoding: log, as: UTF8.self).contains(word))
        #expect(shell("stat -c %a '\(shim.root)/events.log'").output == "600\n")
        // Docker's default line.
        let text = shim(["events", "--filter", "action=create", "--filter", "name=db"])
        #expect(text.stdout.hasSuffix(" secret create \(id) (name=db)\n"), "\(text.stdout)")
    }

    @Test func filtersTimesAndTemplates() throws {
        let shim = Shim()
        defer { shim.cleanUp() }
        shim.create("one", "v1")
        let middle = Date().timeIntervalSince1970
        usleep(50_000)
        shim.create("two", "v2")
        #expect(shim(["secret", "rm", "one"]).status == 0)
        #expect(Self.events(shim, ["--filter", "type=secret", "--filter", "action=remove"]).map(Self.summary) == ["secret remove one"])
        #expect(Self.events(shim, ["--filter", "action=create", "--filter", "action=remove"]).count == 3)
        #expect(Self.events(shim, ["--filter", "name=two"]).map(Self.summary) == ["secret create two"])
        #expect(Self.events(shim, ["--filter", "type=workload"]).isEmpty)
        #expect(Self.events(shim, ["--since", String(format: "%.3f", middle)]).map(Self.summary) == ["secret create two", "secret remove one"])
        #expect(Self.events(shim, ["--until", String(format: "%.3f", middle)]).map(Self.summary) == ["secret create one"])
        #expect(Self.events(shim, ["--since", "10m"]).count == 3)
        #expect(Self.events(shim, ["--until", "10m"]).isEmpty)
        #expect(Self.events(shim, ["--since", "2000-01-01T00:00:00Z", "--until", "2099-01-01"]).count == 3)
        #expect(Self.events(shim, ["--since", "2099-01-01T00:00:00.5+02:00"]).isEmpty)
        let template = shim(["events", "--format", "{{.Type}}/{{.Action}}/{{.Actor.Attributes.name}}", "--filter", "name=one"])
        #expect(template.stdout == "secret/create/one\nsecret/remove/one\n", "\(template.stdout)")
        // Missing attributes are empty, as Docker prints them: one template for every event.
        let any = shim(["events", "--format", "{{.Action}}:{{.Actor.Attributes.secrets}}"])
        #expect(any.status == 0 && any.stdout == "create:\ncreate:\nremove:\n", "\(any.stdout) \(any.stderr)")
        // Times beyond what nanoseconds hold, impossible dates (fresh-eyes findings: overflows
        // crashed it) are usage errors.
        for bad in [["--since", "yesterday"], ["--until", "2026-13-01"], ["--filter", "colour=red"], ["--filter", "type=volume"],
                    ["--filter", "action=die"], ["--filter", "noequals"], ["--format", "{{.Nope"], ["--since", "10x"],
                    ["--since", "9999999999"], ["--until", "999999999999.5"], ["--since", "2562047h2562047h"], ["--since", "0000-01-01"],
                    ["--since", "9999-12-31T23:59:59+23:59"], ["--since", "2026-02-31"], ["--since", "2026-01-01T00:00:60Z"]] {
            let result = shim(["events"] + bad)
            #expect(result.status == 2, "\(bad): \(result.status)")
            expectOneLineError(result)
            #expect(result.stdout.isEmpty)
        }
    }

    @Test func followPrintsNewEventsAsTheyAreWritten() throws {
        let shim = Shim()
        defer { shim.cleanUp() }
        shim.create("before", "v")
        let output = shim.directory.appendingPathComponent("follow.out")
        FileManager.default.createFile(atPath: output.path, contents: nil)
        let follower = Process()
        follower.executableURL = URL(fileURLWithPath: Shim.binary)
        follower.arguments = ["events", "--follow", "--filter", "type=secret", "--until", String(Int(Date().timeIntervalSince1970) + 60)]
        follower.environment = shim.environment
        follower.standardOutput = try FileHandle(forWritingTo: output)
        try follower.run()
        defer { if follower.isRunning { follower.terminate() } }
        #expect(waitFor { ((try? String(contentsOf: output, encoding: .utf8)) ?? "").contains("(name=before)") })
        shim.create("after", "v")
        #expect(waitFor { ((try? String(contentsOf: output, encoding: .utf8)) ?? "").contains("(name=after)") }, "--follow missed a new event")
        follower.terminate()
        follower.waitUntilExit()
    }

    /// Past the limit, the log is rotated to events.log.1 (one kept): both are read, the
    /// oldest dropped; every line stays whole under 8 concurrent writers.
    @Test func rotationAndConcurrentWritersKeepWholeLines() throws {
        let shim = Shim()
        defer { shim.cleanUp() }
        let env = ["SECRETSHIM_EVENTS_LIMIT": "4096"]
        DispatchQueue.concurrentPerform(iterations: 8) { worker in
            for index in 0..<10 {
                _ = shim(["secret", "create", "w\(worker)-\(index)", "-"], stdin: Data("v".utf8), env: env)
            }
        }
        let current = try Data(contentsOf: URL(fileURLWithPath: shim.root + "/events.log"))
        let rotated = try Data(contentsOf: URL(fileURLWithPath: shim.root + "/events.log.1"))
        #expect(current.count <= 4096 && rotated.count <= 4096 + 300, "\(current.count) \(rotated.count)")
        for line in (String(decoding: rotated + current, as: UTF8.self)).split(separator: "\n") {
            #expect((try? JSONSerialization.jsonObject(with: Data(line.utf8))) != nil, "a torn line: \(line)")
        }
        let shown = Self.events(shim)
        #expect(shown.count > 20 && shown.count < 80, "\(shown.count)")
        let names = shown.map(Self.summary)
        #expect(names.last?.hasPrefix("secret create w") == true)
        // A line cut short (a power loss mid-write) is skipped, and the next one stays whole.
        let handle = try FileHandle(forWritingTo: URL(fileURLWithPath: shim.root + "/events.log"))
        handle.seekToEndOfFile()
        handle.write(Data("{\"Type\":\"secr".utf8))
        try handle.close()
        shim.create("after-cut", "v")
        #expect(Self.events(shim).map(Self.summary).last == "secret create after-cut")
    }

    /// update's grant and revoke, and a container's through the runtime wrapper.
    @Test(.enabled(if: FileManager.default.fileExists(atPath: "/usr/sbin/runc") && FileManager.default.fileExists(atPath: "/bin/busybox"), "needs runc and busybox"))
    func updateAndContainersAreAudited() throws {
        let shim = Shim()
        defer { shim.cleanUp() }
        shim.create("a", "va")
        shim.create("b", "vb")
        let workload = Process()
        workload.executableURL = URL(fileURLWithPath: Shim.binary)
        workload.arguments = ["run", "--name", "upd", "--secret", "a", "--", "sleep", "30"]
        workload.environment = shim.environment
        try workload.run()
        defer { if workload.isRunning { workload.terminate() } }
        #expect(waitFor { shim(["ps"]).stdout.contains("upd") })
        let updated = shim(["update", "--secret-rm", "a", "--secret-add", "b", "upd"])
        #expect(updated.status == 0, "\(updated.stderr)")
        let bundle = try RootfsTests.makeBundle(in: shim.directory, args: ["cat", "/run/secrets/b"], edit: RuntimeTests.annotate(shim, "b"))
        let id = "audit-\(UUID().uuidString.prefix(8).lowercased())"
        #expect(shim(["runtime", "run", "--bundle", bundle, id]).status == 0)
        let summaries = Self.events(shim, ["--filter", "type=workload"]).map {
            let attributes = (($0["Actor"] as? [String: Any])?["Attributes"] as? [String: String]) ?? [:]
            return "\($0["Action"] ?? "") \(attributes["name"] ?? "") \(attributes["secrets"] ?? "")"
        }
        #expect(summaries == ["grant upd a", "grant upd b", "revoke upd a", "grant \(id.prefix(12)) b", "revoke \(id.prefix(12)) b"], "\(summaries)")
    }

    func waitFor(_ condition: () -> Bool) -> Bool {
        for _ in 0..<100 {
            if condition() { return true }
            usleep(100_000)
        }
        return false
    }
}
