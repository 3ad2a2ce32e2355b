// `--user USER[:GROUP]` against a root's /etc/passwd and /etc/group (UserDatabase). Input: the
// spec, a NUL, passwd's bytes, a NUL, group's bytes.
import FuzzSupport

@testable import Launcher

@_cdecl("LLVMFuzzerTestOneInput")
public func fuzzUserDatabase(_ data: UnsafePointer<UInt8>?, _ size: Int) -> Int32 {
    var input = FuzzInput(data, size)
    let spec = input.string(until: 0)
    let passwd = UserDatabase.entries(in: input.field(until: 0))
    let group = UserDatabase.entries(in: input.rest())
    // Lines and fields cut on bytes, as glibc cuts them.
    for entry in passwd + group {
        require(!entry.isEmpty && !entry.contains { $0.utf8.contains(0x0A) || $0.utf8.contains(UInt8(ascii: ":")) }, "entry \(entry) not cut")
    }
    guard let user = try? UserDatabase.resolve(spec, passwd: { passwd }, group: { group }) else { return 0 }
    let parts = spec.utf8.split(separator: UInt8(ascii: ":"), maxSplits: 1, omittingEmptySubsequences: false).map { String(decoding: $0, as: UTF8.self) }
    let context = "\(spec.debugDescription) -> \(user)"
    // Numbers are taken as given; -1 (4294967295) never resolves, as it means "unchanged" to setresuid.
    require(user.uid != UInt32.max && user.gid != UInt32.max, "id -1 resolved: \(context)")
    if let uid = UserDatabase.id(parts[0]) { require(user.uid == uid, "numeric user changed: \(context)") }
    if parts.count == 2, let gid = UserDatabase.id(parts[1]) { require(user.gid == gid, "numeric group changed: \(context)") }
    // A named user is one that passwd lists with these ids.
    if UserDatabase.id(parts[0]) == nil {
        require(passwd.contains { $0.count > 3 && $0[0] == parts[0] && UserDatabase.id($0[2]) == user.uid }, "user from nowhere: \(context)")
    }
    return 0
}
