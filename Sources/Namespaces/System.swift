import CLinux
import Glibc

/// Small facts about this process and the system, without Foundation.
public enum System {
    public static func environment(_ name: String) -> String? {
        guard let value = name.withCString({ getenv($0) }) else { return nil }
        return String(cString: value)
    }

    /// Unblocks `signals` for this thread (sigprocmask(2)): a long-running command (the node
    /// agent, `events --follow`) started by a parent that blocked them (a test runner's thread,
    /// a supervisor) would otherwise stay deaf to them.
    public static func unblock(_ signals: [Int32]) {
        var set = sigset_t()
        sigemptyset(&set)
        for signal in signals { sigaddset(&set, signal) }
        _ = try? sys("sigprocmask") { sigprocmask(SIG_UNBLOCK, &set, nil) }
    }

    /// The real user and group (who ran the command; never fail).
    public static var userID: uid_t { getuid() }
    public static var groupID: gid_t { getgid() }
    public static var effectiveUserID: uid_t { geteuid() }
    public static var effectiveGroupID: gid_t { getegid() }
    public static var processID: pid_t { getpid() }

    /// Takes the Swift runtime's crash handler off the fatal signals (`cl_reset_fatal_signals`):
    /// its report prints 16 bytes of memory at each register, which may be part of a secret's
    /// value or of the key. Called first thing by every command; a crash then just ends the
    /// process (and, non-dumpable, leaves no core).
    public static func resetFatalSignals() { _ = try? sys("sigaction") { cl_reset_fatal_signals() } }

    /// PR_SET_DUMPABLE: a non-dumpable process leaves no core dump and cannot be ptraced, nor
    /// its /proc/PID/mem read, by other processes of its user. exec resets it.
    public static func setDumpable(_ dumpable: Bool) { _ = try? sys("prctl") { cl_prctl_set_dumpable(dumpable ? 1 : 0) } }

    /// Makes this process non-dumpable and sets its core size limit to 0: for every command
    /// that loads the key or a value (with `fs.suid_dumpable=2` the kernel still dumps a
    /// non-dumpable process, readable by root; the limit stops that where the core goes to a
    /// file).
    public static func forbidCoreDumps() {
        setDumpable(false)
        var limit = rlimit(rlim_cur: 0, rlim_max: 0)
        _ = try? sys("setrlimit") { setrlimit(__rlimit_resource_t(RLIMIT_CORE.rawValue), &limit) }
    }

    /// Lowercase hex of `count` random bytes, e.g. a workload ID.
    public static func randomHex(_ count: Int) -> String {
        let digits: [UInt8] = Array("0123456789abcdef".utf8)
        var text: [UInt8] = []
        text.reserveCapacity(count * 2)
        for byte in randomBytes(count) {
            text.append(digits[Int(byte >> 4)])
            text.append(digits[Int(byte & 15)])
        }
        return String(decoding: text, as: UTF8.self)
    }

    /// Cryptographically secure random bytes from the kernel.
    public static func randomBytes(_ count: Int) -> [UInt8] {
        var bytes = [UInt8](repeating: 0, count: count)
        bytes.withUnsafeMutableBytes { buffer in
            var filled = 0
            while filled < buffer.count {
                // Only a kernel older than 3.17 lacks getrandom; there is no safe way on without it.
                guard let got = try? sys("getrandom", nil, { cl_getrandom(buffer.baseAddress! + filled, buffer.count - filled) }) else {
                    preconditionFailure("getrandom failed")
                }
                filled += got
            }
        }
        return bytes
    }

    /// Wall-clock time in nanoseconds since the Unix epoch.
    public static func nowNanoseconds() -> Int64 {
        var ts = timespec()
        _ = try? sys("clock_gettime") { clock_gettime(CLOCK_REALTIME, &ts) }
        return Int64(ts.tv_sec) * 1_000_000_000 + Int64(ts.tv_nsec)
    }

    /// The start time of a process in clock ticks since boot (field 22 of /proc/PID/stat), which
    /// together with the pid names one process for good: pids are reused, start times are not.
    /// Nil for a process that does not exist or has exited (a zombie).
    public static func processStartTime(_ pid: pid_t) -> UInt64? {
        startTime(statFile: "/proc/" + ASCIIDecimal.string(UInt64(pid)) + "/stat")
    }

    /// `processStartTime` of this process.
    public static func ownStartTime() -> UInt64? { startTime(statFile: "/proc/self/stat") }

    /// The parent of `pid` (/proc/PID/stat's field 4), nil once it is gone.
    public static func parentProcessID(_ pid: pid_t) -> pid_t? {
        guard let stat = try? Files.read("/proc/\(pid)/stat", limit: 4096), let close = stat.lastIndex(of: UInt8(ascii: ")")) else {
            return nil
        }
        let fields = stat[(close + 1)...].split(separator: UInt8(ascii: " "))
        guard fields.count > 1 else { return nil }
        return pid_t(String(decoding: fields[1], as: UTF8.self))
    }

    static func startTime(statFile: String) -> UInt64? {
        guard let stat = try? Files.read(statFile, limit: 4096) else { return nil }
        // The command name (field 2) may hold spaces and parentheses: fields resume after the
        // last ')'. Then come field 3 (state) onwards, so field 22 is the 20th. A zombie (Z)
        // or dead (X) process holds nothing any more.
        guard var index = stat.lastIndex(of: UInt8(ascii: ")")) else { return nil }
        var field = 2
        var value: UInt64 = 0
        index += 1
        while index < stat.count {
            let byte = stat[index]
            if byte == UInt8(ascii: " ") {
                if field == 22 { return value }
                field += 1
            } else if field == 3 && (byte == UInt8(ascii: "Z") || byte == UInt8(ascii: "X")) {
                return nil
            } else if field == 22 {
                guard byte >= 0x30 && byte <= 0x39 else { return nil }
                value = value &* 10 &+ UInt64(byte - 0x30)
            }
            index += 1
        }
        return nil
    }

    /// kill(2): sends `signal` to `pid` (0: only checks that it exists and may be signalled;
    /// ESRCH when it does not exist).
    public static func signal(_ pid: pid_t, _ signal: Int32) throws(SysError) {
        try sys("kill") { kill(pid, signal) }
    }

    /// Whether no process `pid` exists any more (kill(2) says ESRCH; one that exists but may
    /// not be signalled, EPERM, still exists).
    public static func processIsGone(_ pid: pid_t) -> Bool {
        do { try signal(pid, 0) } catch { return error.errno == ESRCH }
        return false
    }

    /// The home directory of `uid` in the user database (getpwuid), if it has one.
    public static func homeDirectory(of uid: uid_t) -> String? {
        guard let entry = getpwuid(uid), let directory = entry.pointee.pw_dir else { return nil }
        return String(cString: directory)
    }

    /// Whether the process `pid` that started at `startTime` still runs (not a zombie).
    public static func isAlive(pid: pid_t, startTime: UInt64) -> Bool {
        processStartTime(pid) == startTime
    }
}

extension System {
    /// Raises this process's soft limit on open files to its hard limit: a tree walked by
    /// descriptor holds one per level it is in.
    public static func raiseOpenFileLimit() {
        var limit = rlimit()
        let resource = __rlimit_resource_t(RLIMIT_NOFILE.rawValue)
        guard (try? sys("getrlimit") { getrlimit(resource, &limit) }) != nil, limit.rlim_cur < limit.rlim_max else { return }
        limit.rlim_cur = limit.rlim_max
        _ = try? sys("setrlimit") { setrlimit(resource, &limit) }
    }
}
