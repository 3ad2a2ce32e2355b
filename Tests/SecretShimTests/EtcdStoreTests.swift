import Foundation
import Testing

/// The etcd store (SPEC.md "Several nodes") against a real 3-member etcd cluster on loopback
/// with mutual TLS, started by the tests; two "nodes" are two roots and state dirs on this
/// machine, each with its own `secretshim node` agent.
@Suite(.serialized) struct EtcdStoreTests {
    /// Two nodes on a fresh prefix of `cluster`, sharing a key file kept beside them.
    static func nodes(_ cluster: EtcdCluster, agents: Bool = true) -> (a: EtcdNode, b: EtcdNode, keyDirectory: String) {
        let prefix = "t" + UUID().uuidString.prefix(8).lowercased()
        let keyDirectory = NSTemporaryDirectory() + "/secretshim-etcd-key-\(prefix)"
        try! FileManager.default.createDirectory(atPath: keyDirectory, withIntermediateDirectories: true, attributes: [.posixPermissions: 0o700])
        let key = keyDirectory + "/master.key"
        let a = EtcdNode("node-a", cluster: cluster, prefix: prefix, keyFile: key)
        let b = EtcdNode("node-b", cluster: cluster, prefix: prefix, keyFile: key)
        if agents {
            a.startAgent()
            b.startAgent()
        }
        return (a, b, keyDirectory)
    }

    /// `key rotate` on the cluster (#23): prepared on node a and copied to node b as
    /// `master.key.next`, the rotation commits in one transaction; b adopts the new key by
    /// itself, a third node without it refuses in one line until it gets the key, a workload
    /// started before keeps its file, and etcd holds only the new ciphertext.
    @Test func theClustersKeyRotatesAndNodesGivenTheNextKeyAdoptIt() throws {
        guard Shim.isRoot, let cluster = EtcdCluster() else { return }
        defer { cluster.shutDown() }
        let prefix = "r" + UUID().uuidString.prefix(8).lowercased()
        var nodes: [EtcdNode] = []
        var keyFiles: [String] = []
        for name in ["node-a", "node-b", "node-c"] {
            let folder = NSTemporaryDirectory() + "/secretshim-etcd-key-\(prefix)-\(name)"
            try FileManager.default.createDirectory(atPath: folder, withIntermediateDirectories: true, attributes: [.posixPermissions: 0o700])
            keyFiles.append(folder + "/master.key")
            nodes.append(EtcdNode(name, cluster: cluster, prefix: prefix, keyFile: folder + "/master.key"))
        }
        let (a, b, c) = (nodes[0], nodes[1], nodes[2])
        for node in nodes { node.startAgent() }
        defer {
            for node in nodes { node.cleanUp() }
            for file in keyFiles { try? FileManager.default.removeItem(atPath: (file as NSString).deletingLastPathComponent) }
        }
        let values = (0..<4).map { "rotated-\($0)-\(UUID().uuidString)" }
        for (index, value) in values.enumerated() {
            #expect(a(["secret", "create", "s\(index)", "-"], stdin: Data(value.utf8)).status == 0)
        }
        let oldKey = try Data(contentsOf: URL(fileURLWithPath: keyFiles[0]))
        for file in keyFiles.dropFirst() { FileManager.default.createFile(atPath: file, contents: oldKey, attributes: [.posixPermissions: 0o400]) }
        let before = cluster.etcdctl("get --prefix /\(prefix)/names/ --print-value-only").output

        let output = a.shim.directory.path + "/seen", flag = a.shim.directory.path + "/running"
        FileManager.default.createFile(atPath: flag, contents: nil)
        let workload = a.shim.detachedProcess(
            ["run", "--name", "steady", "--secret", "s0", "--", "/bin/sh", "-c", "while [ -e \(flag) ]; do sleep 0.05; done; cat /run/secrets/s0 > \(output)"],
            env: a.environment)
        #expect(eventually(10) { a(["ps"]).stdout.contains("steady") })

        let prepared = a(["key", "rotate", "--prepare"])
        #expect(prepared.status == 0, "\(prepared.stderr)")
        let next = try Data(contentsOf: URL(fileURLWithPath: keyFiles[0] + ".next"))
        FileManager.default.createFile(atPath: keyFiles[1] + ".next", contents: next, attributes: [.posixPermissions: 0o400])
        let rotated = a(["key", "rotate"])
        #expect(rotated.status == 0, "\(rotated.stderr)")
        #expect(rotated.stdout.contains("re-sealed 4 secrets") && rotated.stdout.contains("every other node needs the new key"))
        #expect(try Data(contentsOf: URL(fileURLWithPath: keyFiles[0])) == next)

        // Node b, given the prepared key, rotates too (an operator's retry, or two at once): it
        // finds the cluster already under its next key and adopts it, and rotates no further
        // (a fresh-eyes finding: it went on to a key of its own).
        let again = b(["key", "rotate"])
        #expect(again.status == 0, "\(again.stderr)")
        #expect(try Data(contentsOf: URL(fileURLWithPath: keyFiles[1])) == next)
        #expect(a(["secret", "ls"]).status == 0, "node a was locked out by node b's rotation")
        // Node b adopted the key it was given; node c, without it, refuses until it gets it.
        let onB = b(["run", "--secret", "s3", "--", "/bin/cat", "/run/secrets/s3"])
        #expect(onB.status == 0 && onB.stdout == values[3], "\(onB.stderr)")
        #expect(try Data(contentsOf: URL(fileURLWithPath: keyFiles[1])) == next)
        let onC = c(["secret", "ls"])
        #expect(onC.status == 1)
        expectOneLineError(onC, contains: "is not the key of the store at etcd://")
        try FileManager.default.removeItem(atPath: keyFiles[2])
        FileManager.default.createFile(atPath: keyFiles[2], contents: next, attributes: [.posixPermissions: 0o400])
        #expect(c(["run", "--secret", "s1", "--", "/bin/cat", "/run/secrets/s1"]).stdout == values[1])

        try FileManager.default.removeItem(atPath: flag)
        workload.waitUntilExit()
        #expect((try? String(contentsOfFile: output, encoding: .utf8)) == values[0], "the running workload kept its file")
        // Every sealed value in etcd changed, and none is readable.
        let after = cluster.etcdctl("get --prefix /\(prefix)/names/ --print-value-only").output
        #expect(before.contains("Sealed") && after.split(separator: "\n").count == 4, "\(after)")
        #expect(Set(after.split(separator: "\n")).isDisjoint(with: before.split(separator: "\n")))
        for value in values { #expect(!after.contains(value)) }
    }

    /// A rotation larger than one etcd transaction may be (`--max-txn-ops`, here 4) is refused
    /// in one line naming the setting, and nothing changes: not etcd, not the key file.
    @Test func aRotationBeyondEtcdsTransactionLimitChangesNothing() throws {
        guard Shim.isRoot, let cluster = EtcdCluster(settings: "ETCD_MAX_TXN_OPS=4") else { return }
        defer { cluster.shutDown() }
        let (a, b, keys) = Self.nodes(cluster, agents: false)
        defer { a.cleanUp(); b.cleanUp(); try? FileManager.default.removeItem(atPath: keys) }
        for index in 0..<5 { #expect(a(["secret", "create", "s\(index)", "-"], stdin: Data("v\(index)".utf8)).status == 0) }
        let keyFile = keys + "/master.key"
        let key = try Data(contentsOf: URL(fileURLWithPath: keyFile))
        let before = cluster.etcdctl("get --prefix / --print-value-only").output
        let refused = a(["key", "rotate"])
        #expect(refused.status == 1)
        expectOneLineError(refused, contains: "--max-txn-ops")
        #expect(try Data(contentsOf: URL(fileURLWithPath: keyFile)) == key)
        #expect(cluster.etcdctl("get --prefix / --print-value-only").output == before)
        #expect(b(["secret", "ls"]).status == 0)
    }

    @Test func createOnOneNodeListAndRunOnTheOtherWithOnlyCiphertextInEtcd() throws {
        guard Shim.isRoot, let cluster = EtcdCluster() else { return }
        defer { cluster.shutDown() }
        let (a, b, keys) = Self.nodes(cluster)
        defer { a.cleanUp(); b.cleanUp(); try? FileManager.default.removeItem(atPath: keys) }
        let value = "etcd-plaintext-\(UUID().uuidString)"
        let created = a(["secret", "create", "--label", "env=prod", "db_pw", "-"], stdin: Data(value.utf8))
        #expect(created.status == 0, "\(created.stderr)")
        #expect(created.stderr.contains("master.key"), "the first create says where the key is: \(created.stderr)")
        let id = created.stdout.trimmingCharacters(in: .whitespacesAndNewlines)
        #expect(id.count == 25)

        let listed = b(["secret", "ls"])
        #expect(listed.status == 0, "\(listed.stderr)")
        #expect(listed.stdout.contains("db_pw") && listed.stdout.contains(id))
        let json = b(["secret", "inspect", String(id.prefix(6))])
        #expect(json.status == 0 && json.stdout.contains("\"env\": \"prod\""), "\(json.stdout)\(json.stderr)")
        let ran = b(["run", "--secret", "db_pw,target=pw,mode=0400", "--", "/bin/cat", "/run/secrets/pw"])
        #expect(ran.status == 0, "\(ran.stderr)")
        #expect(ran.stdout == value)
        // A wrong key is refused by the other node, in one line, and nothing is written.
        let otherKey = keys + "/other.key"
        #expect(FileManager.default.createFile(atPath: otherKey, contents: Data((0..<32).map { _ in UInt8.random(in: 0...255) }), attributes: [.posixPermissions: 0o400]))
        let refused = b(["secret", "create", "x", "-"], stdin: Data("v".utf8), env: ["SECRETSHIM_KEY_FILE": otherKey])
        #expect(refused.status == 1)
        expectOneLineError(refused, contains: "is not the key of the store at etcd://")
        #expect(!b(["secret", "ls"]).stdout.contains(" x "))

        // Only ciphertext anywhere in etcd: its keys and values, and the members' data dirs.
        // (The key check and the sealed values are binary: made printable to be read as text.)
        let dump = cluster.etcdctl("get --prefix / | LC_ALL=C tr -c '[:print:]\\n' '?'")
        #expect(dump.status == 0, "\(dump.output)")
        #expect(dump.output.contains("/names/db_pw") && dump.output.contains("/ids/\(id)") && dump.output.contains("/key-check"))
        #expect(!dump.output.contains(value) && !dump.output.contains(Data(value.utf8).base64EncodedString().dropLast(4)))
        let onDisk = shell("grep -r -a -l -F '\(value)' '\(cluster.directory)'/m1 '\(cluster.directory)'/m2 '\(cluster.directory)'/m3")
        #expect(onDisk.status == 1, "plaintext found in the members' data: \(onDisk.output)")
    }

    @Test func ofTwoNodesCreatingOneNameExactlyOneWinsAndManyCreatesLoseNothing() throws {
        guard Shim.isRoot, let cluster = EtcdCluster() else { return }
        defer { cluster.shutDown() }
        let (a, b, keys) = Self.nodes(cluster, agents: false)
        defer { a.cleanUp(); b.cleanUp(); try? FileManager.default.removeItem(atPath: keys) }
        #expect(a(["secret", "create", "first", "-"], stdin: Data("v".utf8)).status == 0)
        for round in 0..<20 {
            let name = "race\(round)"
            final class Statuses: @unchecked Sendable {
                let lock = NSLock()
                var values: [Int32] = []
                func add(_ status: Int32) { lock.lock(); values.append(status); lock.unlock() }
            }
            let statuses = Statuses()
            DispatchQueue.concurrentPerform(iterations: 2) { index in
                let node = index == 0 ? a : b
                statuses.add(node(["secret", "create", name, "-"], stdin: Data("value \(index)".utf8)).status)
            }
            #expect(statuses.values.sorted() == [0, 1], "round \(round): \(statuses.values)")
        }
        DispatchQueue.concurrentPerform(iterations: 8) { worker in
            let node = worker % 2 == 0 ? a : b
            for index in 0..<25 {
                let result = node(["secret", "create", "w\(worker)-\(index)", "-"], stdin: Data("v\(worker)-\(index)".utf8))
                #expect(result.status == 0, "w\(worker)-\(index): \(result.stderr)")
            }
        }
        let names = b(["secret", "ls", "--format", "json"]).stdout.split(separator: "\n").filter { $0.contains("\"Name\":\"w") }
        #expect(names.count == 200)
        let ran = a(["run", "--secret", "w7-24", "--", "/bin/cat", "/run/secrets/w7-24"], env: [:])
        // No agent on this node: refused, nothing read into a workload.
        #expect(ran.status == 125)
        expectOneLineError(ran, contains: "this node's agent is not running")
    }

    @Test func rmIsRefusedWhileAnotherNodesWorkloadHoldsTheSecretAndAllowedAfterItEndsOrItsAgentDies() throws {
        guard Shim.isRoot, let cluster = EtcdCluster() else { return }
        defer { cluster.shutDown() }
        let (a, b, keys) = Self.nodes(cluster)
        defer { a.cleanUp(); b.cleanUp(); try? FileManager.default.removeItem(atPath: keys) }
        #expect(a(["secret", "create", "held", "-"], stdin: Data("one".utf8)).status == 0)
        #expect(a(["secret", "create", "held2", "-"], stdin: Data("two".utf8)).status == 0)

        // A workload on node b holds `held` until its file is gone.
        let flag = b.shim.directory.path + "/go"
        FileManager.default.createFile(atPath: flag, contents: nil)
        let workload = b.shim.detachedProcess(
            ["run", "--name", "web", "--secret", "held", "--", "/bin/sh", "-c", "while [ -e \(flag) ]; do sleep 0.05; done"],
            env: b.environment)
        #expect(eventually(10) { a(["ps", "--all-nodes"]).stdout.contains("node-b") })
        let listed = a(["ps", "--all-nodes"])
        #expect(listed.stdout.contains("NODE") && listed.stdout.contains("web") && listed.stdout.contains("held"), "\(listed.stdout)")
        let refused = a(["secret", "rm", "held"])
        #expect(refused.status == 1)
        expectOneLineError(refused, contains: "secret 'held' is in use by the following workload: web (pid ")
        #expect(refused.stderr.contains(") on node node-b"), "\(refused.stderr)")
        try FileManager.default.removeItem(atPath: flag)
        workload.waitUntilExit()
        // The agent drops the holder at its next round.
        #expect(eventually(5) { a(["secret", "rm", "held"]).status == 0 })

        // A holder whose agent is killed stays until the agent's TTL (5 s) has passed.
        FileManager.default.createFile(atPath: flag, contents: nil)
        let second = b.shim.detachedProcess(
            ["run", "--name", "api", "--secret", "held2", "--", "/bin/sh", "-c", "while [ -e \(flag) ]; do sleep 0.05; done"],
            env: b.environment)
        #expect(eventually(10) { a(["ps", "--all-nodes"]).stdout.contains("api") })
        b.killAgent()
        let stillHeld = a(["secret", "rm", "held2"])
        #expect(stillHeld.status == 1, "removed while node b's lease was alive: \(stillHeld.stderr)")
        #expect(eventually(12) { a(["secret", "rm", "held2"]).status == 0 }, "node b was not forgotten after its TTL")
        try? FileManager.default.removeItem(atPath: flag)
        second.waitUntilExit()
    }

    /// `events` on an etcd store: every node's audit log, shipped by its agent, in one order
    /// (by time across nodes), each event naming its node; no value in etcd.
    @Test func everyNodesEventsInOneOrder() throws {
        guard Shim.isRoot, let cluster = EtcdCluster() else { return }
        defer { cluster.shutDown() }
        let (a, b, keys) = Self.nodes(cluster)
        defer { a.cleanUp(); b.cleanUp(); try? FileManager.default.removeItem(atPath: keys) }
        let value = "etcd-audit-\(UUID().uuidString)"
        #expect(a(["secret", "create", "db", "-"], stdin: Data(value.utf8)).status == 0)
        #expect(b(["run", "--name", "job", "--secret", "db", "--", "/bin/true"]).status == 0)
        #expect(b(["ps"]).status == 0)  // reports the workload's end (its revoke)
        #expect(a(["secret", "rm", "db"]).status == 0)
        var lines: [String] = []
        let expected = ["secret create db node-a", "workload grant job node-b", "workload revoke job node-b", "secret remove db node-a"]
        let shipped = eventually(10) {
            lines = b(["events", "--format", "{{.Type}} {{.Action}} {{.Actor.Attributes.name}} {{.Actor.Attributes.node}}"]).stdout
                .split(separator: "\n").map(String.init)
            return lines == expected
        }
        #expect(shipped, "\(lines)")
        let dump = cluster.etcdctl("get --prefix / | LC_ALL=C tr -c '[:print:]\\n' '?'")
        #expect(dump.output.contains("/events/") && !dump.output.contains(value))
    }

    @Test func withOneMemberDownEverythingWorksAndWithoutQuorumEveryCommandFailsInOneLineAndWritesNothing() throws {
        guard Shim.isRoot, let cluster = EtcdCluster() else { return }
        defer { cluster.shutDown() }
        let (a, b, keys) = Self.nodes(cluster)
        defer { a.cleanUp(); b.cleanUp(); try? FileManager.default.removeItem(atPath: keys) }
        #expect(a(["secret", "create", "before", "-"], stdin: Data("v0".utf8)).status == 0)

        cluster.stop("m1")
        #expect(a(["secret", "create", "one-down", "-"], stdin: Data("v1".utf8)).status == 0)
        #expect(b(["secret", "ls"]).stdout.contains("one-down"))
        let ran = b(["run", "--secret", "one-down", "--", "/bin/cat", "/run/secrets/one-down"])
        #expect(ran.stdout == "v1", "\(ran.stderr)")

        cluster.stop("m2")
        for arguments in [["secret", "create", "no-quorum", "-"], ["secret", "ls"], ["secret", "inspect", "before"], ["secret", "rm", "before"],
                          ["run", "--secret", "before", "--", "/bin/true"], ["ps", "--all-nodes"]] {
            let started = Date()
            let failed = a(arguments, stdin: Data("v2".utf8))
            let seconds = Date().timeIntervalSince(started)
            #expect(failed.status != 0, "\(arguments) worked without quorum")
            expectOneLineError(failed, contains: "is unavailable")
            #expect(seconds < 15, "\(arguments) took \(seconds) s")
        }
        cluster.resume("m1", "m2")
        #expect(eventually(20) { a(["secret", "ls"]).status == 0 })
        let after = a(["secret", "ls"]).stdout
        #expect(after.contains("before") && after.contains("one-down"))
        #expect(!after.contains("no-quorum"), "a create refused without quorum was written: \(after)")
        #expect(b(["run", "--secret", "before", "--", "/bin/cat", "/run/secrets/before"]).stdout == "v0")
    }

    /// `update`, `scan`, `grant` and the runtime wrapper on the etcd store: an update's new
    /// grant is held cluster-wide at once; scan finds a value stored in etcd; a runc container
    /// gets its secret from etcd through the operator's signed request.
    @Test func updateScanGrantAndTheRuntimeWrapperWorkOnEtcd() throws {
        guard Shim.isRoot, let cluster = EtcdCluster() else { return }
        defer { cluster.shutDown() }
        let (a, b, keys) = Self.nodes(cluster)
        defer { a.cleanUp(); b.cleanUp(); try? FileManager.default.removeItem(atPath: keys) }
        #expect(a(["secret", "create", "s1", "-"], stdin: Data("value-one-\(UUID().uuidString)".utf8)).status == 0)
        let second = "value-two-\(UUID().uuidString)"
        #expect(a(["secret", "create", "s2", "-"], stdin: Data(second.utf8)).status == 0)

        let flag = b.shim.directory.path + "/go"
        FileManager.default.createFile(atPath: flag, contents: nil)
        let workload = b.shim.detachedProcess(
            ["run", "--name", "web", "--secret", "s1", "--", "/bin/sh", "-c", "while [ -e \(flag) ]; do sleep 0.05; done"],
            env: b.environment)
        #expect(eventually(10) { b(["ps"]).stdout.contains("web") })
        let updated = b(["update", "--secret-add", "s2", "web"])
        #expect(updated.status == 0, "\(updated.stderr)")
        // Held on node b from the moment the update returned: no agent round needed.
        let refused = a(["secret", "rm", "s2"])
        #expect(refused.status == 1)
        expectOneLineError(refused, contains: "web (pid ")
        #expect(eventually(5) { a(["ps", "--all-nodes", "--format", "json"]).stdout.contains("\"Secrets\":[\"s1\",\"s2\"]") })
        try FileManager.default.removeItem(atPath: flag)
        workload.waitUntilExit()

        // scan reads every value from etcd.
        let tree = a.shim.directory.path + "/tree"
        try FileManager.default.createDirectory(atPath: tree, withIntermediateDirectories: true)
        FileManager.default.createFile(atPath: tree + "/leak.txt", contents: Data("x \(second) y".utf8))
        let scanned = a(["scan", tree])
        #expect(scanned.status == 1, "\(scanned.stdout)\(scanned.stderr)")
        #expect(scanned.stdout.contains("s2") && !scanned.stdout.contains(second))

        // The runtime wrapper, in front of runc, with the operator's request signed on node b.
        guard FileManager.default.fileExists(atPath: "/usr/sbin/runc") else { return }
        let signed = b(["grant", "s2"])
        #expect(signed.status == 0, "\(signed.stderr)")
        let request = signed.stdout.trimmingCharacters(in: .whitespacesAndNewlines)
        let bundle = try RootfsTests.makeBundle(in: b.shim.directory, args: ["cat", "/run/secrets/s2"]) {
            $0["annotations"] = ["org.secretshim.secrets": request]
        }
        let ran = b(["runtime", "run", "--bundle", bundle, "etcd-\(UUID().uuidString.prefix(8))"])
        #expect(ran.status == 0, "\(ran.stderr)")
        #expect(ran.stdout == second)
    }

    /// Podman through the plain `secretshim-runtime` link on an etcd store: conmon passes no
    /// environment on, so the store and its TLS files come as `--runtime-flag`s. A running
    /// container holds its secret on every node, and its removal frees it.
    @Test func podmanContainersGetSecretsFromEtcdThroughRuntimeFlags() throws {
        guard Shim.isRoot, Engines.havePodman, let cluster = EtcdCluster() else { return }
        defer { cluster.shutDown() }
        let (a, b, keys) = Self.nodes(cluster)
        defer { a.cleanUp(); b.cleanUp(); try? FileManager.default.removeItem(atPath: keys) }
        let value = "etcd-podman-\(UUID().uuidString)"
        #expect(a(["secret", "create", "pw", "-"], stdin: Data(value.utf8)).status == 0)
        let podman = try PrivatePodman(shim: a.shim)
        defer {
            podman.stop()
            ContainerAttackTests.sweep(a.shim)
        }
        #expect(podman.podman("import \(try Engines.busyboxTar(in: a.shim.directory)) bb").status == 0)
        let script = a.shim.directory.appendingPathComponent("bin/runtime").path
        let link = a.shim.directory.appendingPathComponent("bin/secretshim-runtime").path
        let env = a.environment
        let flags = [
            "secretshim-root=\(a.shim.root)", "secretshim-state-dir=\(a.shim.state)", "secretshim-key-file=\(env["SECRETSHIM_KEY_FILE"]!)",
            "secretshim-store=\(env["SECRETSHIM_STORE"]!)", "secretshim-etcd-cacert=\(env["SECRETSHIM_ETCD_CACERT"]!)",
            "secretshim-etcd-cert=\(env["SECRETSHIM_ETCD_CERT"]!)", "secretshim-etcd-key=\(env["SECRETSHIM_ETCD_KEY"]!)",
        ].map { "--runtime-flag \($0)" }.joined(separator: " ")
        let linked = podman.command.replacingOccurrences(of: "--runtime \(script)", with: "--runtime \(link)") + " " + flags
        #expect(linked != podman.command + " " + flags)
        let run = "run --network none \(podman.ulimits)"
        let once = shell("\(linked) --runtime-flag secretshim-grant=pw,mode=0400 \(run) --rm bb sh -c 'stat -c %a /run/secrets/pw; cat /run/secrets/pw'")
        #expect(once.status == 0 && once.output == "400\n\(value)", "\(once.output)")

        let running = shell("\(linked) --runtime-flag secretshim-grant=pw \(run) -d bb sleep 300").output.lastLine
        #expect(Engines.eventually { shell("\(linked) exec \(running) cat /run/secrets/pw").output == value })
        let refused = b(["secret", "rm", "pw"])
        #expect(refused.status == 1)
        expectOneLineError(refused, contains: "is in use by the following workload")
        #expect(refused.stderr.contains("on node node-a"), "\(refused.stderr)")
        #expect(shell("\(linked) rm -f -t 0 \(running)").status == 0)
        #expect(eventually(10) { b(["secret", "rm", "pw"]).status == 0 }, "the container's hold outlived it")
        #expect(Engines.eventually(5) { Engines.leftovers(a.shim).isEmpty }, "\(Engines.leftovers(a.shim))")
    }

    @Test func malformedStoreURLsAndTLSFlagsAreOneLineUsageErrors() {
        let shim = Shim()
        defer { shim.cleanUp() }
        for (url, fragment) in [
            ("etcd://", "no HOST:PORT"), ("etcd://host", "is not HOST:PORT"), ("etcd://h:0", "port '0'"),
            ("etcd://h:99999", "port '99999'"), ("etcd+insecure://10.0.0.1:2379", "only for loopback"),
            ("etcd://h:1/a/../b", "plain path"), ("consul://h:1", "expected local"), ("etcd://h:1\u{1b}[2J", "control character"),
        ] {
            let result = shim(["secret", "ls"], env: ["SECRETSHIM_STORE": url])
            #expect(result.status == 2, "\(url): \(result.stderr)")
            expectOneLineError(result, contains: fragment)
            #expect(!result.stderr.contains("\u{1b}"))
        }
        let half = shim(["--store", "etcd://127.0.0.1:1", "--etcd-cert", "/x.pem", "secret", "ls"])
        #expect(half.status == 2)
        expectOneLineError(half, contains: "--etcd-cert and --etcd-key go together")
        let unreachable = shim(["secret", "ls"], env: ["SECRETSHIM_STORE": "etcd+insecure://127.0.0.1:1"])
        #expect(unreachable.status == 1)
        expectOneLineError(unreachable, contains: "is unavailable")
    }
}

extension Shim {
    /// Starts the binary in the background with stdio on /dev/null.
    func detachedProcess(_ arguments: [String], env extra: [String: String]) -> Process {
        let process = Process()
        process.executableURL = URL(fileURLWithPath: Shim.binary)
        process.arguments = arguments
        process.environment = environment.merging(extra) { $1 }
        process.standardInput = FileHandle.nullDevice
        process.standardOutput = FileHandle.nullDevice
        process.standardError = FileHandle.nullDevice
        try! process.run()
        return process
    }
}
