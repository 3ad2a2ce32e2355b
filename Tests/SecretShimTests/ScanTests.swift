import Foundation
import Testing

/// `scan` against real files and real tars (made by GNU tar and gzip).
struct ScanTests {
    static let value = "planted-secret-value-0123456789"

    /// A 5 MB file with the value planted across the 64 KiB boundary (bytes 65530...), and a
    /// clean twin of the same size.
    static func makeTrees(in directory: URL) throws -> (dirty: String, clean: String) {
        let dirty = directory.appendingPathComponent("dirty"), clean = directory.appendingPathComponent("clean")
        for tree in [dirty, clean] {
            try FileManager.default.createDirectory(at: tree.appendingPathComponent("srv"), withIntermediateDirectories: true)
        }
        var filler = Data((0..<(5 << 20)).map { UInt8(ascii: "a") + UInt8($0 % 26) })
        try filler.write(to: clean.appendingPathComponent("srv/data.bin"))
        filler.replaceSubrange(65530..<(65530 + value.utf8.count), with: Data(value.utf8))
        try filler.write(to: dirty.appendingPathComponent("srv/data.bin"))
        return (dirty.path, clean.path)
    }

    func expectNoValue(_ result: Shim.Result) {
        #expect(!result.stdout.contains(Self.value) && !result.stderr.contains(Self.value), "the value was printed")
    }

    @Test func findsAPlantedValueInTreesTarsAndSavedImages() throws {
        let shim = Shim()
        defer { shim.cleanUp() }
        shim.create("api_key", Self.value + "\n")
        let (dirty, clean) = try Self.makeTrees(in: shim.directory)
        let dir = shim.directory.path

        let inTree = shim(["scan", dirty])
        #expect(inTree.status == 1)
        #expect(inTree.stdout.contains("srv/data.bin") && inTree.stdout.contains("api_key") && inTree.stdout.contains("65530"))
        expectNoValue(inTree)
        let cleanTree = shim(["scan", clean])
        #expect(cleanTree.status == 0, "\(cleanTree.stdout)")
        #expect(cleanTree.stdout.isEmpty)

        // A gzip tar, named .bin so that only its content can say what it is.
        #expect(shell("tar czf \(dir)/layer.bin -C \(dirty) .").status == 0)
        let inGzipTar = shim(["scan", "--format", "json", "\(dir)/layer.bin"])
        #expect(inGzipTar.status == 1)
        #expect(inGzipTar.stdout.contains(#""Path":"\#(dir)/layer.bin!srv/data.bin","Kind":"value","Secret":"api_key","Offset":65530"#), "\(inGzipTar.stdout)")
        expectNoValue(inGzipTar)

        // A saved image's shape: layers as tars inside the outer tar, and a config with Env.
        let image = shim.directory.appendingPathComponent("image")
        try FileManager.default.createDirectory(at: image.appendingPathComponent("abc123"), withIntermediateDirectories: true)
        #expect(shell("tar cf \(image.path)/abc123/layer.tar -C \(dirty) . && tar cf \(image.path)/clean.tar -C \(clean) .").status == 0)
        try #"{"config":{"Env":["PATH=/bin","API_KEY=\#(Self.value)"],"Cmd":["sh"]}}"#.write(
            to: image.appendingPathComponent("cfg.json"), atomically: true, encoding: .utf8)
        try "[{\"Config\":\"cfg.json\",\"Layers\":[\"abc123/layer.tar\"]}]".write(
            to: image.appendingPathComponent("manifest.json"), atomically: true, encoding: .utf8)
        #expect(shell("tar cf \(dir)/saved.tar -C \(image.path) .").status == 0)
        let inImage = shim(["scan", "\(dir)/saved.tar"])
        #expect(inImage.status == 1)
        #expect(inImage.stdout.contains("saved.tar!abc123/layer.tar!srv/data.bin"), "\(inImage.stdout)")
        #expect(inImage.stdout.contains("saved.tar!cfg.json"))
        #expect(!inImage.stdout.contains("clean.tar"))
        expectNoValue(inImage)
    }

    @Test func entriesUnderRunSecretsAndShortValues() throws {
        let shim = Shim()
        defer { shim.cleanUp() }
        shim.create("pin", "4711\n")
        let tree = shim.directory.appendingPathComponent("root")
        try FileManager.default.createDirectory(at: tree.appendingPathComponent("run/secrets"), withIntermediateDirectories: true)
        #expect(FileManager.default.createFile(atPath: tree.appendingPathComponent("run/secrets/db_pw").path, contents: Data()))
        try "4711\n".write(to: tree.appendingPathComponent("pin.txt"), atomically: true, encoding: .utf8)
        try "port 4711 is open\n".write(to: tree.appendingPathComponent("notes.txt"), atomically: true, encoding: .utf8)
        let result = shim(["scan", tree.path])
        #expect(result.status == 1)
        #expect(result.stdout.contains("run/secrets/db_pw") && result.stdout.contains("stub"))
        #expect(result.stdout.contains("pin.txt"))
        #expect(!result.stdout.contains("notes.txt"), "a short value matched inside a file")
        #expect(result.stderr.contains("shorter than 8 bytes"))
        #expect(!result.stdout.contains("4711"))
    }

    /// A whole config file as a value, put in an image config's Env: there it is JSON-escaped
    /// (newlines as \n, and by Go's encoder <, > and & as \u003c, \u003e, \u0026).
    @Test func valuesAreFoundJSONEscapedInImageConfigs() throws {
        let shim = Shim()
        defer { shim.cleanUp() }
        shim.create("app.conf", "user = \"app\"\npass = <s3cr3t&more>\n")
        let tree = shim.directory.appendingPathComponent("image")
        try FileManager.default.createDirectory(at: tree, withIntermediateDirectories: true)
        try #"{"config":{"Env":["CONF=user = \"app\"\npass = \u003cs3cr3t\u0026more\u003e"]}}"#
            .write(to: tree.appendingPathComponent("go.json"), atomically: true, encoding: .utf8)
        try #"{"Env":["CONF=user = \"app\"\npass = <s3cr3t&more>"]}"#
            .write(to: tree.appendingPathComponent("plain.json"), atomically: true, encoding: .utf8)
        try #"{"Env":["CONF=user = app pass = s3cr3t"]}"#.write(to: tree.appendingPathComponent("other.json"), atomically: true, encoding: .utf8)
        let result = shim(["scan", tree.path])
        #expect(result.status == 1)
        #expect(result.stdout.contains("go.json") && result.stdout.contains("plain.json"), "\(result.stdout)")
        #expect(!result.stdout.contains("other.json"))
        #expect(!result.stdout.contains("s3cr3t"))
    }

    @Test func corruptOrTruncatedArchivesAreErrors() throws {
        let shim = Shim()
        defer { shim.cleanUp() }
        shim.create("api_key", Self.value)
        let (dirty, _) = try Self.makeTrees(in: shim.directory)
        let dir = shim.directory.path
        #expect(shell("tar czf \(dir)/full.tgz -C \(dirty) . && head -c $(( $(stat -c %s \(dir)/full.tgz) / 2 )) \(dir)/full.tgz > \(dir)/cut.tgz && tar cf \(dir)/full.tar -C \(dirty) . && head -c 700000 \(dir)/full.tar > \(dir)/cut.tar && printf '\\037\\213\\010garbage-not-gzip' > \(dir)/bad.gz").status == 0)
        for name in ["cut.tgz", "cut.tar", "bad.gz", "missing"] {
            let result = shim(["scan", "\(dir)/\(name)"])
            #expect(result.status == 2, "\(name): \(result.status) \(result.stdout)")
            expectOneLineError(result)
            expectNoValue(result)
        }
        #expect(shim(["scan"]).status == 2)
        #expect(shim(["scan", "--format", "xml", dir]).status == 2)
    }
}
