import CLinux
import CSeccomp
import Glibc

/// A seccomp filter, built rule by rule and loaded into this process (inherited across exec).
public struct SeccompFilter: Sendable {
    public enum Action: Sendable, Equatable {
        case allow, errno(Int32), kill, trap, log

        var kind: Int32 {
            switch self {
            case .allow: return Int32(CL_SECCOMP_ALLOW)
            case .errno: return Int32(CL_SECCOMP_ERRNO)
            case .kill: return Int32(CL_SECCOMP_KILL)
            case .trap: return Int32(CL_SECCOMP_TRAP)
            case .log: return Int32(CL_SECCOMP_LOG)
            }
        }

        var errnoValue: Int32 {
            if case .errno(let value) = self { return value }
            return 0
        }
    }

    /// libseccomp's `scmp_compare`.
    public enum Comparison: Int32, Sendable {
        case notEqual = 1, lessThan, lessOrEqual, equal, greaterOrEqual, greaterThan, maskedEqual
    }

    public struct Argument: Sendable, Equatable {
        public var index: UInt32
        public var comparison: Comparison
        public var value: UInt64
        public var valueTwo: UInt64
        public init(index: UInt32, _ comparison: Comparison, _ value: UInt64, _ valueTwo: UInt64 = 0) {
            self.index = index
            self.comparison = comparison
            self.value = value
            self.valueTwo = valueTwo
        }
    }

    public struct Rule: Sendable {
        public var syscalls: [String]
        public var action: Action
        public var arguments: [Argument]
        public init(_ syscalls: [String], _ action: Action, arguments: [Argument] = []) {
            self.syscalls = syscalls
            self.action = action
            self.arguments = arguments
        }
    }

    public var defaultAction: Action
    public var architectures: [String]
    public var rules: [Rule]

    public init(defaultAction: Action, architectures: [String] = [], rules: [Rule]) {
        self.defaultAction = defaultAction
        self.architectures = architectures
        self.rules = rules
    }

    public struct Failure: Error, CustomStringConvertible {
        public let description: String
    }

    /// Loads the filter. Syscalls unknown to this libseccomp are skipped, as runc skips them.
    public func load() throws(Failure) {
        guard let filter = try? sys("seccomp", nil, { cl_seccomp_new(defaultAction.kind, defaultAction.errnoValue) }) else {
            throw Failure(description: "seccomp: cannot create a filter")
        }
        defer { cl_seccomp_free(filter) }
        for architecture in architectures {
            do { try sys("seccomp") { cl_seccomp_add_arch(filter, architecture) } } catch {
                throw Failure(description: "seccomp: unknown architecture \(architecture)")
            }
        }
        for rule in rules {
            let index = rule.arguments.map(\.index)
            let op = rule.arguments.map(\.comparison.rawValue)
            let value = rule.arguments.map(\.value)
            let valueTwo = rule.arguments.map(\.valueTwo)
            for name in rule.syscalls {
                // A syscall unknown to this libseccomp: skipped.
                guard let number = try? sys("seccomp", nil, { cl_seccomp_syscall(name) }) else { continue }
                do {
                    try sys("seccomp") {
                        cl_seccomp_add_rule(
                            filter, number, rule.action.kind, rule.action.errnoValue, Int32(rule.arguments.count),
                            index, op, value, valueTwo)
                    }
                } catch {
                    throw Failure(description: "seccomp: rule for \(name): \(error.reason)")
                }
            }
        }
        do { try sys("seccomp") { cl_seccomp_load(filter) } } catch {
            throw Failure(description: "seccomp: load: \(error.reason)")
        }
    }
}

/// secretshim's default filter: a fixed BPF program (CLinux's default_filter.c says what it
/// refuses). Built by hand, not through libseccomp, because it sits on every `run`.
public enum DefaultSeccompFilter {
    public static func load() throws(SeccompFilter.Failure) {
        do { try sys("seccomp") { cl_default_filter_load() } } catch {
            throw SeccompFilter.Failure(description: "seccomp: load: \(error.reason)")
        }
    }

    /// `cl_guard_filter_load`: under a profile the user gave, what would reach the store
    /// through its mask stays refused.
    public static func loadGuard() throws(SeccompFilter.Failure) {
        do { try sys("seccomp") { cl_guard_filter_load() } } catch {
            throw SeccompFilter.Failure(description: "seccomp: load: \(error.reason)")
        }
    }
}
