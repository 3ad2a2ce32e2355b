import Testing

@testable import Launcher

/// `--user` against a root's /etc/passwd and /etc/group, as bytes (fuzz/ user-database).
@Suite struct UserDatabaseTests {
    static let passwd = Array("root:x:0:0:root:/root:/bin/sh\napp:x:1000:1000::/home/app:/bin/sh\n".utf8)
    static let group = Array("root:x:0:\nwheel:x:10:root,app\n".utf8)

    func resolve(_ spec: String, passwd: [UInt8] = passwd, group: [UInt8] = group) throws -> ResolvedUser {
        try UserDatabase.resolve(spec, passwd: { UserDatabase.entries(in: passwd) }, group: { UserDatabase.entries(in: group) })
    }

    @Test func namesAndNumbersResolve() throws {
        #expect(try resolve("app") == ResolvedUser(uid: 1000, gid: 1000, home: "/home/app"))
        #expect(try resolve("app:wheel") == ResolvedUser(uid: 1000, gid: 10, home: "/home/app"))
        #expect(try resolve("1000:10") == ResolvedUser(uid: 1000, gid: 10, home: "/home/app"))
        #expect(try resolve("root") == ResolvedUser(uid: 0, gid: 0, home: "/root"))
        // A number without an entry: no home (HOME=/ for the workload, as runc sets it).
        #expect(try resolve("4242") == ResolvedUser(uid: 4242, gid: 0))
        #expect(throws: (any Error).self) { try resolve("nobody") }
        #expect(throws: (any Error).self) { try resolve("app:staff") }
        #expect(throws: (any Error).self) { try resolve("4294967295") }
    }

    /// Found by fuzz/ (user-database): lines and fields are cut on bytes, as glibc cuts them.
    /// As Characters, a ':' with a combining mark on it was no separator (the fields after it
    /// shifted: a uid lookup read the gid), and a CRLF line was no line end (the whole file
    /// was one line).
    @Test func fieldsAreCutOnBytes() throws {
        let shifted = Array("x:\u{301}:1000:2000:\u{301}:/:/bin/sh\n".utf8)
        #expect(UserDatabase.entries(in: shifted) == [["x", "\u{301}", "1000", "2000", "\u{301}", "/", "/bin/sh"]])
        #expect(try resolve("1000", passwd: shifted) == ResolvedUser(uid: 1000, gid: 2000, home: "/"))
        #expect(try resolve("x", passwd: shifted) == ResolvedUser(uid: 1000, gid: 2000, home: "/"))
        #expect(try resolve("1:\u{301}g", group: Array("\u{301}g:x:7:\n".utf8)) == ResolvedUser(uid: 1, gid: 7))
        let crlf = Array("root:x:0:0:root:/root:/bin/sh\r\napp:x:1000:1000::/home/app:/bin/sh\r\n".utf8)
        #expect(try resolve("app", passwd: crlf) == ResolvedUser(uid: 1000, gid: 1000, home: "/home/app"))
    }
}
