import Foundation
import Testing

/// Attacks on the etcd store, against a real cluster: whoever can write to etcd (a member's
/// operator, a node's client certificate) without the key file, and commands killed mid-change.
@Suite(.serialized) struct EtcdAttackTests {
    static let port = 23860

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
        guard Shim.isRoot, let cluster = EtcdCluster(basePort: Self.port) else { return }
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
        guard Shim.isRoot, let cluster = EtcdCluster(basePort: Self.port + 10) else { return }
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
}
