import Namespaces
import Testing

@testable import SecretStore

/// The lease file and the decimal digits in it, written byte by byte on `run`'s path: they must
/// read back, and say what `String(describing:)` and the old interpolated text said.
@Suite struct LeaseFormatTests {
    @Test(arguments: [UInt64(0), 1, 9, 10, 99, 100, 4_294_967_295, 4_294_967_296, .max])
    func decimalDigitsAreStringsOwn(number: UInt64) {
        var bytes: [UInt8] = [UInt8(ascii: "x")]
        ASCIIDecimal.append(number, to: &bytes)
        #expect(bytes == Array("x\(number)".utf8))
        #expect(ASCIIDecimal.string(number) == String(number))
    }

    @Test(arguments: [Int64(0), -1, 9, -10, 4_194_304, 1_795_000_000_123_456_789, .max, .min])
    func signedDigitsAreStringsOwn(number: Int64) {
        var bytes: [UInt8] = []
        ASCIIDecimal.append(number, to: &bytes)
        #expect(bytes == Array(String(number).utf8))
    }

    @Test func leaseReadsBack() {
        let lease = Lease(
            workloadID: "0a1b2c3d4e5f", name: "redis-server", pid: 4_194_303, processStartTime: 18_446_744_073_709_551_615,
            startedAt: 1_795_000_000_123_456_789,
            secrets: [.init(id: "es62ibgvpcp8gnq56m77m835d", name: "a"), .init(id: "b1", name: "db.password")])
        let text = String(decoding: lease.encoded(), as: UTF8.self)
        #expect(text == """
            secretshim-lease 1
            id 0a1b2c3d4e5f
            name redis-server
            pid 4194303
            start 18446744073709551615
            started 1795000000123456789
            secret es62ibgvpcp8gnq56m77m835d a
            secret b1 db.password

            """)
        #expect(Lease.decode(lease.encoded()) == lease)
    }

    /// What `update` needs: the workload's process, its secrets dir and each file; a target or
    /// a dir with spaces, newlines or '%' stays on its line (as %XX) and reads back whole.
    @Test func aWorkloadReadsBack() {
        let lease = Lease(
            workloadID: "0a1b2c3d4e5f", name: "w", pid: 10, processStartTime: 20, startedAt: 30,
            secrets: [.init(id: "a1", name: "a")],
            workload: Lease.Workload(
                pid: 11, processStartTime: 21, secretsDirectory: "/run/my secrets", tmpfsSize: 1_048_576,
                grants: [
                    .init(id: "a1", target: "a", uid: 0, gid: 0, mode: 0o444),
                    .init(id: "a1", target: "sub/x y\nz%20", uid: 4_294_967_294, gid: 7, mode: 0o400),
                ],
                hostDirectory: "/run/secretshim/containers/c1"))
        let text = String(decoding: lease.encoded(), as: UTF8.self)
        #expect(text.hasSuffix("""
            workload 11 21
            secrets-dir /run/my%20secrets
            tmpfs-size 1048576
            host-dir /run/secretshim/containers/c1
            grant a1 0 0 292 a
            grant a1 4294967294 7 256 sub/x%20y%0az%2520

            """), "\(text)")
        #expect(Lease.decode(lease.encoded()) == lease)
        // A damaged workload part makes the whole lease unreadable (it then holds everything).
        for bad in ["workload 11\n", "grant a1 0 0 x a\n", "grant a1 0 0 292 %zz\n", "tmpfs-size -1\n"] {
            #expect(Lease.decode(lease.encoded() + Array(bad.utf8)) == nil, "\(bad)")
        }
    }

    @Test func leaseFileIsNamedByPid() {
        #expect(LeaseBook(directory: "/run/secretshim").path(for: 1234) == "/run/secretshim/1234.lease")
    }
}
