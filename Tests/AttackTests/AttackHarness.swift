import Foundation
import Testing

// The adversarial suite's own harness (this target imports nothing of the others): the built
// binary run as an attacker or a victim would, with a fresh store root and state dir per test,
// every process bounded in time, private tmpfs mounts made and unmade here, and the checks
// every attack shares: no value in any output, file or mount, every error one line.

var runningAsRoot: Bool { getuid() == 0 }
let hasBusybox = FileManager.default.fileExists(atPath: "/bin/busybox")
let hasRunc = FileManager.default.fileExists(atPath: "/usr/sbin/runc") || FileManager.default.fileExists(atPath: "/usr/bin/runc")
let hasSetpriv = FileManager.default.fileExists(atPath: "/usr/bin/setpriv")

/// The built `secretshim`: `SECRETSHIM_BIN`, else the debug build.
struct Shim {
    static let packageRoot: URL = URL(fileURLWithPath: #filePath)
        .deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent()

    static let binary: String = {
        if let explicit = ProcessInfo.processInfo.environment["SECRETSHIM_BIN"], !explicit.isEmpty { return explicit }
        return packageRoot.appendingPathComponent(".build/debug/secretshim").path
    }()

    /// A fresh folder for this test (store, state dir, private mounts), removed by `cleanUp`.
    let directory: URL
    var path: String { directory.path }
    var root: String { path + "/store" }
    var state: String { path + "/state" }

    init() {
        directory = URL(fileURLWithPath: NSTemporaryDirectory()).appendingPathComponent("secretshim-attack-\(UUID().uuidString)")
        try! FileManager.default.createDirectory(at: directory, withIntermediateDirectories: true)
        chmod(directory.path, 0o755)
    }

    /// Removes the folder, after lazily unmounting anything a failed test left under it.
    func cleanUp() {
        for point in mountPoints(under: path).reversed() { _ = shell("umount -l '\(point)'") }
        try? FileManager.default.removeItem(at: directory)
    }

    /// A new folder under the test's own.
    func folder(_ name: String, mode: mode_t = 0o755) -> String {
        let folder = path + "/" + name
        try! FileManager.default.createDirectory(atPath: folder, withIntermediateDirectories: true)
        chmod(folder, mode)
        return folder
    }

    var environment: [String: String] {
        var env = ProcessInfo.processInfo.environment
        env["SECRETSHIM_ROOT"] = root
        env["SECRETSHIM_STATE_DIR"] = state
        env.removeValue(forKey: "SECRETSHIM_KEY_FILE")
        return env
    }

    /// Runs the binary (or `executable`) to the end, at most `timeout` seconds (then SIGKILL).
    @discardableResult
    func callAsFunction(
        _ arguments: [String], stdin: Data? = nil, env extra: [String: String] = [:], executable: String? = nil,
        timeout: Double = 60
    ) -> ProcessResult {
        var env = environment
        for (key, value) in extra { env[key] = value }
        let process = Spawned(executable ?? Shim.binary, arguments, env: env, stdin: stdin, in: directory)
        return process.finish(timeout: timeout)
    }

    /// Starts the binary in the background (stdio in files); the caller stops it.
    func start(_ arguments: [String], env extra: [String: String] = [:], executable: String? = nil) -> Spawned {
        var env = environment
        for (key, value) in extra { env[key] = value }
        return Spawned(executable ?? Shim.binary, arguments, env: env, stdin: nil, in: directory)
    }

    /// Creates a secret from bytes; returns its ID.
    @discardableResult
    func create(_ name: String, _ value: String, sourceLocation: SourceLocation = #_sourceLocation) -> String {
        let result = self(["secret", "create", name, "-"], stdin: Data(value.utf8))
        #expect(result.status == 0, "create \(name): \(result.stderr)", sourceLocation: sourceLocation)
        return result.stdout.trimmingCharacters(in: .whitespacesAndNewlines)
    }
}

struct ProcessResult {
    let status: Int32
    let stdout: String
    let stderr: String
    /// Killed by the harness after its time ran out.
    let timedOut: Bool
    var output: String { stdout + stderr }
}

/// A process spawned with stdin from a file (or /dev/null) and stdout/stderr into files, so
/// that no pipe can keep a test waiting; reaped with waitpid, polled, bounded.
final class Spawned: @unchecked Sendable {
    let pid: pid_t
    let outPath: String
    let errPath: String
    private var reaped: Int32?

    init(_ executable: String, _ arguments: [String], env: [String: String], stdin: Data?, in directory: URL) {
        let tag = UUID().uuidString.prefix(8)
        outPath = directory.path + "/.out-\(tag)"
        errPath = directory.path + "/.err-\(tag)"
        var inPath = "/dev/null"
        if let stdin {
            inPath = directory.path + "/.in-\(tag)"
            FileManager.default.createFile(atPath: inPath, contents: stdin)
        }
        var actions = posix_spawn_file_actions_t()
        posix_spawn_file_actions_init(&actions)
        defer { posix_spawn_file_actions_destroy(&actions) }
        posix_spawn_file_actions_addopen(&actions, 0, inPath, O_RDONLY, 0)
        posix_spawn_file_actions_addopen(&actions, 1, outPath, O_WRONLY | O_CREAT | O_TRUNC, 0o600)
        posix_spawn_file_actions_addopen(&actions, 2, errPath, O_WRONLY | O_CREAT | O_TRUNC, 0o600)
        // Nothing else of the test process (its sockets, the build lock, a FIFO end another
        // test holds) reaches the child.
        if let closeFrom = Spawned.addCloseFrom { _ = closeFrom(&actions, 3) }
        var attributes = posix_spawnattr_t()
        posix_spawnattr_init(&attributes)
        defer { posix_spawnattr_destroy(&attributes) }
        // Default signal dispositions and an empty mask, whatever the test runner has.
        var all = sigset_t()
        sigfillset(&all)
        var none = sigset_t()
        sigemptyset(&none)
        posix_spawnattr_setsigdefault(&attributes, &all)
        posix_spawnattr_setsigmask(&attributes, &none)
        posix_spawnattr_setflags(&attributes, Int16(POSIX_SPAWN_SETSIGDEF | POSIX_SPAWN_SETSIGMASK))
        let argv: [UnsafeMutablePointer<CChar>?] = ([executable] + arguments).map { strdup($0) } + [nil]
        let envp: [UnsafeMutablePointer<CChar>?] = env.map { strdup("\($0.key)=\($0.value)") } + [nil]
        defer {
            for pointer in argv { free(pointer) }
            for pointer in envp { free(pointer) }
        }
        var child: pid_t = 0
        let spawned = posix_spawn(&child, executable, &actions, &attributes, argv, envp)
        // The child has its stdin open by now (glibc's posix_spawn returns after the exec):
        // the file, which may hold a value, goes at once.
        if inPath != "/dev/null" { unlink(inPath) }
        precondition(spawned == 0, "posix_spawn \(executable): \(spawned)")
        pid = child
    }

    /// glibc's `posix_spawn_file_actions_addclosefrom_np` (2.34+), which Swift's Glibc module
    /// does not show.
    typealias AddCloseFrom = @convention(c) (UnsafeMutablePointer<posix_spawn_file_actions_t>, Int32) -> Int32
    static let addCloseFrom: AddCloseFrom? = {
        guard let symbol = dlsym(UnsafeMutableRawPointer(bitPattern: 0), "posix_spawn_file_actions_addclosefrom_np") else { return nil }
        return unsafeBitCast(symbol, to: AddCloseFrom.self)
    }()

    /// The wait status once it has exited (nil while it runs).
    func poll() -> Int32? {
        if let reaped { return reaped }
        var status: Int32 = 0
        let got = waitpid(pid, &status, WNOHANG)
        if got == pid {
            reaped = status
            return status
        }
        return nil
    }

    var isRunning: Bool { poll() == nil }

    /// Waits at most `timeout` seconds; true once exited.
    @discardableResult
    func wait(timeout: Double) -> Bool {
        let deadline = Date().addingTimeInterval(timeout)
        while poll() == nil {
            if Date() > deadline { return false }
            usleep(2_000)
        }
        return true
    }

    func signal(_ signal: Int32) { if reaped == nil { kill(pid, signal) } }

    /// Waits (SIGKILL after `timeout`) and collects status and output.
    func finish(timeout: Double = 60) -> ProcessResult {
        var timedOut = false
        if !wait(timeout: timeout) {
            timedOut = true
            signal(SIGKILL)
            wait(timeout: 10)
        }
        let status = poll() ?? 0
        let exited = status & 0x7f == 0
        let code = exited ? (status >> 8) & 0xff : 128 + (status & 0x7f)
        let result = ProcessResult(status: code, stdout: stdout, stderr: stderr, timedOut: timedOut)
        unlink(outPath)
        unlink(errPath)
        return result
    }

    var stdout: String { (try? String(contentsOfFile: outPath, encoding: .utf8)) ?? readLossy(outPath) }
    var stderr: String { (try? String(contentsOfFile: errPath, encoding: .utf8)) ?? readLossy(errPath) }

    private func readLossy(_ path: String) -> String {
        guard let data = FileManager.default.contents(atPath: path) else { return "" }
        return String(decoding: data, as: UTF8.self)
    }

    /// Stops it for good (SIGKILL) if it still runs.
    func stop() {
        signal(SIGKILL)
        wait(timeout: 10)
    }
}

/// Runs a shell command (stdout and stderr together, through a file), bounded in time.
@discardableResult
func shell(_ command: String, timeout: Double = 60) -> (status: Int32, output: String) {
    let directory = URL(fileURLWithPath: NSTemporaryDirectory())
    let process = Spawned("/bin/sh", ["-c", "exec 2>&1\n" + command], env: ProcessInfo.processInfo.environment, stdin: nil, in: directory)
    let result = process.finish(timeout: timeout)
    return (result.status, result.stdout)
}

// MARK: - Values and leaks

/// A value no grep can match by accident: `atk<tag>-` and 24 random letters and digits.
func uniqueValue(_ tag: String = "") -> String { "atk\(tag)-" + randomText(24) }

/// `count` random letters and digits.
func randomText(_ count: Int) -> String {
    let alphabet = Array("abcdefghijklmnopqrstuvwxyz0123456789")
    var generator = SystemRandomNumberGenerator()
    return String((0..<count).map { _ in alphabet.randomElement(using: &generator)! })
}

/// Every error is one line, `secretshim: <what>: <why>`, holding none of `values`.
func expectOneLineError(
    _ result: ProcessResult, contains fragment: String? = nil, values: [String] = [],
    sourceLocation: SourceLocation = #_sourceLocation
) {
    let lines = result.stderr.split(separator: "\n", omittingEmptySubsequences: true)
    #expect(lines.count == 1, "expected one error line, got: \(result.stderr)", sourceLocation: sourceLocation)
    #expect(result.stderr.hasPrefix("secretshim: "), "error shape: \(result.stderr)", sourceLocation: sourceLocation)
    if let fragment {
        #expect(result.stderr.contains(fragment), "expected '\(fragment)' in: \(result.stderr)", sourceLocation: sourceLocation)
    }
    expectNoValue(result.stderr, values, "stderr", sourceLocation: sourceLocation)
}

/// None of `values` appears in `text`.
func expectNoValue(_ text: String, _ values: [String], _ what: String, sourceLocation: SourceLocation = #_sourceLocation) {
    for value in values where text.contains(value) {
        Issue.record("a secret's value leaked into \(what): \(text.prefix(2000))", sourceLocation: sourceLocation)
    }
}

/// Files under `directory` whose content or path holds one of `values` (grep -F, binary too).
func filesHolding(_ values: [String], under directory: String) -> [String] {
    guard !values.isEmpty else { return [] }
    let patterns = NSTemporaryDirectory() + "/secretshim-attack-patterns-\(UUID().uuidString)"
    FileManager.default.createFile(atPath: patterns, contents: Data(values.joined(separator: "\n").utf8))
    defer { unlink(patterns) }
    let byContent = shell("grep -rlaF -f '\(patterns)' '\(directory)' 2>/dev/null")
    let byName = shell("find '\(directory)' 2>/dev/null | grep -F -f '\(patterns)'")
    let found = (byContent.output + byName.output).split(separator: "\n").map(String.init)
    return Array(Set(found)).sorted()
}

func expectNoFileHolds(_ values: [String], under directory: String, sourceLocation: SourceLocation = #_sourceLocation) {
    let found = filesHolding(values, under: directory)
    #expect(found.isEmpty, "a secret's value is in files under \(directory): \(found)", sourceLocation: sourceLocation)
}

// MARK: - Mounts

/// The host's mount table (this test process is in the host's mount namespace).
func hostMountInfo() -> String { readToEnd("/proc/self/mountinfo") }

/// A /proc file read to its end: such a file has no size, and a table longer than a page (the
/// mounts of an engine running alongside) came back cut at one through String(contentsOfFile:).
func readToEnd(_ path: String) -> String {
    guard let handle = FileHandle(forReadingAtPath: path) else { return "" }
    defer { try? handle.close() }
    return String(decoding: (try? handle.readToEnd()) ?? Data(), as: UTF8.self)
}

/// Mount points (field 5, octal escapes decoded) at or under `path`, outermost first.
func mountPoints(under path: String) -> [String] {
    hostMountInfo().split(separator: "\n").compactMap { line -> String? in
        let fields = line.split(separator: " ")
        guard fields.count > 4 else { return nil }
        let point = decodeMountPath(String(fields[4]))
        return point == path || point.hasPrefix(path + "/") ? point : nil
    }
}

/// The per-mount options (field 6) of the mount at exactly `path` in a mountinfo text.
func mountOptions(at path: String, in table: String) -> [String]? {
    for line in table.split(separator: "\n") {
        let fields = line.split(separator: " ")
        if fields.count > 5, decodeMountPath(String(fields[4])) == path {
            return fields[5].split(separator: ",").map(String.init)
        }
    }
    return nil
}

func decodeMountPath(_ raw: String) -> String {
    raw.replacingOccurrences(of: "\\040", with: " ").replacingOccurrences(of: "\\011", with: "\t")
        .replacingOccurrences(of: "\\012", with: "\n").replacingOccurrences(of: "\\134", with: "\\")
}

/// A tmpfs of our own on a fresh folder, for attacks that need one; unmount it in a defer.
struct PrivateTmpfs {
    let path: String

    init(at path: String, options: String = "size=64m,mode=0755") throws {
        try FileManager.default.createDirectory(atPath: path, withIntermediateDirectories: true)
        let mounted = shell("mount -t tmpfs -o '\(options)' tmpfs '\(path)'")
        try #require(mounted.status == 0, "mount tmpfs at \(path): \(mounted.output)")
        self.path = path
    }

    func unmount() {
        if shell("umount '\(path)'").status != 0 { _ = shell("umount -l '\(path)'") }
    }

    var options: String { shell("findmnt -no OPTIONS '\(path)'").output.trimmingCharacters(in: .whitespacesAndNewlines) }
}

// MARK: - Roots, bundles, processes

enum Rootfs {
    /// A minimal busybox root (busybox and its applets, passwd and group) under `directory`.
    static func make(at directory: String) throws -> String {
        let root = directory + "/rootfs"
        for folder in ["bin", "etc", "proc", "dev", "tmp"] {
            try FileManager.default.createDirectory(atPath: root + "/" + folder, withIntermediateDirectories: true)
        }
        // Copied by a child process: a writable fd held here would leak into forks of tests running
        // alongside and make exec of busybox fail with ETXTBSY.
        let copied = shell("cp /bin/busybox '\(root)/bin/busybox'")
        try #require(copied.status == 0, "cp busybox: \(copied.output)")
        for applet in ["sh", "cat", "ls", "id", "grep", "echo", "touch", "stat", "mkdir", "mount", "umount", "head", "wc",
                       "sleep", "env", "test", "find", "tr", "od", "unshare"] {
            try FileManager.default.createSymbolicLink(atPath: root + "/bin/" + applet, withDestinationPath: "busybox")
        }
        try "root:x:0:0:root:/root:/bin/sh\nnobody:x:65534:65534:nobody:/:/bin/sh\n"
            .write(toFile: root + "/etc/passwd", atomically: true, encoding: .utf8)
        try "root:x:0:\nnogroup:x:65534:\n".write(toFile: root + "/etc/group", atomically: true, encoding: .utf8)
        return root
    }

    /// A `runc spec` bundle around a busybox root, its process `args`.
    static func makeBundle(at directory: String, args: [String]) throws -> String {
        let bundle = directory + "/bundle"
        try FileManager.default.createDirectory(atPath: bundle, withIntermediateDirectories: true)
        _ = try make(at: bundle)
        let spec = shell("cd '\(bundle)' && runc spec")
        try #require(spec.status == 0, "runc spec: \(spec.output)")
        let path = URL(fileURLWithPath: bundle + "/config.json")
        var config = try JSONSerialization.jsonObject(with: Data(contentsOf: path)) as! [String: Any]
        var process = config["process"] as! [String: Any]
        process["terminal"] = false
        process["args"] = args
        config["process"] = process
        try JSONSerialization.data(withJSONObject: config).write(to: path)
        return bundle
    }
}

/// Polls `condition` every `every` microseconds (10 ms) for at most `timeout` seconds.
@discardableResult
func waitUntil(timeout: Double, every: UInt32 = 10_000, _ condition: () -> Bool) -> Bool {
    let deadline = Date().addingTimeInterval(timeout)
    while !condition() {
        if Date() > deadline { return false }
        usleep(every)
    }
    return true
}

/// The command name of a live process (`/proc/PID/comm`), nil once it is gone.
func commandName(_ pid: pid_t) -> String? {
    (try? String(contentsOfFile: "/proc/\(pid)/comm", encoding: .utf8))?.trimmingCharacters(in: .whitespacesAndNewlines)
}

/// The process's start time (/proc/PID/stat field 22), as a lease records it.
func processStartTime(_ pid: pid_t) -> String? {
    guard let stat = try? String(contentsOfFile: "/proc/\(pid)/stat", encoding: .utf8),
          let close = stat.lastIndex(of: ")") else { return nil }
    let fields = stat[stat.index(after: close)...].split(separator: " ")
    return fields.count > 19 ? String(fields[19]) : nil
}

/// Lease files (`*.lease`) in a state dir.
func leaseFiles(in directory: String) -> [String] {
    ((try? FileManager.default.contentsOfDirectory(atPath: directory)) ?? []).filter { $0.hasSuffix(".lease") }
}

/// `setpriv` arguments that run the rest as nobody, no groups.
let asNobody = ["--reuid", "65534", "--regid", "65534", "--clear-groups"]

/// `step=status` lines a probe script printed (`cmd; echo step=$?`), by step.
func statuses(_ text: String) -> [String: String] {
    var found: [String: String] = [:]
    for line in text.split(separator: "\n") {
        let parts = line.split(separator: "=", maxSplits: 1)
        if parts.count == 2 && !parts[0].contains(" ") && !parts[0].isEmpty { found[String(parts[0])] = String(parts[1]) }
    }
    return found
}
