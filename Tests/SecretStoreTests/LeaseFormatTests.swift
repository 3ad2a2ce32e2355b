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

    @Test func leaseFileIsNamedByPid() {
        #expect(LeaseBook(directory: "/run/secretshim").path(for: 1234) == "/run/secretshim/1234.lease")
    }
}
