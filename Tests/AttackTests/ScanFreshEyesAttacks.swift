import Foundation
import Testing

/// What a fresh-eyes attack on `scan` found, each kept as the attack it was: a value or a
/// run/secrets entry that a container or an extractor exposes, which `scan` called clean; a
/// value printed; a name that forged output; work without bound.
@Suite(.enabled(if: runningAsRoot, "needs root"))
struct ScanFreshEyesAttacks {
    static let value = "S3cr3tV4lue_ABCDEFGHIJKLMNOPQRSTUVWXYZ_0123456789"

    func scan(_ shim: Shim, _ arguments: [String]) -> ProcessResult {
        let result = shim(["scan"] + arguments, timeout: 120)
        #expect(!result.timedOut)
        expectNoValue(result.stdout, [Self.value, "hunter2"], "scan's stdout")
        expectNoValue(result.stderr, [Self.value, "hunter2"], "scan's stderr")
        return result
    }

    func store(_ shim: Shim) {
        shim.create("long", Self.value)
        shim.create("short", "hunter2")
        #expect(shim(["secret", "create", "latin", "-"], stdin: Data([0x70, 0x61, 0x73, 0x73, 0xF6] + Array("rd_latin1_value".utf8))).status == 0)
        shim.create("ctl", "bell\u{8}form\u{c}value_XYZ123")
        shim.create("uni", "päss_wörd_unicode_value")
        shim.create("url", "https://user:pw@example.com/path")
    }

    /// A v7 tar (no "ustar" magic) holding a run/secrets entry and a gzip of the value: GNU
    /// tar, Go and Python extract it.
    @Test func v7Tars() throws {
        let shim = Shim()
        defer { shim.cleanUp() }
        store(shim)
        #expect(shell("""
            set -e; cd \(shim.path); mkdir -p r/run/secrets o/var/run/secrets; echo x > r/run/secrets/tok; echo x > o/var/run/secrets/db
            tar cf old.tar -C o var
            printf 'KEY=%s\\n' '\(Self.value)' | gzip > conf.gz
            tar --format=v7 -cf a.tar -C r run; tar --format=v7 -cf b.tar conf.gz
            """).status == 0)
        let a = scan(shim, [shim.path + "/a.tar"])
        #expect(a.status == 1 && a.stdout.contains("a.tar!run/secrets/tok"), "\(a.stdout)")
        // An older layout: /run links to /var/run, where the secrets then are.
        for target in ["o", "old.tar"] {
            let old = scan(shim, [shim.path + "/" + target])
            #expect(old.status == 1 && old.stdout.contains("var/run/secrets/db"), "\(target): \(old.stdout)")
        }
        let b = scan(shim, [shim.path + "/b.tar"])
        #expect(b.status == 1 && b.stdout.contains("b.tar!conf.gz"), "\(b.stdout)")
    }

    /// Bytes outside the decoded stream (data after a gzip, bzip2 or lz4 stream) are in the
    /// file all the same; lz4's legacy frame and a zstd stream after a skippable frame are
    /// decompressed.
    @Test func bytesAroundAndFormatsOfCompressedStreams() throws {
        let shim = Shim()
        defer { shim.cleanUp() }
        store(shim)
        #expect(shell("""
            set -e; cd \(shim.path)
            for c in gzip bzip2 lz4; do (echo hi | $c -c; printf %s '\(Self.value)') > t.$c; done
            printf 'pw %s\\n' '\(Self.value)' | lz4 -l -c > legacy.lz4
            { printf '\\120\\052\\115\\030\\004\\000\\000\\000abcd'; printf 'pw %s\\n' '\(Self.value)' | zstd -q -c; } > skippable.zst
            """).status == 0)
        for name in ["t.gzip", "t.bzip2", "t.lz4", "legacy.lz4", "skippable.zst"] {
            let result = scan(shim, [shim.path + "/" + name])
            #expect(result.status == 1 && result.stdout.contains("long"), "\(name): \(result.status) \(result.stdout) \(result.stderr)")
        }
    }

    /// A docker-save-like tar whose layer.tar is stored sparse: its holes read as zeros, so
    /// the layer's entries (a run/secrets entry, a gzip holding the value) are where an
    /// extractor finds them.
    @Test func aSparseLayerInsideASavedImage() throws {
        let shim = Shim()
        defer { shim.cleanUp() }
        store(shim)
        let script = Shim.packageRoot.appendingPathComponent("Tests/AttackTests/Fixtures/sparse_layer.py").path
        #expect(shell("python3 \(script) \(shim.path)/outer.tar '\(Self.value)'").status == 0)
        let result = scan(shim, [shim.path + "/outer.tar"])
        #expect(result.status == 1, "\(result.stdout) \(result.stderr)")
        #expect(result.stdout.contains("layer.tar!run/secrets/tok") && result.stdout.contains("layer.tar!etc/app.conf.gz"), "\(result.stdout)")
    }

    /// Values in a link's target, in a name that is not UTF-8, and short values in names:
    /// found, never printed (not even the short one, not even in a warning).
    @Test func namesLinksAndShortOrForeignValues() throws {
        let shim = Shim()
        defer { shim.cleanUp() }
        store(shim)
        #expect(shell("""
            set -e; cd \(shim.path); mkdir -p d l s
            ln -s '/etc/\(Self.value)' d/link
            touch "l/$(printf 'pass\\366rd_latin1_value').txt"
            touch s/my-hunter2.txt; mkfifo s/my-hunter2-pipe
            tar cf d.tar -C d . && tar cf l.tar -C l .
            """).status == 0)
        for target in ["d", "d.tar"] {
            let result = scan(shim, [shim.path + "/" + target])
            #expect(result.status == 1 && result.stdout.contains("long"), "\(target): \(result.stdout)")
        }
        for target in ["l", "l.tar"] {
            let result = scan(shim, [shim.path + "/" + target])
            #expect(result.status == 1 && result.stdout.contains("<secret latin>"), "\(target): \(result.stdout)")
            #expect(!result.stdout.contains("rd_latin1_value"), "\(target): \(result.stdout)")
        }
        let short = scan(shim, [shim.path + "/s"])
        #expect(short.stderr.contains("<secret short>"), "\(short.stderr)")
    }

    /// JSON as other encoders write it: Go 1.22+ (\b, \f), Python's ensure_ascii (\u00e4),
    /// escaped solidus (\/).
    @Test func otherJSONEncodings() throws {
        let shim = Shim()
        defer { shim.cleanUp() }
        store(shim)
        let tree = shim.folder("cfg")
        try #"{"Env":["X=bell\bform\fvalue_XYZ123"]}"#.write(toFile: tree + "/go.json", atomically: true, encoding: .utf8)
        try #"{"Env":["X=p\u00e4ss_w\u00f6rd_unicode_value"]}"#.write(toFile: tree + "/py.json", atomically: true, encoding: .utf8)
        try #"{"Env":["X=https:\/\/user:pw@example.com\/path"]}"#.write(toFile: tree + "/php.json", atomically: true, encoding: .utf8)
        let result = scan(shim, ["--format", "json", tree])
        for (file, secret) in [("go.json", "ctl"), ("py.json", "uni"), ("php.json", "url")] {
            #expect(result.stdout.contains(#"cfg/\#(file)","Kind":"value","Secret":"\#(secret)""#), "\(file): \(result.stdout)")
        }
    }

    /// C1 controls and bidirectional overrides in a name are printed escaped.
    @Test func namesWithC1ControlsAndBidiOverrides() throws {
        let shim = Shim()
        defer { shim.cleanUp() }
        store(shim)
        let tree = shim.folder("t")
        for name in ["csi\u{9b}2K", "rlo\u{202e}txt.exe"] {
            try Self.value.write(toFile: tree + "/" + name, atomically: true, encoding: .utf8)
        }
        let result = scan(shim, [tree])
        #expect(result.stdout.contains("csi\\u009b2K") && result.stdout.contains("rlo\\u202etxt.exe"), "\(result.stdout)")
        #expect(!result.stdout.unicodeScalars.contains { (0x80...0x9F).contains($0.value) || $0.value == 0x202E })
    }

    /// 200 streams of 1 GiB of zeros each, nested in a zstd tar of a few kilobytes: one budget
    /// for the whole scan, so it stops past 1 GiB, with a line saying so.
    @Test func manyNestedBombs() throws {
        let shim = Shim()
        defer { shim.cleanUp() }
        store(shim)
        #expect(shell("""
            set -e; cd \(shim.path); mkdir b; head -c 1G /dev/zero | zstd -q -1 > b/z0.zst
            for i in $(seq 1 199); do ln b/z0.zst b/z$i.zst; done
            tar --hard-dereference -cf - -C b . | zstd -q -19 > bombs.tar.zst; rm -r b
            """, timeout: 120).status == 0)
        let started = Date()
        let result = scan(shim, [shim.path + "/bombs.tar.zst"])
        #expect(Date().timeIntervalSince(started) < 30, "\(Date().timeIntervalSince(started)) s")
        #expect(result.status == 2 && result.stderr.contains("decompression bomb"), "\(result.stderr)")
    }

    /// A value in an extended attribute (a folder's file, and a tar made with --xattrs, whose
    /// pax records Docker's extraction applies): found, by secret name.
    @Test func valuesInExtendedAttributes() throws {
        let shim = Shim()
        defer { shim.cleanUp() }
        store(shim)
        let made = shell("""
            set -e; cd \(shim.path); mkdir x; echo plain > x/f
            python3 -c "import os,sys; os.setxattr('x/f', 'user.k', sys.argv[1].encode())" '\(Self.value)'
            tar --xattrs --xattrs-include='*' -cf x.tar -C x .
            """)
        try #require(made.status == 0, "\(made.output)")
        for target in ["x", "x.tar"] {
            let result = scan(shim, ["--format", "json", shim.path + "/" + target])
            #expect(result.status == 1 && result.stdout.contains(#""Kind":"xattr","Secret":"long""#), "\(target): \(result.stdout)")
        }
    }
}
