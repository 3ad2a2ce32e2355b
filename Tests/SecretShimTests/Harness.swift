import Foundation
import Testing

/// Runs the built `secretshim` binary as a user would, in the style of ArgumentParser's
/// `AssertExecuteCommand`: arguments in, stdout/stderr/exit status out.
struct Shim {
    static let packageRoot: URL = URL(fileURLWithPath: #filePath)
        .deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent()

    /// `SECRETSHIM_BIN` if set (e.g. the static release build), else the debug build.
    static let binary: String = {
        if let explicit = ProcessInfo.processInfo.environment["SECRETSHIM_BIN"], !explicit.isEmpty { return explicit }
        return packageRoot.appendingPathComponent(".build/debug/secretshim").path
    }()

    /// The fully static release build, for images: `SECRETSHIM_STATIC_BIN`, else scripts/build's.
    static let staticBinary: String = {
        if let explicit = ProcessInfo.processInfo.environment["SECRETSHIM_STATIC_BIN"], !explicit.isEmpty { return explicit }
        return packageRoot.appendingPathComponent(".build/release/secretshim").path
    }()

    static var isRoot: Bool { getuid() == 0 }

    /// A fresh store root and state dir, removed at deinit.
    let directory: URL
    var root: String { directory.appendingPathComponent("store").path }
    var state: String { directory.appendingPathComponent("state").path }

    init() {
        directory = URL(fileURLWithPath: NSTemporaryDirectory()).appendingPathComponent("secretshim-test-\(UUID().uuidString)")
        try! FileManager.default.createDirectory(at: directory, withIntermediateDirectories: true)
    }

    func cleanUp() { try? FileManager.default.removeItem(at: directory) }

    struct Result {
        let status: Int32
        let stdout: String
        let stderr: String
        var stdoutBytes: Data
    }

    var environment: [String: String] {
        var env = ProcessInfo.processInfo.environment
        env["SECRETSHIM_ROOT"] = root
        env["SECRETSHIM_STATE_DIR"] = state
        env.removeValue(forKey: "SECRETSHIM_KEY_FILE")
        return env
    }

    @discardableResult
    func callAsFunction(_ arguments: [String], stdin: Data? = nil, env extra: [String: String] = [:], executable: String? = nil) -> Result {
        let process = Process()
        process.executableURL = URL(fileURLWithPath: executable ?? Shim.binary)
        process.arguments = arguments
        var env = environment
        for (key, value) in extra { env[key] = value }
        process.environment = env
        let out = Pipe(), err = Pipe(), input = Pipe()
        process.standardOutput = out
        process.standardError = err
        process.standardInput = input
        try! process.run()
        if let stdin { input.fileHandleForWriting.write(stdin) }
        try? input.fileHandleForWriting.close()
        // Read both pipes concurrently so a chatty child cannot block on a full pipe.
        final class Box: @unchecked Sendable { var data = Data() }
        let errBox = Box()
        let group = DispatchGroup()
        group.enter()
        DispatchQueue.global().async {
            errBox.data = err.fileHandleForReading.readDataToEndOfFile()
            group.leave()
        }
        let outData = out.fileHandleForReading.readDataToEndOfFile()
        group.wait()
        let errData = errBox.data
        process.waitUntilExit()
        return Result(
            status: process.terminationStatus, stdout: String(decoding: outData, as: UTF8.self),
            stderr: String(decoding: errData, as: UTF8.self), stdoutBytes: outData)
    }

    /// Runs with stdio on /dev/null and returns the status: for calls that leave a process
    /// behind holding their stdio (`runtime create`), whose pipes would never reach EOF.
    func detached(_ arguments: [String]) -> Int32 {
        let process = Process()
        process.executableURL = URL(fileURLWithPath: Shim.binary)
        process.arguments = arguments
        process.environment = environment
        process.standardInput = FileHandle.nullDevice
        process.standardOutput = FileHandle.nullDevice
        process.standardError = FileHandle.nullDevice
        try! process.run()
        process.waitUntilExit()
        return process.terminationStatus
    }

    /// The operator's signed request (`secretshim grant`) for `;`-separated specs; nil when
    /// `grant` refuses them (a missing secret, a bad spec).
    func signed(_ specs: String, expires: String? = nil) -> String? {
        let result = self(["grant"] + (expires.map { ["--expires", $0] } ?? []) + specs.split(separator: ";").map(String.init))
        guard result.status == 0 else { return nil }
        return result.stdout.trimmingCharacters(in: .whitespacesAndNewlines)
    }

    /// Creates a secret from bytes through stdin; returns its ID.
    @discardableResult
    func create(_ name: String, _ value: String, labels: [String] = []) -> String {
        let result = self(["secret", "create"] + labels.flatMap { ["--label", $0] } + [name, "-"], stdin: Data(value.utf8))
        #expect(result.status == 0, "create \(name): \(result.stderr)")
        return result.stdout.trimmingCharacters(in: .whitespacesAndNewlines)
    }
}

/// Every error is one line, `secretshim: <what>: <why>`.
func expectOneLineError(_ result: Shim.Result, contains fragment: String? = nil, sourceLocation: SourceLocation = #_sourceLocation) {
    let lines = result.stderr.split(separator: "\n", omittingEmptySubsequences: true)
    #expect(lines.count == 1, "expected one error line, got: \(result.stderr)", sourceLocation: sourceLocation)
    #expect(result.stderr.hasPrefix("secretshim: "), "error shape: \(result.stderr)", sourceLocation: sourceLocation)
    if let fragment {
        #expect(result.stderr.contains(fragment), "expected '\(fragment)' in: \(result.stderr)", sourceLocation: sourceLocation)
    }
}

/// Runs a shell command, returning its exit status and output (stdout and stderr together).
/// Spawned and reaped directly, output through a file: Foundation's `Process` can miss the exit
/// of a shell whose grandchildren daemonize (Podman's conmon), and a daemon that inherits a
/// pipe keeps it from ever reaching EOF.
@discardableResult
func shell(_ command: String) -> (status: Int32, output: String) {
    let output = NSTemporaryDirectory() + "/secretshim-shell-\(UUID().uuidString)"
    defer { unlink(output) }
    let script = "exec </dev/null >'\(output)' 2>&1\n" + command
    var pid: pid_t = 0
    let argv: [UnsafeMutablePointer<CChar>?] = [strdup("/bin/sh"), strdup("-c"), strdup(script), nil]
    defer { for pointer in argv { free(pointer) } }
    guard posix_spawn(&pid, "/bin/sh", nil, nil, argv, environ) == 0 else { return (127, "posix_spawn failed") }
    var status: Int32 = 0
    while waitpid(pid, &status, 0) == -1 && errno == EINTR {}
    let text = (try? String(contentsOfFile: output, encoding: .utf8)) ?? ""
    let exited = status & 0x7f == 0
    return (exited ? (status >> 8) & 0xff : 128 + (status & 0x7f), text)
}
