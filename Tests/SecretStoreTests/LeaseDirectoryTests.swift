import Foundation
import Glibc
import Namespaces
import Testing

@testable import SecretStore

/// `update` rewrites a lease only while it is still its workload's: a workload that ended, its
/// pid taken by a new `run`, keeps the new lease (a fresh-eyes finding: a delayed update renamed
/// the dead workload's lease over the new one's, and `secret rm` then pulled the new one's secret).
@Suite struct LeaseDirectoryTests {
    @Test func anUpdateNeverOverwritesAnotherWorkloadsLease() throws {
        let path = NSTemporaryDirectory() + "secretshim-leases-\(UUID().uuidString)"
        try FileManager.default.createDirectory(atPath: path, withIntermediateDirectories: false, attributes: [.posixPermissions: 0o700])
        defer { try? FileManager.default.removeItem(atPath: path) }
        let directory = try #require(try LeaseBook(directory: path).open(create: false))
        defer { directory.close() }
        let pid = getpid(), start = try #require(System.processStartTime(pid))
        let old = Lease(workloadID: "0ld0ld0ld0ld", name: "old", pid: pid, processStartTime: start, startedAt: 1, secrets: [.init(id: "a1", name: "a")])
        let new = Lease(workloadID: "n3wn3wn3wn3w", name: "new", pid: pid, processStartTime: start, startedAt: 2, secrets: [.init(id: "c1", name: "c")])
        try directory.record(new)
        #expect(throws: StoreError.self) { try directory.replaceOwned(old.with(secrets: [], workload: nil)) }
        let file = path + "/\(pid).lease"
        #expect(Lease.decode(Array(FileManager.default.contents(atPath: file)!)) == new, "the new workload's lease is untouched")
        // Its own lease is rewritten.
        try directory.replaceOwned(new.with(secrets: [.init(id: "d1", name: "d")], workload: nil))
        #expect(Lease.decode(Array(FileManager.default.contents(atPath: file)!))?.secrets.map(\.name) == ["d"])
        // And no lease over 512 KiB is written.
        let grants = (0..<3000).map { Lease.Grant(id: "a1", target: String(repeating: "t", count: 200) + "\($0)", uid: 0, gid: 0, mode: 0o444) }
        let huge = new.with(
            secrets: [], workload: Lease.Workload(pid: pid, processStartTime: start, secretsDirectory: "/run/secrets", tmpfsSize: nil, grants: grants))
        #expect(throws: StoreError.self) { try directory.replaceOwned(huge) }
        #expect(Lease.decode(Array(FileManager.default.contents(atPath: file)!))?.secrets.map(\.name) == ["d"])
    }
}
