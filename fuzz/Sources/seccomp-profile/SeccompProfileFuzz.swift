// A Docker/OCI seccomp profile (`run --seccomp FILE`, a bundle's linux.seccomp): decoded as
// SeccompProfile.load decodes it, then turned into the filter's rules. (The filter is not
// loaded: that would confine the fuzzer.)
import FuzzSupport
import JSON

@testable import Launcher

/// Capability sets the profile's includes/excludes are judged against: none, Docker's default
/// set, and all of them.
let capabilitySets: [[String]] = [
    [],
    ["CAP_CHOWN", "CAP_DAC_OVERRIDE", "CAP_FSETID", "CAP_FOWNER", "CAP_MKNOD", "CAP_NET_RAW", "CAP_SETGID", "CAP_SETUID",
     "CAP_SETFCAP", "CAP_SETPCAP", "CAP_NET_BIND_SERVICE", "CAP_SYS_CHROOT", "CAP_KILL", "CAP_AUDIT_WRITE"],
    ["CAP_SYS_ADMIN", "CAP_SYS_PTRACE", "CAP_SYS_MODULE", "CAP_SYS_BOOT", "CAP_SYSLOG", "CAP_BPF", "CAP_PERFMON"],
]

@_cdecl("LLVMFuzzerTestOneInput")
public func fuzzSeccompProfile(_ data: UnsafePointer<UInt8>?, _ size: Int) -> Int32 {
    var input = FuzzInput(data, size)
    let capabilities = capabilitySets[Int(input.byte()) % capabilitySets.count]
    let bytes = input.rest()
    guard let profile = try? SeccompProfile.Profile(document: bytes) else { return 0 }
    guard let filter = try? SeccompProfile.filter(from: profile, capabilities: capabilities, path: "fuzz.json") else { return 0 }
    let entries = profile.syscalls ?? []
    require(filter.rules.count <= entries.count, "more rules than syscalls entries")
    for rule in filter.rules {
        require(!rule.syscalls.isEmpty, "a rule without syscalls")
        require(rule.arguments.count <= entries.map { $0.args?.count ?? 0 }.max() ?? 0, "a rule with invented arguments")
        for argument in rule.arguments { require(argument.index < 6, "argument index \(argument.index) accepted") }
    }
    // The same profile from a file, as `run --seccomp FILE` reads it, gives the same filter.
    let path = scratchDirectory + "/profile.json"
    writeFile(path, bytes)
    let loaded = try? SeccompProfile.load(path, capabilities: capabilities)
    require(loaded?.rules.count == filter.rules.count && loaded?.defaultAction == filter.defaultAction, "load differs from decode")
    return 0
}
