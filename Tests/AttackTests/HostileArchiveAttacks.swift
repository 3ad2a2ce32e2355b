import Foundation
import Testing

/// Archives built to exhaust `scan`: millions of findings, a value repeated millions of
/// times, nesting thousands deep, sparse entries declaring a hundred gigabytes, a
/// decompression bomb. Each one ends in bounded time and memory (peak RSS under 64 MB), with
/// output that is bounded too where it can be, and exit 2 where the scan could not look at
/// everything.
@Suite(.enabled(if: runningAsRoot, "needs root"))
struct HostileArchiveAttacks {
    static let rssLimitKiB = 64 * 1024

    /// Runs `scan ARGS` under python's getrusage: (exit status, peak RSS in KiB, stdout, stderr).
    static func scan(_ shim: Shim, _ arguments: [String], timeout: Double = 120) -> (status: Int, kilobytes: Int, stdout: String, stderr: String) {
        let out = shim.path + "/scan.out", err = shim.path + "/scan.err"
        let script = """
            import resource, subprocess, sys
            with open(sys.argv[1], "wb") as out, open(sys.argv[2], "wb") as err:
                p = subprocess.run(sys.argv[3:], stdout=out, stderr=err)
            print(p.returncode, resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss)
            """
        let result = shim(["-c", script, out, err, Shim.binary, "scan"] + arguments, executable: "/usr/bin/python3", timeout: timeout)
        let parts = result.stdout.split(separator: " ").map { Int($0.trimmingCharacters(in: .whitespacesAndNewlines)) ?? -1 }
        let stdout = (try? String(contentsOfFile: out, encoding: .utf8)) ?? ""
        let stderr = (try? String(contentsOfFile: err, encoding: .utf8)) ?? ""
        #expect(!result.timedOut, "scan \(arguments) did not finish in \(timeout) s")
        return (parts.first ?? -1, parts.count > 1 ? parts[1] : .max, stdout, stderr)
    }

    static func python(_ script: String, _ arguments: [String]) -> Int32 {
        let file = NSTemporaryDirectory() + "/secretshim-gen-\(UUID().uuidString).py"
        try! script.write(toFile: file, atomically: true, encoding: .utf8)
        defer { try? FileManager.default.removeItem(atPath: file) }
        return shell("python3 \(file) " + arguments.map { "'\($0)'" }.joined(separator: " "), timeout: 300).status
    }

    /// 300,000 empty entries under run/secrets in a .tgz of about 2 MB: every one reported,
    /// streamed (a row each), memory flat.
    @Test func aMillionFindings() throws {
        let shim = Shim()
        defer { shim.cleanUp() }
        shim.create("s", uniqueValue("many"))
        let archive = shim.path + "/many.tgz"
        let script = """
            import io, sys, tarfile
            with tarfile.open(sys.argv[1], "w:gz", compresslevel=1) as t:
                for i in range(300000):
                    info = tarfile.TarInfo("run/secrets/s%d" % i); t.addfile(info)
            """
        try #require(Self.python(script, [archive]) == 0)
        let result = Self.scan(shim, [archive])
        #expect(result.status == 1, "\(result.stderr)")
        #expect(result.kilobytes < Self.rssLimitKiB, "peak RSS \(result.kilobytes) KiB")
        #expect(result.stdout.split(separator: "\n").count == 300_001)
    }

    /// One value repeated nine million times (gzip: a few hundred kilobytes): 16 rows and a
    /// count, not nine million rows held and printed.
    @Test func oneValueRepeatedMillionsOfTimes() throws {
        let shim = Shim()
        defer { shim.cleanUp() }
        let value = uniqueValue("rep")
        shim.create("s", value)
        let archive = shim.path + "/repeated.gz"
        #expect(shell("yes '\(value)' | head -n 9000000 | gzip -1 > \(archive)", timeout: 120).status == 0)
        let result = Self.scan(shim, ["--format", "json", archive])
        #expect(result.status == 1, "\(result.stderr)")
        #expect(result.kilobytes < Self.rssLimitKiB, "peak RSS \(result.kilobytes) KiB")
        #expect(result.stdout.components(separatedBy: #""Kind":"value""#).count - 1 == 16)
        #expect(result.stdout.contains(#""Kind":"more-values","Secret":null,"Offset":null,"Count":8999984"#), "\(result.stdout.suffix(300))")
        #expect(!result.stdout.contains(value) && !result.stderr.contains(value))
    }

    /// A tar.gz nested 300 deep: scanned to the cap (64), then one line saying so, exit 2.
    @Test func archivesNestedHundredsDeep() throws {
        let shim = Shim()
        defer { shim.cleanUp() }
        let value = uniqueValue("deep")
        shim.create("s", value)
        let archive = shim.path + "/deep.tgz"
        let script = """
            import gzip, io, sys, tarfile
            data = b"pw " + sys.argv[2].encode()
            name = "leak"
            for level in range(300):
                buffer = io.BytesIO()
                with tarfile.open(fileobj=buffer, mode="w") as t:
                    info = tarfile.TarInfo(name); info.size = len(data); t.addfile(info, io.BytesIO(data))
                data = gzip.compress(buffer.getvalue(), compresslevel=1)
                name = "level%d.tgz" % level
            open(sys.argv[1], "wb").write(data)
            """
        try #require(Self.python(script, [archive, value]) == 0)
        let result = Self.scan(shim, [archive])
        #expect(result.status == 2, "\(result.stdout) \(result.stderr)")
        #expect(result.kilobytes < Self.rssLimitKiB, "peak RSS \(result.kilobytes) KiB")
        #expect(result.stderr.split(separator: "\n").count == 1 && result.stderr.contains("nested more than 64 deep"), "\(result.stderr)")
        #expect(!result.stdout.contains(value) && !result.stderr.contains(value))
    }

    /// A .tgz of a 100 GB sparse file (a few hundred bytes): its holes are skipped, not
    /// read; a value in a data block 40 GB in is found at its offset.
    @Test func sparseEntriesDeclaringHundredsOfGigabytes() throws {
        let shim = Shim()
        defer { shim.cleanUp() }
        let value = uniqueValue("sparse")
        shim.create("s", value)
        let made = shell("""
            set -e
            cd \(shim.path)
            truncate -s 100G huge
            truncate -s 50G holed
            printf 'pw %s' '\(value)' | dd of=holed bs=1 seek=42949672960 conv=notrunc status=none
            tar --sparse -czf sparse.tgz huge holed
            rm huge holed
            """, timeout: 120)
        try #require(made.status == 0, "\(made.output)")
        let started = Date()
        let result = Self.scan(shim, ["--format", "json", shim.path + "/sparse.tgz"], timeout: 60)
        #expect(Date().timeIntervalSince(started) < 30)
        #expect(result.status == 1, "\(result.stderr)")
        #expect(result.stdout.contains(#"sparse.tgz!holed","Kind":"value","Secret":"s","Offset":42949672963"#), "\(result.stdout)")
        #expect(result.kilobytes < Self.rssLimitKiB)
    }

    /// A zstd stream of 3 GiB of zeros (about 100 KB) and the same inside a tar: stopped
    /// once past 1 GiB at over 1,024 times its compressed size, with a line saying so, exit 2.
    @Test func aDecompressionBomb() throws {
        let shim = Shim()
        defer { shim.cleanUp() }
        shim.create("s", uniqueValue("bomb"))
        #expect(shell("cd \(shim.path) && head -c 3G /dev/zero | zstd -q -1 > bomb.zst && tar cf bomb.tar bomb.zst", timeout: 120).status == 0)
        for target in ["bomb.zst", "bomb.tar"] {
            let started = Date()
            let result = Self.scan(shim, [shim.path + "/" + target], timeout: 60)
            #expect(Date().timeIntervalSince(started) < 30)
            #expect(result.status == 2, "\(target): \(result.stdout) \(result.stderr)")
            #expect(result.stderr.contains("decompression bomb") && result.stderr.split(separator: "\n").count == 1, "\(target): \(result.stderr)")
            #expect(result.kilobytes < Self.rssLimitKiB)
        }
    }

    /// A compressed file whose content starts with 1,024 zero bytes (an empty tar's end
    /// marker, as a disk image or a dump may) and holds a value after them: read as the
    /// compressed file it is, not as an empty tar, so the value is found; inside a tar too.
    @Test func aCompressedFileThatLooksLikeAnEmptyTar() throws {
        let shim = Shim()
        defer { shim.cleanUp() }
        let value = uniqueValue("zeros")
        shim.create("s", value)
        #expect(shell("cd \(shim.path) && { head -c 1024 /dev/zero; printf 'pw %s' '\(value)'; } | gzip > disk.img.gz && tar cf outer.tar disk.img.gz").status == 0)
        for target in ["disk.img.gz", "outer.tar"] {
            let result = Self.scan(shim, ["--format", "json", shim.path + "/" + target])
            #expect(result.status == 1, "\(target): \(result.stdout) \(result.stderr)")
            #expect(result.stdout.contains(#"disk.img.gz","Kind":"value","Secret":"s","Offset":1027"#), "\(target): \(result.stdout)")
        }
    }
}
