import Glibc

/// One fuzzer input, taken apart front to back: a selector byte, fields cut at a separator,
/// the rest. Running out of bytes yields zeros and empty fields, so every input is usable.
public struct FuzzInput {
    public private(set) var bytes: ArraySlice<UInt8>

    /// Copies libFuzzer's buffer (which may be null when empty).
    public init(_ data: UnsafePointer<UInt8>?, _ size: Int) {
        bytes = data.map { ArraySlice(UnsafeBufferPointer(start: $0, count: size)) } ?? []
    }

    public init(_ bytes: [UInt8]) { self.bytes = bytes[...] }

    /// The next byte, or 0 at the end.
    public mutating func byte() -> UInt8 { bytes.popFirst() ?? 0 }

    /// The next 8 bytes, little-endian (zeros past the end).
    public mutating func uint64() -> UInt64 {
        var value: UInt64 = 0
        for shift in 0..<8 { value |= UInt64(byte()) << (8 * UInt64(shift)) }
        return value
    }

    /// The bytes up to the next `separator` (which is consumed), or all that is left.
    public mutating func field(until separator: UInt8) -> [UInt8] {
        guard let end = bytes.firstIndex(of: separator) else {
            defer { bytes = [] }
            return Array(bytes)
        }
        defer { bytes = bytes[(end + 1)...] }
        return Array(bytes[..<end])
    }

    /// `field(until:)` as text (invalid UTF-8 repaired, as the parsers' callers repair it).
    public mutating func string(until separator: UInt8) -> String {
        String(decoding: field(until: separator), as: UTF8.self)
    }

    /// Everything not taken yet.
    public mutating func rest() -> [UInt8] {
        defer { bytes = [] }
        return Array(bytes)
    }

    /// The rest cut at NUL bytes: a command line, as the kernel hands it over.
    public mutating func arguments() -> [String] {
        var arguments: [String] = []
        while !bytes.isEmpty { arguments.append(string(until: 0)) }
        return arguments
    }
}

/// Stops the run as a crash when a property of a parser fails: libFuzzer keeps the input as
/// `crash-*`, and the message says which property.
public func require(
    _ condition: @autoclosure () -> Bool, _ message: @autoclosure () -> String, file: StaticString = #fileID, line: UInt = #line
) {
    guard !condition() else { return }
    report("fuzz property failed (\(file):\(line)): \(message())")
    abort()
}

/// A private directory for parsers that read files by path, made once per process (under
/// `$TMPDIR`, which fuzz/run and fuzz/regress point at a folder they remove: a crash skips
/// atexit) and removed when it exits.
public let scratchDirectory: String = {
    let parent = getenv("TMPDIR").map { String(cString: $0) }.flatMap { $0.isEmpty ? nil : $0 } ?? "/tmp"
    var template = Array((parent + "/secretshim-fuzz-XXXXXX").utf8CString)
    guard let made = mkdtemp(&template) else {
        report("fuzz: mkdtemp failed")
        abort()
    }
    let path = String(cString: made)
    atexit { removeScratch() }
    return path
}()

private func removeScratch() { removeTree(scratchDirectory) }

/// Removes a folder and everything in it (the targets make no links to follow).
private func removeTree(_ path: String) {
    for name in list(path) {
        let inner = path + "/" + name
        if unlink(inner) != 0 { removeTree(inner) }
    }
    rmdir(path)
}

private func list(_ directory: String) -> [String] {
    guard let stream = opendir(directory) else { return [] }
    defer { closedir(stream) }
    var names: [String] = []
    while let entry = readdir(stream) {
        let name = withUnsafeBytes(of: entry.pointee.d_name) { String(decoding: $0.prefix { $0 != 0 }, as: UTF8.self) }
        if name != "." && name != ".." { names.append(name) }
    }
    return names
}

/// Replaces the file at `path` with `bytes` (made 0600 if new); aborts if it cannot, since a
/// target would otherwise parse stale bytes.
public func writeFile(_ path: String, _ bytes: [UInt8]) {
    let fd = open(path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0o600)
    guard fd >= 0 else {
        report("fuzz: cannot write \(path)")
        abort()
    }
    defer { close(fd) }
    var done = 0
    while done < bytes.count {
        let written = bytes.withUnsafeBytes { write(fd, $0.baseAddress! + done, $0.count - done) }
        guard written > 0 else {
            report("fuzz: short write to \(path)")
            abort()
        }
        done += written
    }
}

/// Makes a folder (and ignores one already there).
public func makeDirectory(_ path: String) { mkdir(path, 0o700) }

/// When `SECRETSHIM_FUZZ_SEEDS` names a folder, `seeds` writes its files there (`seed-<name>`)
/// and the process ends: how targets whose inputs only the real writers can make (sealed
/// boxes, signed requests, leases) fill their corpus. Called from `LLVMFuzzerInitialize`.
public func writeSeedsIfAsked(_ seeds: () -> [(name: String, bytes: [UInt8])]) {
    guard let folder = getenv("SECRETSHIM_FUZZ_SEEDS").map({ String(cString: $0) }), !folder.isEmpty else { return }
    makeDirectory(folder)
    for seed in seeds() { writeFile(folder + "/seed-" + seed.name, seed.bytes) }
    exit(0)
}

/// A line on standard error (by write(2): C's `stderr` is shared mutable state to Swift 6).
public func report(_ message: String) {
    let line = Array((message + "\n").utf8)
    _ = line.withUnsafeBytes { write(2, $0.baseAddress, $0.count) }
}
