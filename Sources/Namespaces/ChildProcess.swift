import CLinux
import Glibc

/// Forking a child and standing by it: the one place above CLinux that calls fork(2), so the
/// domain layer needs no C of its own.
public enum ChildProcess {
    /// fork(2): the child's pid in the parent, 0 in the child. Errors: EAGAIN, ENOMEM.
    public static func fork() throws(SysError) -> pid_t {
        try sys("fork") { cl_fork() }
    }

    /// The parent's side: forwards SIGHUP, SIGINT, SIGQUIT, SIGTERM, SIGUSR1, SIGUSR2 and
    /// SIGWINCH to `child`, waits for it, and returns its status as a shell reports it (the
    /// code, or 128 + the signal that killed it; 125 when it cannot be waited for).
    public static func supervise(_ child: pid_t) -> Int32 {
        _ = try? sys("sigaction") { cl_forward_signals(child) }
        var status: Int32 = 0
        while true {
            guard let got = try? sys("waitpid", nil, { waitpid(child, &status, 0) }) else { return 125 }
            if got == child { break }
        }
        return shellStatus(status) ?? 125
    }

    /// A wait(2) status as a shell reports it: the exit code, or 128 + the terminating signal
    /// (WIFEXITED/WEXITSTATUS, WIFSIGNALED/WTERMSIG, which are macros C alone can call).
    static func shellStatus(_ status: Int32) -> Int32? {
        let signal = status & 0x7f
        if signal == 0 { return (status >> 8) & 0xff }
        if signal != 0x7f { return 128 + signal }
        return nil
    }

    /// Asks for `signal` when this process's parent dies (PR_SET_PDEATHSIG): a workload forked
    /// into a PID namespace must not outlive the shim that holds its lease.
    public static func setParentDeathSignal(_ signal: Int32) {
        _ = try? sys("prctl") { cl_set_parent_death_signal(signal) }
    }

    /// This process's environment, `NAME=value` entries as execve takes them.
    public static func environment() -> [String] {
        var entries: [String] = []
        guard var pointer = cl_environ() else { return entries }
        while let entry = pointer.pointee {
            entries.append(String(cString: entry))
            pointer += 1
        }
        return entries
    }
}

extension FileDescriptor {
    /// O_PATH: a descriptor that names a file without opening it for reading or writing.
    public static let pathOnly: Int32 = CL_O_PATH
}
