import Foundation
import Testing

/// Attacks on the etcd store, against a real cluster: whoever can write to etcd (a member's
/// operator, a node's client certificate) without the key file, and commands killed mid-change.
@Suite(.serialized) struct EtcdAttackTests {

    /// The raw value of `key`, and writing one, through etcdctl (files, so binary survives).
    static func copy(_ cluster: EtcdCluster, _ from: String, to: String, edit: ((inout [String: Any]) -> Void)? = nil) throws {
        let file = cluster.directory + "/copied"
        #expect(cluster.etcdctl("get '\(from)' --print-value-only > '\(file)'").status == 0)
        var data = try Data(contentsOf: URL(fileURLWithPath: file))
        // etcdctl ends the value with a newline of its own.
        if data.last == 0x0A { data.removeLast() }
        if let edit {
            var object = try JSONSerialization.jsonObject(with: data) as! [String: Any]
            edit(&object)
            data = try JSONSerialization.data(withJSONObject: object)
        }
        try data.write(to: URL(fileURLWithPath: file))
        #expect(cluster.etcdctl("put '\(to)' < '\(file)'").status == 0)
    }

    @Test func recordsMovedOrSpliedInEtcdWithoutTheKeyAreRefusedNeverServed() throws {
        guard Shim.isRoot, let cluster = EtcdCluster() else { return }
        defer { cluster.shutDown() }
        let (a, b, keys) = EtcdStoreTests.nodes(cluster)
        defer { a.cleanUp(); b.cleanUp(); try? FileManager.default.removeItem(atPath: keys) }
        let prefix = "/" + a.environment["SECRETSHIM_STORE"]!.split(separator: "/").last!
        let valueA = "value-of-a-\(UUID().uuidString)", valueB = "value-of-b-\(UUID().uuidString)"
        #expect(a(["secret", "create", "a", "-"], stdin: Data(valueA.utf8)).status == 0)
        let idB = a(["secret", "create", "b", "-"], stdin: Data(valueB.utf8)).stdout.trimmingCharacters(in: .whitespacesAndNewlines)

        // a's whole record put under b's name: b must not be served a's value.
        try Self.copy(cluster, "\(prefix)/names/a", to: "\(prefix)/names/b")
        let moved = b(["run", "--secret", "b", "--", "/bin/cat", "/run/secrets/b"])
        #expect(moved.status != 0 && !moved.stdout.contains(valueA), "a's value served as b: \(moved.stdout)")
        expectOneLineError(moved, contains: "was copied there")

        // a's sealed value spliced into b's record: it does not open under b's ID and name.
        try Self.copy(cluster, "\(prefix)/names/a", to: "\(prefix)/names/b") {
            $0["ID"] = idB
            $0["Name"] = "b"
        }
        let spliced = b(["run", "--secret", "b", "--", "/bin/cat", "/run/secrets/b"])
        #expect(spliced.status != 0 && !spliced.stdout.contains(valueA))
        expectOneLineError(spliced, contains: "cannot be decrypted")

        // A reference that is no name or ID never reaches other keys.
        for reference in ["../names/a", "a/", "/names/a", "holders/"] {
            let result = b(["secret", "inspect", reference])
            #expect(result.status == 1)
            expectOneLineError(result, contains: "no such secret")
        }
        // Untouched: a still works.
        #expect(b(["run", "--secret", "a", "--", "/bin/cat", "/run/secrets/a"]).stdout == valueA)
    }

    /// `kill -9` of creates and removes at random moments: etcd applies a transaction whole, so
    /// every secret is either whole (both keys, a value that opens) or absent.
    @Test func killedCreatesAndRemovesLeaveEachSecretWholeOrAbsent() throws {
        guard Shim.isRoot, let cluster = EtcdCluster() else { return }
        defer { cluster.shutDown() }
        let (a, b, keys) = EtcdStoreTests.nodes(cluster, agents: false)
        defer { a.cleanUp(); b.cleanUp(); try? FileManager.default.removeItem(atPath: keys) }
        #expect(a(["secret", "create", "seed", "-"], stdin: Data("seed".utf8)).status == 0)
        for round in 0..<30 {
            let arguments = round % 3 == 2 ? ["secret", "rm", "k\(round - 1)"] : ["secret", "create", "k\(round)", "-"]
            let process = a.shim.detachedProcess(arguments, env: a.environment)
            usleep(useconds_t.random(in: 0...60_000))
            kill(process.processIdentifier, SIGKILL)
            process.waitUntilExit()
        }
        let prefix = "/" + a.environment["SECRETSHIM_STORE"]!.split(separator: "/").last!
        let names = cluster.etcdctl("get --prefix '\(prefix)/names/' --keys-only").output.split(separator: "\n").map { $0.split(separator: "/").last.map(String.init) ?? "" }
        let ids = cluster.etcdctl("get --prefix '\(prefix)/ids/' --keys-only").output.split(separator: "\n").count
        #expect(names.count == ids, "names \(names.count), ids \(ids)")
        let listed = b(["secret", "ls", "--format", "json"])
        #expect(listed.status == 0, "\(listed.stderr)")
        for name in names {
            let shown = b(["secret", "inspect", "--show-secret", name])
            #expect(shown.status == 0, "\(name): \(shown.stderr)")
        }
    }

    /// Fresh-eyes findings on the node agent, each a way `secret rm` elsewhere removed a secret
    /// a workload here still held: a second agent under the same node name (another host also
    /// called `localhost`) deleted the first one's holders; a second agent on the same state
    /// dir revoked the lease the first one published; `run` trusted the file a killed agent
    /// left; and a SIGTERM (`systemctl restart`) revoked the lease at once.
    @Test func oneAgentPerNodeAndHoldsOutliveItsRestart() throws {
        guard Shim.isRoot, let cluster = EtcdCluster() else { return }
        defer { cluster.shutDown() }
        let (a, b, keys) = EtcdStoreTests.nodes(cluster)
        defer { a.cleanUp(); b.cleanUp(); try? FileManager.default.removeItem(atPath: keys) }
        #expect(a(["secret", "create", "s", "-"], stdin: Data("value-s".utf8)).status == 0)

        // This node's commands reach etcd through its agent: a copy of secretshim without its
        // etcd client beside it works while the agent runs, and only for the agent's own store.
        let lone = a.shim.directory.path + "/lone"
        try FileManager.default.createDirectory(atPath: lone, withIntermediateDirectories: false)
        try FileManager.default.copyItem(atPath: Shim.binary, toPath: lone + "/secretshim")
        let relayed = a.shim(["run", "--secret", "s", "--", "/bin/cat", "/run/secrets/s"], env: a.environment, executable: lone + "/secretshim")
        #expect(relayed.status == 0 && relayed.stdout == "value-s", "\(relayed.stderr)")
        var otherStore = a.environment
        otherStore["SECRETSHIM_STORE"] = a.environment["SECRETSHIM_STORE"]! + "-other"
        let refusedHello = a.shim(["secret", "ls"], env: otherStore, executable: lone + "/secretshim")
        #expect(refusedHello.status == 1)
        expectOneLineError(refusedHello, contains: "is not installed beside secretshim")

        // Another agent claiming node-a's name, from another state dir: refused in one line.
        let impostor = EtcdNode("node-a", cluster: cluster, prefix: String(a.environment["SECRETSHIM_STORE"]!.split(separator: "/").last!), keyFile: keys + "/master.key")
        defer { impostor.cleanUp() }
        let named = Self.bounded(impostor, ["node", "--ttl", "5"])
        #expect(named.status == 1)
        expectOneLineError(named, contains: "node 'node-a' already has an agent")
        // A second agent on node-a's own state dir: refused, and the first one's lease stands.
        let twice = Self.bounded(a, ["node", "--ttl", "5"])
        #expect(twice.status == 1)
        expectOneLineError(twice, contains: "another agent runs for the state dir")

        // A workload on node-a holds s across a restart of its agent (SIGTERM, then a new one
        // more than a TTL later): the new agent took the old lease over.
        let flag = a.shim.directory.path + "/go"
        FileManager.default.createFile(atPath: flag, contents: nil)
        let workload = a.shim.detachedProcess(
            ["run", "--name", "web", "--secret", "s", "--", "/bin/sh", "-c", "while [ -e \(flag) ]; do sleep 0.05; done"], env: a.environment)
        #expect(eventually(10) { b(["ps", "--all-nodes"]).stdout.contains("web") })
        #expect(b(["secret", "rm", "s"]).status == 1)
        a.stopAgent()
        #expect(b(["secret", "rm", "s"]).status == 1, "the agent's SIGTERM freed a secret in use")
        // While no agent runs, no run starts (the file the agent left names no live one).
        let noAgent = a(["run", "--secret", "s", "--", "/bin/true"])
        #expect(noAgent.status != 0)
        expectOneLineError(noAgent, contains: "this node's agent is not running")
        let unrelayed = a.shim(["secret", "ls"], env: a.environment, executable: lone + "/secretshim")
        expectOneLineError(unrelayed, contains: "is not installed beside secretshim")
        a.startAgent()
        sleep(7)
        #expect(b(["secret", "rm", "s"]).status == 1, "the holds lapsed across the agent's restart")

        // kill -9 of the agent: its file stays, but run refuses at once.
        a.killAgent()
        let killed = a(["run", "--secret", "s", "--", "/bin/true"])
        #expect(killed.status != 0)
        expectOneLineError(killed, contains: "this node's agent is not running")
        try FileManager.default.removeItem(atPath: flag)
        workload.waitUntilExit()
    }

    /// What another node publishes is printed with its control bytes escaped (a fresh-eyes
    /// finding: a workload name from etcd retitled and cleared the operator's terminal), and a
    /// TLS file that is a FIFO fails in one line instead of hanging.
    @Test func hostileWorkloadsAreEscapedAndTLSFilesMustBeRegular() throws {
        guard Shim.isRoot, let cluster = EtcdCluster() else { return }
        defer { cluster.shutDown() }
        let (a, b, keys) = EtcdStoreTests.nodes(cluster, agents: false)
        defer { a.cleanUp(); b.cleanUp(); try? FileManager.default.removeItem(atPath: keys) }
        let prefix = "/" + a.environment["SECRETSHIM_STORE"]!.split(separator: "/").last!
        let file = cluster.directory + "/hostile"
        let workload = #"{"ID":"w1","Name":"x\u001b]0;PWNED\u0007\u001b[2J","PID":1,"StartedAt":1,"Node":"ev\u001b[1mil","Secrets":[],"SecretIDs":[]}"#
        try Data(workload.utf8).write(to: URL(fileURLWithPath: file))
        #expect(cluster.etcdctl("put '\(prefix)/nodes/evil/workloads/w1' < '\(file)'").status == 0)
        let listed = a(["ps", "--all-nodes"])
        #expect(listed.status == 0, "\(listed.stderr)")
        #expect(!listed.stdout.utf8.contains(0x1B) && !listed.stdout.utf8.contains(0x07), "\(listed.stdout.debugDescription)")
        #expect(listed.stdout.contains("\\x1b]0;PWNED\\x07"), "\(listed.stdout.debugDescription)")

        // As root, a TLS file another user owns or could rewrite is refused: its writer could
        // stand in for etcd.
        let borrowed = cluster.directory + "/borrowed-ca.pem"
        try FileManager.default.copyItem(atPath: a.environment["SECRETSHIM_ETCD_CACERT"]!, toPath: borrowed)
        #expect(chown(borrowed, 65534, 65534) == 0)
        let foreign = Self.bounded(a, ["secret", "ls"], env: ["SECRETSHIM_ETCD_CACERT": borrowed])
        #expect(foreign.status == 1)
        expectOneLineError(foreign, contains: "belongs to uid 65534, not root")
        #expect(chown(borrowed, 0, 0) == 0 && chmod(borrowed, 0o664) == 0)
        let writable = Self.bounded(a, ["secret", "ls"], env: ["SECRETSHIM_ETCD_CACERT": borrowed])
        expectOneLineError(writable, contains: "writable by group or others")

        let fifo = cluster.directory + "/fifo.pem"
        #expect(mkfifo(fifo, 0o600) == 0)
        for variable in ["SECRETSHIM_ETCD_CACERT", "SECRETSHIM_ETCD_KEY"] {
            let result = Self.bounded(a, ["secret", "ls"], env: [variable: fifo])
            #expect(result.status == 1, "\(variable): \(result.stderr)")
            expectOneLineError(result, contains: "not a regular file")
        }
    }

    /// The second round of fresh-eyes findings on the agent, each a way the holds of a running
    /// workload lapsed: the agent's etcd helper killed (the agent kept its dead socket), a
    /// restart with a longer --ttl (the adopted lease renewed too late), a client trickling a
    /// frame (the agent blocked in its read); a stopped agent hung every command; and a root
    /// workload read the node's etcd client key.
    @Test func theAgentOutlivesItsHelperSlowClientsAndATTLChange() throws {
        guard Shim.isRoot, let cluster = EtcdCluster() else { return }
        defer { cluster.shutDown() }
        let (a, b, keys) = EtcdStoreTests.nodes(cluster)
        defer { a.cleanUp(); b.cleanUp(); try? FileManager.default.removeItem(atPath: keys) }
        #expect(a(["secret", "create", "s", "-"], stdin: Data("value-s".utf8)).status == 0)
        let flag = a.shim.directory.path + "/go"
        FileManager.default.createFile(atPath: flag, contents: nil)
        let workload = a.shim.detachedProcess(
            ["run", "--name", "web", "--secret", "s", "--", "/bin/sh", "-c", "while [ -e \(flag) ]; do sleep 0.05; done"], env: a.environment)
        defer {
            try? FileManager.default.removeItem(atPath: flag)
            workload.waitUntilExit()
        }
        #expect(eventually(10) { b(["ps", "--all-nodes"]).stdout.contains("web") })
        /// `secret rm` on node b is refused because node a's workload holds s.
        func held() -> Bool { b(["secret", "rm", "s"]).stderr.contains("is in use by the following workload: web") }
        #expect(held())

        // The workload cannot read the node's client key (nor the CA and certificate).
        let key = a.environment["SECRETSHIM_ETCD_KEY"]!
        let peek = a(["run", "--secret", "s", "--", "/bin/cat", key])
        #expect(!peek.stdout.contains("PRIVATE KEY"), "the workload read \(key)")

        // The agent's helper killed: a fresh one is started, and the holds never lapse.
        let agentPID = try #require(a.agentPID)
        #expect(shell("pkill -KILL -P \(agentPID) -f secretshim-etcd").status == 0)
        sleep(7)
        #expect(held(), "the holds lapsed after the agent's helper died")
        #expect(a(["run", "--secret", "s", "--", "/bin/true"]).status == 0)

        // A client that trickles a frame, byte by byte, does not hold the agent.
        let trickler = Thread {
            let fd = socket(AF_UNIX, Int32(SOCK_STREAM.rawValue), 0)
            var address = sockaddr_un()
            address.sun_family = sa_family_t(AF_UNIX)
            let path = Array((a.shim.state + "/node.sock").utf8)
            withUnsafeMutableBytes(of: &address.sun_path) { for (i, byte) in path.enumerated() { $0[i] = byte } }
            _ = withUnsafePointer(to: &address) { $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { connect(fd, $0, socklen_t(MemoryLayout<sockaddr_un>.size)) } }
            var header: [UInt8] = [0x00, 0x0F, 0x42, 0x40]
            _ = send(fd, &header, 4, Int32(MSG_NOSIGNAL))
            for _ in 0..<6 {
                var byte: UInt8 = 0x7B
                if send(fd, &byte, 1, Int32(MSG_NOSIGNAL)) < 0 { break }
                usleep(1_500_000)
            }
            close(fd)
        }
        trickler.start()
        sleep(8)
        #expect(held(), "a trickling client let the holds lapse")

        // A restart with a longer --ttl keeps the holds: the adopted lease is renewed by its own TTL.
        a.stopAgent()
        a.startAgent(ttl: 20)
        sleep(8)
        #expect(held(), "the holds lapsed after a restart with a longer TTL")

        // A stopped agent: the node's commands fall back to a helper of their own, at once.
        kill(try #require(a.agentPID), SIGSTOP)
        let started = Date()
        let listed = Self.bounded(a, ["secret", "ls"])
        kill(try #require(a.agentPID), SIGCONT)
        #expect(listed.status == 0, "\(listed.stderr)")
        #expect(Date().timeIntervalSince(started) < 10, "ls took \(Date().timeIntervalSince(started)) s with the agent stopped")
    }

    /// Runs secretshim as `node` would, killed after 30 s (a command that should fail at once
    /// must not hang the suite if it does not).
    static func bounded(_ node: EtcdNode, _ arguments: [String], env extra: [String: String] = [:]) -> Shim.Result {
        let process = Process()
        process.executableURL = URL(fileURLWithPath: Shim.binary)
        process.arguments = arguments
        process.environment = node.shim.environment.merging(node.environment) { $1 }.merging(extra) { $1 }
        let errors = Pipe(), output = Pipe()
        process.standardInput = FileHandle.nullDevice
        process.standardOutput = output
        process.standardError = errors
        try! process.run()
        let started = Date()
        while process.isRunning && Date().timeIntervalSince(started) < 30 { usleep(50_000) }
        if process.isRunning { kill(process.processIdentifier, SIGKILL) }
        process.waitUntilExit()
        let out = output.fileHandleForReading.readDataToEndOfFile()
        return Shim.Result(
            status: process.terminationStatus, stdout: String(decoding: out, as: UTF8.self),
            stderr: String(decoding: errors.fileHandleForReading.readDataToEndOfFile(), as: UTF8.self), stdoutBytes: out)
    }
}
