import CLinux
import Glibc

/// Small facts about this process and the system, without Foundation.
public enum System {
    public static func environment(_ name: String) -> String? {
        guard let value = getenv(name) else { return nil }
        return String(cString: value)
    }

    public static var effectiveUserID: uid_t { geteuid() }
    public static var effectiveGroupID: gid_t { getegid() }
    public static var processID: pid_t { getpid() }

    /// Cryptographically secure random bytes from the kernel.
    public static func randomBytes(_ count: Int) -> [UInt8] {
        var bytes = [UInt8](repeating: 0, count: count)
        let status = bytes.withUnsafeMutableBytes { cl_random_bytes($0.baseAddress, $0.count) }
        // Only a kernel older than 3.17 lacks getrandom; there is no safe way on without it.
        precondition(status == 0, "getrandom failed")
        return bytes
    }

    /// Wall-clock time in nanoseconds since the Unix epoch.
    public static func nowNanoseconds() -> Int64 {
        var ts = timespec()
        clock_gettime(CLOCK_REALTIME, &ts)
        return Int64(ts.tv_sec) * 1_000_000_000 + Int64(ts.tv_nsec)
    }

    /// The start time of a process in clock ticks since boot (field 22 of /proc/PID/stat), which
    /// together with the pid names one process for good: pids are reused, start times are not.
    /// Nil for a process that does not exist or has exited (a zombie).
    public static func processStartTime(_ pid: pid_t) -> UInt64? {
        guard let stat = try? Files.read("/proc/\(pid)/stat", limit: 4096) else { return nil }
        // The command name (field 2) may hold spaces and parentheses: fields resume after the last ')'.
        guard let close = stat.lastIndex(of: UInt8(ascii: ")")) else { return nil }
        let fields = stat[(close + 1)...].split(separator: UInt8(ascii: " "))
        // After ')' come field 3 (state) onwards, so field 22 is at index 19. A zombie has
        // exited: it holds nothing any more.
        guard fields.count > 19, fields[0].first != UInt8(ascii: "Z"), fields[0].first != UInt8(ascii: "X")
        else { return nil }
        return UInt64(String(decoding: fields[19], as: UTF8.self))
    }

    /// Whether the process `pid` that started at `startTime` still runs (not a zombie).
    public static func isAlive(pid: pid_t, startTime: UInt64) -> Bool {
        processStartTime(pid) == startTime
    }
}
