import Glibc
import Testing

@testable import SecretStore

/// The byte formats on `run`'s path, written by hand there to keep generic code off it.
@Suite struct LaunchIndexFormatTests {
    /// Every store before sealed with `String(version)` in the associated data.
    @Test(arguments: [Int64(0), 1, 9, 10, 99, 100, 12_345, -1, -10, .max, .min])
    func versionDigitsAreStringsOwn(version: Int64) {
        #expect(Sealing.associatedData(id: "i", name: "n", version: version) == Array("secretshim/v1\0i\0n\0\(version)".utf8))
    }

    @Test(arguments: [
        ("12 34\n", LaunchIndex.Stamp(counter: 12, token: 34)),
        ("0 4294967295\n", LaunchIndex.Stamp(counter: 0, token: 4_294_967_295)),
    ])
    func syncedStampsParse(text: String, stamp: LaunchIndex.Stamp) throws {
        #expect(try parse(text) == stamp)
    }

    @Test(arguments: ["", "12 34", "12  34\n", " 12 34\n", "12 34\n\n", "12 34 \n", "12\n", "a 1\n", "1 -2\n",
                      "4294967296 1\n", "1 99999999999\n", "12 34\nx"])
    func malformedSyncedStampsAreRefused(text: String) throws {
        #expect(try parse(text) == nil)
    }

    func parse(_ text: String) throws -> LaunchIndex.Stamp? {
        let directory = "/tmp/secretshim-stamp-\(getpid())-\(UInt32.random(in: 0...UInt32.max))"
        mkdir(directory, 0o700)
        defer { unlink(directory + "/launch/.synced"); rmdir(directory + "/launch"); rmdir(directory) }
        mkdir(directory + "/launch", 0o700)
        let bytes = Array(text.utf8)
        let fd = open(directory + "/launch/.synced", O_WRONLY | O_CREAT | O_TRUNC, 0o600)
        try #require(fd >= 0)
        _ = bytes.withUnsafeBytes { write(fd, $0.baseAddress, $0.count) }
        close(fd)
        return LaunchIndex(StoreLocation(root: directory, stateDirectory: directory)).syncedStamp()
    }

    /// A file's header round-trips, and anything but the exact magic and a well-formed ID is refused.
    @Test func entriesRoundTripAndRefuseBadHeaders() throws {
        let record = SecretRecord(
            id: "0123456789abcdefghijklmno", name: "db", version: 7, createdAt: -5, updatedAt: .max, labels: [])
        let sealed: [UInt8] = Array(repeating: 0xAB, count: 40)
        let bytes = sealed.withUnsafeBytes { LaunchIndex.encode(record, sealed: $0) }
        #expect(bytes.count == LaunchIndex.headerSize + 40)
        #expect(LaunchIndex.hasValidHeader(bytes))
        #expect(LaunchIndex.record(in: bytes, name: "db") == record)
        var badMagic = bytes
        badMagic[0] ^= 1
        #expect(!LaunchIndex.hasValidHeader(badMagic))
        var badID = bytes
        badID[LaunchIndex.headerSize - 30] = UInt8(ascii: "Z")
        #expect(!LaunchIndex.hasValidHeader(badID))
        #expect(!LaunchIndex.hasValidHeader(Array(bytes[..<LaunchIndex.headerSize])))
    }
}
