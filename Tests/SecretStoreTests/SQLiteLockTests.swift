import Foundation
import Glibc
import Namespaces
import Testing

@testable import SecretStore

/// SQLite's locks are POSIX advisory locks, which belong to the process and the file: closing
/// any descriptor of `secrets.db` drops all of them (sqlite.org/howtocorrupt.html, 2.2). The
/// launch index used to read the database header through a descriptor of its own inside the
/// write transaction, so a writer lost its RESERVED lock mid-transaction: a second writer then
/// got in, and in CI eight concurrent `secret create`s deadlocked until SQLite's busy timeout
/// ("database is locked"). Every header read in a process with the database open now goes
/// through SQLite's own descriptor.
@Suite struct SQLiteLockTests {
    @Test func aWriterKeepsItsLockWhileTheIndexReadsTheHeader() throws {
        let location = try temporaryStore()
        defer { try? FileManager.default.removeItem(atPath: location.root) }
        let database = try Database(path: location.databasePath, readOnly: false)
        let writer = try LaunchIndexWriter(LaunchIndex(location))
        defer { writer.close() }
        try database.writeTransaction { () throws(StoreError) in
            #expect(!anotherProcessCanWrite(location), "no other writer before the header read")
            let stamp = try writer.stampBeforeChange(database)
            #expect(stamp != nil && stamp!.token != 0)
            #expect(!anotherProcessCanWrite(location), "the write lock survived the header read")
        }
        #expect(anotherProcessCanWrite(location), "and it was released at the commit")
    }

    @Test func aReaderKeepsItsLockWhileTheIndexReadsTheHeader() throws {
        let location = try temporaryStore()
        defer { try? FileManager.default.removeItem(atPath: location.root) }
        let database = try Database(path: location.databasePath, readOnly: true)
        try database.execute("BEGIN")
        do {
            let read = try database.prepare("SELECT count(*) FROM secrets")
            try read.bind([])
            #expect(try read.step())
            #expect(LaunchIndex(location).isCurrent(database))
            #expect(database.fileHeader(LaunchIndex.stampedHeaderSize) != nil)
            #expect(!anotherProcessCanWrite(location), "the shared lock survived the header reads")
        }
        try database.execute("COMMIT")
        #expect(anotherProcessCanWrite(location))
    }

    /// A store with one secret and its launch index in line, made by the built binary: the store
    /// sets the umask while it creates files, and the umask is the whole process's, so done
    /// here it gave the other suites' files and children 0700 for a moment.
    func temporaryStore() throws -> StoreLocation {
        let root = NSTemporaryDirectory() + "secretshim-locks-\(UUID().uuidString)"
        let location = StoreLocation(root: root, stateDirectory: root + "/state")
        let process = Process()
        process.executableURL = URL(fileURLWithPath: Self.binary)
        process.arguments = ["secret", "create", "a", "-"]
        var environment = ProcessInfo.processInfo.environment
        environment["SECRETSHIM_ROOT"] = root
        environment["SECRETSHIM_STATE_DIR"] = location.stateDirectory
        process.environment = environment
        let input = Pipe()
        process.standardInput = input
        process.standardOutput = FileHandle.nullDevice
        process.standardError = FileHandle.nullDevice
        try process.run()
        input.fileHandleForWriting.write(Data("value-a".utf8))
        try input.fileHandleForWriting.close()
        process.waitUntilExit()
        try #require(process.terminationStatus == 0, "secret create failed")
        return location
    }

    /// The debug build (`SECRETSHIM_BIN` to choose another), as the integration tests use it.
    static let binary: String = ProcessInfo.processInfo.environment["SECRETSHIM_BIN"].flatMap { $0.isEmpty ? nil : $0 }
        ?? URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent()
            .appendingPathComponent(".build/debug/secretshim").path

    /// Whether the sqlite3 shell, without waiting, can commit a write to the store's database.
    func anotherProcessCanWrite(_ location: StoreLocation) -> Bool {
        let process = Process()
        process.executableURL = URL(fileURLWithPath: "/usr/bin/sqlite3")
        process.arguments = ["-bail", location.databasePath, "PRAGMA busy_timeout = 0; BEGIN IMMEDIATE; UPDATE meta SET value = value WHERE key = 'index'; COMMIT;"]
        process.standardOutput = FileHandle.nullDevice
        process.standardError = FileHandle.nullDevice
        guard (try? process.run()) != nil else { return false }
        process.waitUntilExit()
        return process.terminationStatus == 0
    }
}
