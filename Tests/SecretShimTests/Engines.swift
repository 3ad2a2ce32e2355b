import Foundation
import Testing

/// The real engines, started by the tests themselves with private roots, so nothing is pulled
/// and nothing of the host's own Docker or Podman is touched. secretshim is registered as a
/// runtime named `secretshim`, through a `secretshim-runtime` link to the built binary, and
/// sees the test's own store and state dir.
enum Engines {
    static var haveDocker: Bool { FileManager.default.isExecutableFile(atPath: "/usr/sbin/dockerd") }
    static var havePodman: Bool { FileManager.default.isExecutableFile(atPath: "/usr/bin/podman") }

    /// The busybox-static root of RootfsTests, as a tar an engine can `import`.
    static func busyboxTar(in directory: URL) throws -> String {
        let root = try RootfsTests.makeRootfs(at: directory.appendingPathComponent("image"))
        try FileManager.default.createDirectory(atPath: root + "/root", withIntermediateDirectories: true)
        try FileManager.default.createDirectory(atPath: root + "/run", withIntermediateDirectories: true)
        let tar = directory.appendingPathComponent("busybox.tar").path
        #expect(shell("tar -C \(root) -cf \(tar) .").status == 0)
        return tar
    }

    /// A directory with `secretshim-runtime`: a script that runs the link with the test's
    /// store (Podman's conmon does not pass its environment on; dockerd does, but the same
    /// script serves both).
    static func runtimeWrapper(for shim: Shim) throws -> String {
        let bin = shim.directory.appendingPathComponent("bin")
        try FileManager.default.createDirectory(at: bin, withIntermediateDirectories: true)
        let link = bin.appendingPathComponent("secretshim-runtime").path
        try? FileManager.default.createSymbolicLink(atPath: link, withDestinationPath: Shim.binary)
        let script = bin.appendingPathComponent("runtime").path
        // Written by a child process, for the reason RootfsTests copies busybox with `cp`.
        let written = shell("""
            cat > '\(script)' <<'EOF'
            #!/bin/sh
            SECRETSHIM_ROOT='\(shim.root)' SECRETSHIM_STATE_DIR='\(shim.state)' exec '\(link)' "$@"
            EOF
            chmod 755 '\(script)'
            """)
        #expect(written.status == 0, "\(written.output)")
        return script
    }

    /// What the host still has of the container's secrets: tmpfs mounts under the state dir,
    /// staged folders, leases.
    static func leftovers(_ shim: Shim) -> [String] {
        var found: [String] = []
        let mounts = String(decoding: (try? FileHandle(forReadingFrom: URL(fileURLWithPath: "/proc/self/mountinfo")).readToEnd()) ?? Data(), as: UTF8.self)
        for line in mounts.split(separator: "\n") where line.contains(shim.state) { found.append("mount: \(line)") }
        for entry in (try? FileManager.default.contentsOfDirectory(atPath: shim.state + "/containers")) ?? [] {
            found.append("staged: \(entry)")
        }
        for entry in (try? FileManager.default.contentsOfDirectory(atPath: shim.state + "/outside")) ?? [] {
            found.append("staged outside /run/secrets: \(entry)")
        }
        for entry in (try? FileManager.default.contentsOfDirectory(atPath: shim.state)) ?? [] where entry.hasSuffix(".lease") {
            found.append("lease: \(entry)")
        }
        return found
    }

    /// Polls `condition` for up to `seconds`.
    static func eventually(_ seconds: Double = 10, _ condition: () -> Bool) -> Bool {
        let deadline = Date().addingTimeInterval(seconds)
        while Date() < deadline {
            if condition() { return true }
            usleep(100_000)
        }
        return condition()
    }
}

/// Debian's dockerd (20.10), with `--bridge=none --iptables=false`, private data and exec roots
/// and socket, and its own containerd.
final class PrivateDockerd {
    let directory: URL
    let execRoot: String
    let socket: String
    let process = Process()

    /// A runtime registered in a `daemon.json` besides `secretshim`: its `path` (the test's
    /// wrapper script when nil) and `runtimeArgs`, which dockerd puts before runc's own flags.
    struct Runtime {
        var name: String
        var path: String?
        var arguments: [String]
    }

    /// `runtimes`: more runtimes, registered with `secretshim` in a `daemon.json` given with
    /// `--config-file` (dockerd refuses runtimes both as flags and in the file); none: the
    /// `--add-runtime` flag alone, as before.
    init(shim: Shim, runtimes: [Runtime] = []) throws {
        directory = shim.directory.appendingPathComponent("dockerd")
        try FileManager.default.createDirectory(at: directory, withIntermediateDirectories: true)
        // containerd's sockets live under the exec root: keep its path short.
        execRoot = "/run/sst-" + UUID().uuidString.prefix(8).lowercased()
        socket = directory.appendingPathComponent("docker.sock").path
        let runtime = try Engines.runtimeWrapper(for: shim)
        process.executableURL = URL(fileURLWithPath: "/usr/sbin/dockerd")
        process.arguments = [
            "--bridge=none", "--iptables=false", "--ip6tables=false",
            "--data-root", directory.appendingPathComponent("data").path, "--exec-root", execRoot,
            "--pidfile", directory.appendingPathComponent("docker.pid").path, "-H", "unix://" + socket,
        ]
        if runtimes.isEmpty {
            process.arguments! += ["--add-runtime", "secretshim=" + runtime]
        } else {
            var registered: [String: Any] = ["secretshim": ["path": runtime]]
            for extra in runtimes { registered[extra.name] = ["path": extra.path ?? runtime, "runtimeArgs": extra.arguments] }
            let config = directory.appendingPathComponent("daemon.json")
            try JSONSerialization.data(withJSONObject: ["runtimes": registered], options: [.prettyPrinted, .sortedKeys]).write(to: config)
            process.arguments! += ["--config-file", config.path]
        }
        let log = directory.appendingPathComponent("dockerd.log")
        #expect(FileManager.default.createFile(atPath: log.path, contents: nil))
        let handle = try FileHandle(forWritingTo: log)
        process.standardOutput = handle
        process.standardError = handle
        process.standardInput = FileHandle.nullDevice
        try process.run()
        let up = Engines.eventually(30) { docker("info --format '{{.ServerVersion}}'").status == 0 }
        #expect(up, "dockerd did not start: \((try? String(contentsOf: log, encoding: .utf8)) ?? "")")
    }

    @discardableResult
    func docker(_ arguments: String) -> (status: Int32, output: String) {
        shell("/usr/bin/docker -H unix://\(socket) \(arguments)")
    }

    func stop() {
        _ = docker("ps -aq | xargs -r /usr/bin/docker -H unix://\(socket) rm -f")
        process.terminate()
        _ = Engines.eventually(20) { !process.isRunning }
        if process.isRunning { kill(process.processIdentifier, SIGKILL) }
        // Whatever an interrupted run left mounted (overlays, shm) goes before the folders.
        _ = shell("grep -E '\(directory.path)|\(execRoot)' /proc/self/mountinfo | awk '{print $5}' | sort -r | xargs -r -n1 umount -l")
        _ = shell("pkill -f \(execRoot)")
        _ = Engines.eventually(10) { shell("rm -rf \(execRoot)").status == 0 && !FileManager.default.fileExists(atPath: execRoot) }
    }
}

/// Podman (4.3) with runc, private storage and run roots, cgroupfs, and the ulimits this VM's
/// hybrid cgroups need.
struct PrivatePodman {
    let command: String
    /// Podman refuses a run root longer than 50 characters.
    let runRoot = "/run/ssp-" + UUID().uuidString.prefix(8).lowercased()
    let ulimits = "--ulimit nofile=20000:20000 --ulimit nproc=32768:32768"

    init(shim: Shim) throws {
        let directory = shim.directory.appendingPathComponent("podman").path
        let runtime = try Engines.runtimeWrapper(for: shim)
        command = "podman --root \(directory)/root --runroot \(runRoot) --tmpdir \(directory)/tmp "
            + "--cgroup-manager cgroupfs --events-backend file --runtime \(runtime)"
    }

    @discardableResult
    func podman(_ arguments: String) -> (status: Int32, output: String) { shell("\(command) \(arguments)") }

    func stop() {
        _ = podman("rm -af -t 0")
        _ = podman("system reset -f")
        _ = shell("rm -rf \(runRoot)")
    }
}
