import Glibc
import JSON
import Namespaces

/// A seccomp profile in Docker's / the OCI runtime spec's JSON format (`defaultAction`,
/// `defaultErrnoRet`, `architectures` or `archMap`, `syscalls` with `names`, `action`, `args`,
/// `errnoRet`, `includes`/`excludes` by caps, arches and minKernel), read as Docker's Go decoder
/// reads it (keys folded), a key repeated in one object refused.
enum SeccompProfile {
    struct Invalid: Error, CustomStringConvertible {
        let description: String
    }

    struct Profile: JSONDecodable {
        var defaultAction: String
        var defaultErrnoRet: Int32?
        var architectures: [String]?
        var archMap: [ArchMap]?
        var syscalls: [Syscall]?

        init(from json: JSONCursor) throws(JSONDecodingError) {
            defaultAction = try json.decode("defaultAction")
            defaultErrnoRet = try json.decodeIfPresent("defaultErrnoRet")
            architectures = try json.decodeIfPresent("architectures")
            archMap = try json.decodeIfPresent("archMap")
            syscalls = try json.decodeIfPresent("syscalls")
        }
    }

    struct ArchMap: JSONDecodable {
        var architecture: String
        var subArchitectures: [String]?

        init(from json: JSONCursor) throws(JSONDecodingError) {
            architecture = try json.decode("architecture")
            subArchitectures = try json.decodeIfPresent("subArchitectures")
        }
    }

    struct Syscall: JSONDecodable {
        var names: [String]?
        var name: String?
        var action: String
        var errnoRet: Int32?
        var args: [Arg]?
        var includes: Filter?
        var excludes: Filter?

        init(from json: JSONCursor) throws(JSONDecodingError) {
            names = try json.decodeIfPresent("names")
            name = try json.decodeIfPresent("name")
            action = try json.decode("action")
            errnoRet = try json.decodeIfPresent("errnoRet")
            args = try json.decodeIfPresent("args")
            includes = try json.decodeIfPresent("includes")
            excludes = try json.decodeIfPresent("excludes")
        }
    }

    struct Arg: JSONDecodable {
        var index: UInt32
        var value: UInt64
        var valueTwo: UInt64?
        var op: String

        init(from json: JSONCursor) throws(JSONDecodingError) {
            index = try json.decode("index")
            value = try json.decode("value")
            valueTwo = try json.decodeIfPresent("valueTwo")
            op = try json.decode("op")
        }
    }

    struct Filter: JSONDecodable {
        var caps: [String]?
        var arches: [String]?
        var minKernel: String?

        init(from json: JSONCursor) throws(JSONDecodingError) {
            caps = try json.decodeIfPresent("caps")
            arches = try json.decodeIfPresent("arches")
            minKernel = try json.decodeIfPresent("minKernel")
        }
    }

    /// `capabilities` are the workload's (Docker's includes/excludes are judged against them).
    static func load(_ path: String, capabilities: [String]) throws(Invalid) -> SeccompFilter {
        let bytes: [UInt8]
        do { bytes = try Files.read(path, limit: 16 << 20) } catch { throw Invalid(description: "seccomp profile \(error)") }
        let profile: Profile
        do { profile = try Profile(document: bytes) } catch {
            throw Invalid(description: "seccomp profile \(path): not a valid profile: \(error)")
        }
        return try filter(from: profile, capabilities: capabilities, path: path)
    }

    static func filter(from profile: Profile, capabilities: [String], path: String) throws(Invalid) -> SeccompFilter {
        let defaultAction = try action(profile.defaultAction, errno: profile.defaultErrnoRet, path: path)
        var architectures = profile.architectures ?? []
        // archMap lists each native architecture with its compat ones; take this machine's.
        if let native = profile.archMap?.first(where: { $0.architecture == hostArchitecture }) {
            architectures = [native.architecture] + (native.subArchitectures ?? [])
        }
        var rules: [SeccompFilter.Rule] = []
        for syscall in profile.syscalls ?? [] {
            if let includes = syscall.includes, !applies(includes, capabilities: capabilities, whenAll: true) { continue }
            if let excludes = syscall.excludes, applies(excludes, capabilities: capabilities, whenAll: false) { continue }
            let names = (syscall.names ?? []) + (syscall.name.map { [$0] } ?? [])
            guard !names.isEmpty else { throw Invalid(description: "seccomp profile \(path): a syscalls entry has no names") }
            var arguments: [SeccompFilter.Argument] = []
            for arg in syscall.args ?? [] {
                guard arg.index < 6 else { throw Invalid(description: "seccomp profile \(path): argument index \(arg.index) out of range") }
                arguments.append(.init(index: arg.index, try comparison(arg.op, path: path), arg.value, arg.valueTwo ?? 0))
            }
            rules.append(.init(names, try action(syscall.action, errno: syscall.errnoRet, path: path), arguments: arguments))
        }
        return SeccompFilter(defaultAction: defaultAction, architectures: architectures, rules: rules)
    }

    static func action(_ name: String, errno: Int32?, path: String) throws(Invalid) -> SeccompFilter.Action {
        switch name {
        case "SCMP_ACT_ALLOW": return .allow
        case "SCMP_ACT_ERRNO": return .errno(errno ?? EPERM)
        case "SCMP_ACT_KILL", "SCMP_ACT_KILL_PROCESS", "SCMP_ACT_KILL_THREAD": return .kill
        case "SCMP_ACT_TRAP": return .trap
        case "SCMP_ACT_LOG": return .log
        default: throw Invalid(description: "seccomp profile \(path): unknown action \(name)")
        }
    }

    static func comparison(_ name: String, path: String) throws(Invalid) -> SeccompFilter.Comparison {
        switch name {
        case "SCMP_CMP_NE": return .notEqual
        case "SCMP_CMP_LT": return .lessThan
        case "SCMP_CMP_LE": return .lessOrEqual
        case "SCMP_CMP_EQ": return .equal
        case "SCMP_CMP_GE": return .greaterOrEqual
        case "SCMP_CMP_GT": return .greaterThan
        case "SCMP_CMP_MASKED_EQ": return .maskedEqual
        default: throw Invalid(description: "seccomp profile \(path): unknown comparison \(name)")
        }
    }

    /// includes (whenAll: every listed condition holds) / excludes (whenAll: false: any holds).
    static func applies(_ filter: Filter, capabilities: [String], whenAll: Bool) -> Bool {
        var conditions: [Bool] = []
        if let caps = filter.caps, !caps.isEmpty {
            conditions.append(whenAll ? caps.allSatisfy(capabilities.contains) : caps.contains(where: capabilities.contains))
        }
        if let arches = filter.arches, !arches.isEmpty {
            conditions.append(arches.contains(hostArchitectureShort) || arches.contains(hostArchitecture))
        }
        if let minKernel = filter.minKernel {
            conditions.append(kernelAtLeast(minKernel))
        }
        return whenAll ? conditions.allSatisfy { $0 } : conditions.contains(true)
    }

    static var hostArchitecture: String {
        #if arch(x86_64)
        return "SCMP_ARCH_X86_64"
        #elseif arch(arm64)
        return "SCMP_ARCH_AARCH64"
        #else
        return "SCMP_ARCH_NATIVE"
        #endif
    }

    /// The names Docker's `arches` include/exclude lists use (Go's GOARCH).
    static var hostArchitectureShort: String {
        #if arch(x86_64)
        return "amd64"
        #elseif arch(arm64)
        return "arm64"
        #else
        return "unknown"
        #endif
    }

    static func kernelAtLeast(_ version: String) -> Bool {
        var name = utsname()
        uname(&name)
        let release = withUnsafeBytes(of: name.release) { String(decoding: $0.prefix { $0 != 0 }, as: UTF8.self) }
        func numbers(_ text: String) -> [Int] {
            text.split(whereSeparator: { !$0.isNumber }).prefix(2).compactMap { Int($0) }
        }
        return numbers(release).lexicographicallyPrecedes(numbers(version)) == false
    }
}
