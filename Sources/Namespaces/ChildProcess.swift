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

    /// Waits for `child` (signals are not forwarded) and returns its status as `supervise` does.
    public static func wait(_ child: pid_t) -> Int32 {
        var status: Int32 = 0
        while true {
            guard let got = try? sys("waitpid", nil, { waitpid(child, &status, 0) }) else { return 125 }
            if got == child { break }
        }
        return shellStatus(status) ?? 125
    }

    /// setsid(2): this process leads a session and process group of its own, so a signal to
    /// the caller's group (a terminal's ^C, a `kill -9 -PGID`) no longer reaches it.
    public static func startSession() { _ = try? sys("setsid") { setsid() } }

    /// A wait(2) status as a shell reports it: the exit code, or 128 + the terminating signal
    /// (WIFEXITED/WEXITSTATUS, WIFSIGNALED/WTERMSIG, which are macros C alone can call).
    static func shellStatus(_ status: Int32) -> Int32? {
        let signal = status & 0x7f
        if signal == 0 { return (status >> 8) & 0xff }
        if signal != 0x7f { return 128 + signal }
        return nil
    }

    /// Asks for `signal` when this process's parent dies (PR_SET_PDEATHSIG). Alone it has a
    /// hole: a parent that died before the call sends nothing. `ParentTie` closes it.
    public static func setParentDeathSignal(_ signal: Int32) {
        _ = try? sys("prctl") { cl_set_parent_death_signal(signal) }
    }

    /// A child that must not outlive its parent (a workload in a PID namespace, whose lease the
    /// parent holds): the parent keeps the write end of a pipe open for as long as it lives,
    /// never writing; the child, having asked for the death signal, reads its end, and EOF
    /// means the parent is gone already. getppid(2) cannot tell: it answers 0 across PID
    /// namespaces.
    public struct ParentTie: Sendable {
        let parentGone: FileDescriptor

        /// Asks for `signal` on the parent's death, then exits at once (status 137, as a
        /// SIGKILL) if it has died already. Again after every change of uid, which clears it.
        public func enforce(_ signal: Int32) {
            ChildProcess.setParentDeathSignal(signal)
            var byte: UInt8 = 0
            // Nonblocking: EAGAIN while the parent holds its end, 0 (EOF) once it is gone.
            if (try? sys("read") { Glibc.read(parentGone.rawValue, &byte, 1) }) == 0 { _exit(137) }
        }
    }

    /// `fork`, tied: in the child (0) a `ParentTie` to enforce; in the parent the child's pid
    /// (and the pipe's write end kept open, close-on-exec, until this process ends).
    public static func forkTied() throws(SysError) -> (child: pid_t, tie: ParentTie?) {
        var ends: [Int32] = [-1, -1]
        try sys("pipe") { cl_pipe_nonblocking(&ends) }
        let child: pid_t
        do { child = try fork() } catch {
            FileDescriptor(rawValue: ends[0]).close()
            FileDescriptor(rawValue: ends[1]).close()
            throw error
        }
        if child == 0 {
            FileDescriptor(rawValue: ends[1]).close()
            return (0, ParentTie(parentGone: FileDescriptor(rawValue: ends[0])))
        }
        FileDescriptor(rawValue: ends[0]).close()
        return (child, nil)
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

extension ChildProcess {
    /// What a helper program printed: its status as `wait` reports it, its stdout, its stderr.
    public struct Captured: Sendable {
        public var status: Int32
        public var output: [UInt8]
        public var errors: [UInt8]
    }

    /// Runs `arguments` (an absolute program path first) with an empty environment, `input` as
    /// its stdin, and returns what it wrote (at most `limit` bytes of stdout and 64 KiB of
    /// stderr; more is an error, EFBIG, and the child is killed). The child dies with this
    /// process (PR_SET_PDEATHSIG). For the helper programs installed beside secretshim.
    public static func capture(_ arguments: [String], input: FileDescriptor, limit: Int) throws(SysError) -> Captured {
        let (outputRead, outputWrite) = try FileDescriptor.pipe()
        let errorEnds: (FileDescriptor, FileDescriptor)
        do { errorEnds = try FileDescriptor.pipe() } catch {
            outputRead.close(); outputWrite.close()
            throw error
        }
        let child: pid_t
        do { child = try fork() } catch {
            for end in [outputRead, outputWrite, errorEnds.0, errorEnds.1] { end.close() }
            throw error
        }
        if child == 0 {
            // dup2 clears close-on-exec on the copies; the pipes' non-blocking flag is the
            // reader's concern, so the child's ends are made blocking again.
            dup2(input.rawValue, 0)
            dup2(outputWrite.rawValue, 1)
            dup2(errorEnds.1.rawValue, 2)
            for fd in Int32(1)...2 { _ = fcntl(fd, F_SETFL, fcntl(fd, F_GETFL) & ~O_NONBLOCK) }
            setParentDeathSignal(SIGKILL)
            _ = Exec.execute(arguments, environment: [], searchPath: nil)
            _exit(127)
        }
        outputWrite.close()
        errorEnds.1.close()
        defer { outputRead.close(); errorEnds.0.close() }
        var output: [UInt8] = []
        var errors: [UInt8] = []
        var open = [true, true]
        var chunk = [UInt8](repeating: 0, count: 65536)
        while open[0] || open[1] {
            var fds = [
                pollfd(fd: open[0] ? outputRead.rawValue : -1, events: Int16(POLLIN), revents: 0),
                pollfd(fd: open[1] ? errorEnds.0.rawValue : -1, events: Int16(POLLIN), revents: 0),
            ]
            _ = try sys("poll") { poll(&fds, 2, -1) }
            for (index, end) in [outputRead, errorEnds.0].enumerated() where open[index] && fds[index].revents != 0 {
                let count = chunk.withUnsafeMutableBytes { Glibc.read(end.rawValue, $0.baseAddress, $0.count) }
                if count < 0 {
                    if errno == EINTR || errno == EAGAIN { continue }
                    open[index] = false
                } else if count == 0 {
                    open[index] = false
                } else if index == 0 {
                    output += chunk[..<count]
                } else {
                    errors += chunk[..<count]
                }
                if output.count > limit || errors.count > 65536 {
                    kill(child, SIGKILL)
                    _ = wait(child)
                    throw SysError("read", arguments[0], errno: EFBIG)
                }
            }
        }
        return Captured(status: wait(child), output: output, errors: errors)
    }
}
