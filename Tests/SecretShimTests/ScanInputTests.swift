import Foundation
import Testing

/// `scan` on what real images hold and what a newcomer's tree holds: compressed files,
/// folders the user cannot open, paths longer than PATH_MAX, entry names that are not
/// canonical or hold control bytes, and a store of many large secrets.
struct ScanInputTests {
    static let value = "planted-secret-value-0123456789"

    /// Every Debian image holds changelog.Debian.gz: clean, not an error. A value inside a
    /// .gz, .xz, .zst, .bz2 or .lz4 file, alone or inside a tar, is found; a damaged stream is
    /// one line naming it, the rest is still scanned, and the exit status is 2.
    @Test func compressedFilesAreDecompressedAndScanned() throws {
        let shim = Shim()
        defer { shim.cleanUp() }
        shim.create("api_key", Self.value + "\n")
        let root = shim.directory.appendingPathComponent("r").path
        let made = shell("""
            set -e
            mkdir -p \(root)/usr/share/doc/p \(root)/leaks
            echo x | gzip > \(root)/usr/share/doc/p/changelog.Debian.gz
            cd \(root)/leaks
            for tool in gzip xz zstd bzip2 lz4; do printf 'pw %s\\n' \(Self.value) | $tool -c > leak.$tool; done
            """)
        try #require(made.status == 0, "\(made.output)")
        let clean = shim(["scan", root + "/usr"])
        #expect(clean.status == 0, "\(clean.stdout) \(clean.stderr)")
        #expect(clean.stderr.isEmpty)

        let leaks = shim(["scan", "--format", "json", root])
        #expect(leaks.status == 1, "\(leaks.stderr)")
        for tool in ["gzip", "xz", "zstd", "bzip2", "lz4"] {
            #expect(leaks.stdout.contains(#""Path":"\#(root)/leaks/leak.\#(tool)","Kind":"value","Secret":"api_key","Offset":3"#),
                    "leak.\(tool): \(leaks.stdout)")
        }
        #expect(!leaks.stdout.contains(Self.value) && !leaks.stderr.contains(Self.value))

        // Inside a tar, and inside a tar inside a gzip tar.
        #expect(shell("cd \(root)/leaks && tar cf inner.tar leak.xz && tar czf \(root)/outer.tgz inner.tar leak.zstd").status == 0)
        let nested = shim(["scan", root + "/outer.tgz"])
        #expect(nested.status == 1)
        #expect(nested.stdout.contains("outer.tgz!inner.tar!leak.xz") && nested.stdout.contains("outer.tgz!leak.zstd"), "\(nested.stdout)")

        // A damaged gzip between clean files and a leak: reported, and the leak still found.
        #expect(shell("printf '\\037\\213\\010\\000garbage' > \(root)/leaks/aa-damaged.gz").status == 0)
        let damaged = shim(["scan", root + "/leaks"])
        #expect(damaged.status == 2)
        expectOneLineError(damaged, contains: "aa-damaged.gz")
        #expect(damaged.stdout.contains("leak.gzip") && damaged.stdout.contains("leak.lz4"), "\(damaged.stdout)")
    }

    /// A folder the scanning user cannot open (root without CAP_DAC_OVERRIDE and
    /// CAP_DAC_READ_SEARCH, as a scan in a hardened job runs): one line naming it, the rest
    /// scanned, exit 2. A clean tree is never reported clean when part of it was not read.
    @Test(.enabled(if: getuid() == 0 && FileManager.default.fileExists(atPath: "/usr/bin/setpriv"), "needs root and setpriv"))
    func whatCannotBeReadIsNotClean() throws {
        let shim = Shim()
        defer { shim.cleanUp() }
        shim.create("api_key", Self.value)
        let tree = shim.directory.appendingPathComponent("tree").path
        #expect(shell("""
            set -e
            mkdir -p \(tree)/closed \(tree)/open
            printf %s \(Self.value) > \(tree)/closed/f
            printf %s \(Self.value) > \(tree)/open/f
            printf %s \(Self.value) > \(tree)/unreadable
            chown -R 65534:65534 \(tree)/closed \(tree)/unreadable
            chmod 0700 \(tree)/closed; chmod 0600 \(tree)/unreadable
            chmod 0755 \(shim.directory.path)
            """).status == 0)
        let withoutOverride = ["--reuid=0", "--bounding-set=-dac_override,-dac_read_search", "--inh-caps=-all", Shim.binary, "scan", tree]
        let result = shim(withoutOverride, executable: "/usr/bin/setpriv")
        #expect(result.status == 2, "\(result.stdout) \(result.stderr)")
        let lines = result.stderr.split(separator: "\n")
        #expect(lines.count == 2, "\(result.stderr)")
        #expect(lines.contains { $0.contains("\(tree)/closed") && $0.contains("Permission denied") }, "\(result.stderr)")
        #expect(lines.contains { $0.contains("\(tree)/unreadable") && $0.contains("Permission denied") }, "\(result.stderr)")
        #expect(result.stdout.contains("\(tree)/open/f"))
        #expect(!result.stdout.contains(Self.value) && !result.stderr.contains(Self.value))
        // The same tree, everything readable: the closed folder's value is found.
        let full = shim(["scan", tree])
        #expect(full.status == 1 && full.stdout.contains("\(tree)/closed/f"), "\(full.stdout)")
    }

    /// A value 60 folders of 100 characters down (a path of about 6,000 bytes, past PATH_MAX):
    /// found, walked by descriptor.
    @Test func pathsLongerThanPathMax() throws {
        let shim = Shim()
        defer { shim.cleanUp() }
        shim.create("api_key", Self.value)
        let tree = shim.directory.appendingPathComponent("deep").path
        let name = String(repeating: "d", count: 100)
        // Python: relative mkdir and chdir, which a shell's `cd` (tracking the whole path) refuses past PATH_MAX.
        let script = "import os,sys; os.mkdir(sys.argv[1]); os.chdir(sys.argv[1])\nfor i in range(60): os.mkdir(sys.argv[2]); os.chdir(sys.argv[2])\nopen('leak','w').write(sys.argv[3])"
        #expect(shell("python3 -c \"\(script)\" \(tree) \(name) \(Self.value)").status == 0)
        let result = shim(["scan", "--format", "json", tree])
        #expect(result.status == 1, "\(result.stderr)")
        let expected = tree + String(repeating: "/" + name, count: 60) + "/leak"
        #expect(expected.utf8.count > 4096)
        #expect(result.stdout.contains(#""Path":"\#(expected)","Kind":"value""#), "\(result.stdout.prefix(300))")
    }

    /// Entry names as a hostile tar writes them: `run//secrets/a`, `./run/./secrets/b` and
    /// `x/../run/secrets/c` are entries under run/secrets; a name with an escape sequence and
    /// a carriage return (which would erase the line on a terminal) is printed escaped.
    @Test func entryNamesAreNormalizedAndEscaped() throws {
        let shim = Shim()
        defer { shim.cleanUp() }
        shim.create("api_key", Self.value)
        let tar = shim.directory.appendingPathComponent("hostile.tar").path
        let script = """
            import io, sys, tarfile
            with tarfile.open(sys.argv[1], "w", format=tarfile.GNU_FORMAT) as t:
                for name, data in [("run//secrets/a", b""), ("./run/./secrets/b", b"x"), ("x/../run/secrets/c", b""),
                                   ("app/\\x1b[2K\\rinnocent", sys.argv[2].encode()), ("run/secretsX/not", b"")]:
                    info = tarfile.TarInfo(name); info.size = len(data); t.addfile(info, io.BytesIO(data))
            """
        #expect(shell("python3 -c '\(script.replacingOccurrences(of: "'", with: "'\\''"))' \(tar) \(Self.value)").status == 0)
        let result = shim(["scan", tar])
        #expect(result.status == 1, "\(result.stderr)")
        for entry in ["run/secrets/a", "run/secrets/b", "run/secrets/c"] {
            #expect(result.stdout.contains("hostile.tar!\(entry)\n"), "\(entry): \(result.stdout)")
        }
        #expect(!result.stdout.contains("secretsX"))
        #expect(result.stdout.contains("app/\\x1b[2K\\rinnocent"), "\(result.stdout)")
        #expect(!result.stdout.contains("\u{1b}") && !result.stdout.contains("\r"))
    }

    /// 500 secrets of 256 KiB (128 MB of values; the old automaton needed about 1 KiB per
    /// value byte, 128 GB): scan's peak RSS stays under 64 MB, and a value split across reads
    /// is still found.
    @Test func memoryDoesNotGrowWithTheSecrets() throws {
        let shim = Shim()
        defer { shim.cleanUp() }
        // Made by the release build where there is one (the debug build's sealing takes
        // minutes for 128 MB). Each value distinct in its first 32 bytes (a window of its
        // own), the rest shared.
        let maker = FileManager.default.isExecutableFile(atPath: Shim.staticBinary) ? Shim.staticBinary : Shim.binary
        let made = shell("""
            set -e
            export SECRETSHIM_ROOT=\(shim.root) SECRETSHIM_STATE_DIR=\(shim.state)
            tail=$(head -c 196608 /dev/urandom | base64 -w0)
            for i in $(seq 0 498); do { head -c 24 /dev/urandom | base64 -w0; printf %s "$tail"; } | \(maker) secret create big$i - >/dev/null; done
            """)
        try #require(made.status == 0, "\(made.output)")
        var generator = SystemRandomNumberGenerator()
        let planted = (0..<262_176).map { _ in UInt8.random(in: 0x21...0x7E, using: &generator) }
        #expect(shim(["secret", "create", "big499", "-"], stdin: Data(planted), executable: maker).status == 0)
        let tree = shim.directory.appendingPathComponent("tree")
        try FileManager.default.createDirectory(at: tree, withIntermediateDirectories: true)
        try Data(repeating: 0x20, count: 100_000).write(to: tree.appendingPathComponent("clean"))
        try (Data(repeating: 0x20, count: 40_000) + Data(planted) + Data(repeating: 0x20, count: 10)).write(to: tree.appendingPathComponent("leak"))
        let script = "import resource,subprocess,sys; p=subprocess.run(sys.argv[1:]); print(p.returncode, resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss)"
        let result = shim(["-c", script, maker, "scan", "--format", "json", tree.path], executable: "/usr/bin/python3")
        let last = result.stdout.split(separator: "\n").last.map(String.init) ?? ""
        let parts = last.split(separator: " ")
        try #require(parts.count == 2, "\(result.stdout) \(result.stderr)")
        #expect(parts[0] == "1")
        let kilobytes = Int(parts[1]) ?? .max
        #expect(kilobytes < 64 * 1024, "peak RSS \(kilobytes) KiB")
        #expect(result.stdout.contains(#""Path":"\#(tree.path)/leak","Kind":"value","Secret":"big499","Offset":40000"#), "\(result.stdout)")
    }
}
