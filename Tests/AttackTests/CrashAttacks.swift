import Foundation
import Testing

/// A command holding the key or a value, crashed on purpose (SIGSEGV) with core dumps
/// enabled and the kernel writing cores to a file of ours: no core file appears, and the
/// crash prints none of the value (not in a register dump, not in hex). The core pattern is
/// the host's one setting: changed for the shortest time, restored in a defer, one test at a time.
@Suite(.serialized, .enabled(if: runningAsRoot && access("/proc/sys/kernel/core_pattern", W_OK) == 0, "needs root and a writable kernel.core_pattern"))
struct CrashAttacks {
    static let patternFile = "/proc/sys/kernel/core_pattern"

    /// Runs `body` with cores going to `directory/core.%e.%p`, then restores the old pattern.
    static func withCores<T>(in directory: String, _ body: () throws -> T) throws -> T {
        let old = try String(contentsOfFile: patternFile, encoding: .utf8)
        try (directory + "/core.%e.%p\n").write(toFile: patternFile, atomically: false, encoding: .utf8)
        defer { try? old.write(toFile: patternFile, atomically: false, encoding: .utf8) }
        return try body()
    }

    static func cores(in directory: String) -> [String] {
        ((try? FileManager.default.contentsOfDirectory(atPath: directory)) ?? []).filter { $0.hasPrefix("core.") }
    }

    /// What a crash report could show of `value` (random letters and digits only, see
    /// `randomText`): any 8 bytes of it, as text and as the hex bytes a register or memory
    /// dump prints.
    static func fragments(of value: String) -> [String] {
        let random = Array(value.utf8)
        var found: [String] = []
        for start in 0...(random.count - 8) {
            let bytes = random[start..<(start + 8)]
            found.append(String(decoding: bytes, as: UTF8.self))
            found.append(bytes.map { String(format: "%02x", $0) }.joined(separator: " "))
        }
        return found
    }

    static func expectNoFragment(_ text: String, of values: [String], _ what: String, sourceLocation: SourceLocation = #_sourceLocation) {
        let lowered = text.lowercased()
        for value in values {
            if let hit = fragments(of: value).first(where: { text.contains($0) || ($0.contains(" ") && lowered.contains($0)) }) {
                Issue.record("part of a secret's value ('\(hit)') is in \(what): \(text.prefix(3000))", sourceLocation: sourceLocation)
                return
            }
        }
    }

    /// The process's kernel wait channel (what it is blocked in).
    static func waitChannel(_ pid: pid_t) -> String {
        (try? String(contentsOfFile: "/proc/\(pid)/wchan", encoding: .utf8)) ?? ""
    }

    /// Sends SIGSEGV; returns whether the process then died (by SIGKILL after `grace` s if not: a
    /// crash handler may catch a SIGSEGV sent by kill and return to where it was).
    static func crash(_ process: Spawned, grace: Double = 3) -> Bool {
        process.signal(SIGSEGV)
        let died = process.wait(timeout: grace)
        if !died { process.stop() }
        return died
    }

    /// The control: a plain process of the same shell does leave a core where we look.
    @Test func theCorePatternIsHonouredForAnOrdinaryProcess() throws {
        let shim = Shim()
        defer { shim.cleanUp() }
        let cores = shim.folder("cores")
        try Self.withCores(in: cores) {
            let sleeper = Spawned("/bin/sh", ["-c", "ulimit -c unlimited; exec sleep 20"], env: [:], stdin: nil, in: shim.directory)
            #expect(waitUntil(timeout: 5) { commandName(sleeper.pid) == "sleep" })
            _ = Self.crash(sleeper)
            #expect(waitUntil(timeout: 5) { !Self.cores(in: cores).isEmpty }, "no core from a plain sleep: cores are not written here")
        }
    }

    /// `secret create x FIFO`, blocked reading the rest of a value it has partly read.
    @Test func secretCreateCrashedWhileReadingAValue() throws {
        let shim = Shim()
        defer { shim.cleanUp() }
        shim.create("warm", randomText(32))
        let value = randomText(32)
        let cores = shim.folder("cores")
        let fifo = shim.path + "/value.fifo"
        try #require(mkfifo(fifo, 0o600) == 0)
        let writer = open(fifo, O_RDWR)
        try #require(writer >= 0)
        defer { close(writer) }
        _ = value.withCString { write(writer, $0, strlen($0)) }
        try Self.withCores(in: cores) {
            let creator = shim.start(["-c", "ulimit -c unlimited; exec '\(Shim.binary)' secret create x '\(fifo)'"], executable: "/bin/sh")
            // Read what there is, then blocked for more.
            var pending: Int32 = 1
            let blocked = waitUntil(timeout: 10) {
                _ = ioctl(writer, UInt(FIONREAD), &pending)
                return pending == 0 && Self.waitChannel(creator.pid).hasSuffix("pipe_read")
            }
            #expect(blocked, "create never blocked on the FIFO: \(Self.waitChannel(creator.pid)) \(creator.stderr)")
            _ = Self.crash(creator)
            let result = creator.finish(timeout: 5)
            #expect(Self.cores(in: cores).isEmpty, "a core file: \(Self.cores(in: cores))")
            Self.expectNoFragment(result.stderr + result.stdout, of: [value], "the crashed create's output")
        }
        #expect(shim(["secret", "inspect", "x"]).status != 0, "the crashed create stored a secret")
    }

    /// `secret inspect --show-secret` of a 400 KB value, blocked writing it to a full pipe.
    @Test func secretInspectCrashedWhileWritingAValue() throws {
        let shim = Shim()
        defer { shim.cleanUp() }
        let token = randomText(32)
        let value = String(repeating: token + ".", count: 400_000 / (token.count + 1))
        shim.create("big", value)
        let cores = shim.folder("cores")
        let fifo = shim.path + "/out.fifo"
        try #require(mkfifo(fifo, 0o600) == 0)
        let reader = open(fifo, O_RDWR)
        try #require(reader >= 0)
        defer { close(reader) }
        try Self.withCores(in: cores) {
            let inspector = shim.start(["-c", "ulimit -c unlimited; exec '\(Shim.binary)' secret inspect --show-secret big > '\(fifo)'"],
                                       executable: "/bin/sh")
            let blocked = waitUntil(timeout: 10) { Self.waitChannel(inspector.pid).hasSuffix("pipe_write") }
            #expect(blocked, "inspect never blocked on the pipe: \(Self.waitChannel(inspector.pid)) \(inspector.stderr)")
            _ = Self.crash(inspector)
            let result = inspector.finish(timeout: 5)
            #expect(Self.cores(in: cores).isEmpty, "a core file: \(Self.cores(in: cores))")
            let base64 = Data((token + "." + token + "." + token + ".").utf8).base64EncodedString()
            Self.expectNoFragment(result.stderr + result.stdout, of: [token, String(base64.prefix(32))], "the crashed inspect's output")
        }
    }

    /// `scan` of a big tree, crashed while it reads a file (every value in its memory).
    @Test func scanCrashedMidway() throws {
        let shim = Shim()
        defer { shim.cleanUp() }
        let values = (0..<3).map { _ in randomText(32) }
        for (index, value) in values.enumerated() { shim.create("v\(index)", value) }
        let cores = shim.folder("cores")
        let tree = try PrivateTmpfs(at: shim.path + "/tree", options: "size=160m,mode=0755")
        defer { tree.unmount() }
        #expect(shell("for i in $(seq 1 96); do head -c 1048576 /dev/urandom > '\(tree.path)'/f$i; done").status == 0)
        try Self.withCores(in: cores) {
            var caught = false
            for _ in 0..<3 where !caught {
                let scanner = shim.start(["-c", "ulimit -c unlimited; exec '\(Shim.binary)' scan '\(tree.path)'"], executable: "/bin/sh")
                // Crashed once it has a file of the tree open: the values are loaded by then.
                caught = waitUntil(timeout: 20) {
                    let fds = (try? FileManager.default.contentsOfDirectory(atPath: "/proc/\(scanner.pid)/fd")) ?? []
                    return fds.contains { fd in
                        ((try? FileManager.default.destinationOfSymbolicLink(atPath: "/proc/\(scanner.pid)/fd/\(fd)")) ?? "")
                            .hasPrefix(tree.path + "/f")
                    } || !scanner.isRunning
                } && scanner.isRunning
                guard caught else {
                    scanner.stop()
                    continue
                }
                _ = Self.crash(scanner)
                let result = scanner.finish(timeout: 5)
                Self.expectNoFragment(result.stderr + result.stdout, of: values, "the crashed scan's output")
            }
            #expect(caught, "never caught scan mid-way")
            #expect(Self.cores(in: cores).isEmpty, "a core file: \(Self.cores(in: cores))")
        }
    }

    /// `run` of 100 secrets crashed at random moments of its launch: the shim leaves no core
    /// (a workload crashed after exec may: its memory holds no value); its output none of them.
    @Test func runCrashedDuringItsLaunch() throws {
        let shim = Shim()
        defer { shim.cleanUp() }
        var values: [String] = []
        for index in 0..<100 {
            values.append(randomText(32))
            shim.create("s\(index)", values[index])
        }
        let cores = shim.folder("cores")
        let sd = shim.folder("sd")
        let grants = (0..<100).map { "--secret s\($0)" }.joined(separator: " ")
        // A large environment: `run` compares every variable with every value before it
        // starts, which widens the moments at which a crash finds values in its registers.
        var padding: [String: String] = [:]
        for index in 0..<1500 { padding["ATK_PAD_\(index)"] = randomText(48) }
        try Self.withCores(in: cores) {
            for round in 0..<10 {
                let launch = shim.start(["-c", "ulimit -c unlimited; exec '\(Shim.binary)' run --secrets-dir '\(sd)' \(grants) -- sleep 5"],
                                        env: padding, executable: "/bin/sh")
                if round % 2 == 0 {
                    // The moment its lease names the secrets it has read (and holds in memory).
                    let lease = shim.state + "/\(launch.pid).lease"
                    _ = waitUntil(timeout: 5, every: 200) {
                        ((try? String(contentsOfFile: lease, encoding: .utf8)) ?? "").contains("\nsecret ") || !launch.isRunning
                    }
                } else {
                    usleep(UInt32.random(in: 0...60_000))
                }
                _ = Self.crash(launch, grace: 2)
                let result = launch.finish(timeout: 1)
                Self.expectNoFragment(result.stderr + result.stdout, of: values, "the crashed run's output (round \(round))")
            }
            // The shim is dumpable only before it reads anything (it leaves the core limit to
            // the workload): a core of it, or of the workload, holds no value and no key.
            let key = try Data(contentsOf: URL(fileURLWithPath: shim.root + "/master.key"))
            for core in Self.cores(in: cores) {
                let found = filesHolding(values, under: cores + "/" + core)
                #expect(found.isEmpty, "a value in the core \(core)")
                let bytes = try Data(contentsOf: URL(fileURLWithPath: cores + "/" + core))
                #expect(bytes.range(of: key) == nil, "the master key in the core \(core)")
            }
            print("run crashed during its launch: cores \(Self.cores(in: cores))")
        }
        #expect(mountPoints(under: sd).isEmpty)
    }
}
