import CLinux
import Glibc
import Namespaces

/// What `scan` found: a secret's value inside a file (at a byte offset), or an entry under
/// `run/secrets/` (an engine's stub counts). Never the value itself.
public struct Finding: Sendable, Equatable {
    public enum Kind: String, Sendable {
        case value, secretsEntry = "secrets-entry", secretsStub = "secrets-stub"
        /// The value is (part of) a file or folder name on the path.
        case pathName = "path-name"
    }
    /// The file: for archives "archive.tar!layer.tar!etc/app.conf". Any stored value in it is
    /// replaced by `<secret NAME>`: a path is printed, a value never.
    public var path: String
    public var kind: Kind
    /// The secret's name; nil for entries under run/secrets.
    public var secret: String?
    public var offset: UInt64?
}

public struct ScanError: Error, CustomStringConvertible {
    public let description: String
}

/// Finds the store's secret values in directories, tars (plain or compressed, detected by
/// content), saved images and OCI layouts, in one streaming pass: every value at once through
/// an Aho-Corasick automaton, read in fixed-size chunks, archives nested to any depth.
public final class Scanner {
    /// Values shorter than this are too common to search for inside files without false
    /// alarms; they are matched only as a whole file's content.
    public static let minimumSearchLength = 8

    private let names: [String]
    private let patternLengths: [Int]
    private let matcher: OpaquePointer?
    /// Short values, matched against whole small files.
    private let shortValues: [(name: String, value: [UInt8])]
    private var buffer = [UInt8](repeating: 0, count: 1 << 16)
    public private(set) var findings: [Finding] = []
    public private(set) var warnings: [String] = []

    /// `secrets`: every secret's name and value. A value's one trailing newline is dropped
    /// (files made with `echo` carry one; the leak often does not).
    public init(secrets: [(name: String, value: [UInt8])]) throws(ScanError) {
        var names: [String] = []
        var patterns: [[UInt8]] = []
        var short: [(String, [UInt8])] = []
        var warnings: [String] = []
        for secret in secrets {
            var value = secret.value
            if value.last == UInt8(ascii: "\n") { value.removeLast() }
            if value.isEmpty { continue }
            if value.count < Self.minimumSearchLength {
                short.append((secret.name, value))
                warnings.append("secret '\(secret.name)' is shorter than \(Self.minimumSearchLength) bytes: matched only as a whole file's content")
            } else {
                names.append(secret.name)
                patterns.append(value)
                // An image config is JSON: a value with a quote, backslash, newline (a whole
                // config file in Env) or, from Go's encoder, <, > or & is there only escaped.
                for escaped in [Self.jsonEscaped(value, html: false), Self.jsonEscaped(value, html: true)]
                where escaped != value && !patterns.suffix(2).contains(escaped) {
                    names.append(secret.name)
                    patterns.append(escaped)
                }
            }
        }
        self.names = names
        self.patternLengths = patterns.map(\.count)
        self.shortValues = short
        self.warnings = warnings
        if patterns.isEmpty {
            matcher = nil
        } else {
            var pointers: [UnsafePointer<UInt8>?] = []
            var lengths: [Int] = []
            var copies: [UnsafeMutableBufferPointer<UInt8>] = []
            for pattern in patterns {
                let copy = UnsafeMutableBufferPointer<UInt8>.allocate(capacity: pattern.count)
                _ = copy.initialize(from: pattern)
                copies.append(copy)
                pointers.append(UnsafePointer(copy.baseAddress))
                lengths.append(pattern.count)
            }
            matcher = cl_matcher_new(pointers, lengths, pointers.count)
            for copy in copies {
                wipe(UnsafeMutableRawBufferPointer(copy))
                copy.deallocate()
            }
            guard matcher != nil else { throw ScanError(description: "out of memory building the matcher") }
        }
    }

    deinit { cl_matcher_free(matcher) }

    /// `value` as it appears inside a JSON string: the escapes every encoder makes, and with
    /// `html` also Go's `encoding/json` ones (Docker's and Podman's configs): \u003c, \u003e,
    /// \u0026, \u2028, \u2029.
    static func jsonEscaped(_ value: [UInt8], html: Bool) -> [UInt8] {
        let hex = Array("0123456789abcdef".utf8)
        var out: [UInt8] = []
        out.reserveCapacity(value.count)
        var index = 0
        while index < value.count {
            let byte = value[index]
            index += 1
            switch byte {
            case UInt8(ascii: "\""), UInt8(ascii: "\\"): out += [UInt8(ascii: "\\"), byte]
            case 0x0A: out += Array("\\n".utf8)
            case 0x0D: out += Array("\\r".utf8)
            case 0x09: out += Array("\\t".utf8)
            case 0..<0x20: out += Array("\\u00".utf8) + [hex[Int(byte >> 4)], hex[Int(byte & 0xF)]]
            case UInt8(ascii: "<") where html: out += Array("\\u003c".utf8)
            case UInt8(ascii: ">") where html: out += Array("\\u003e".utf8)
            case UInt8(ascii: "&") where html: out += Array("\\u0026".utf8)
            case 0xE2 where html && index + 1 < value.count && value[index] == 0x80 && (value[index + 1] == 0xA8 || value[index + 1] == 0xA9):
                out += Array((value[index + 1] == 0xA8 ? "\\u2028" : "\\u2029").utf8)
                index += 2
            default: out.append(byte)
            }
        }
        return out
    }

    /// Scans a directory (recursively, symlinks not followed), a tar or a compressed tar, or
    /// any other file as bytes.
    public func scan(_ path: String) throws(ScanError) {
        var st = stat()
        guard lstat(path, &st) == 0 else { throw ScanError(description: "\(redacted(path)): \(String(cString: strerror(errno)))") }
        noteName(path, shown: path)
        switch st.st_mode & S_IFMT {
        case S_IFDIR: try scanDirectory(path, relative: "")
        case S_IFREG: try scanFile(path, shown: path, relative: Files.components(path).last ?? path)
        default: skip(path, mode: st.st_mode)
        }
    }

    /// FIFOs, devices and sockets hold no file content an image could carry; reading one could
    /// block for ever (a FIFO) or never end (/dev/zero).
    private func skip(_ shown: String, mode: mode_t) {
        let kind: String
        switch mode & S_IFMT {
        case S_IFIFO: kind = "a FIFO"
        case S_IFCHR, S_IFBLK: kind = "a device"
        case S_IFSOCK: kind = "a socket"
        default: kind = "not a regular file"
        }
        warnings.append("\(redacted(shown)): skipped, \(kind)")
    }

    /// Reports a stored value that appears in a path (a folder or file name), by secret name.
    private func noteName(_ inside: String, shown: String) {
        guard let matcher else { return }
        var found: [Int] = []
        Self.matches(in: Array(inside.utf8), matcher: matcher) { pattern, _, _ in
            if !found.contains(pattern) { found.append(pattern) }
        }
        for pattern in found where !findings.contains(where: { $0.kind == .pathName && $0.secret == names[pattern] && $0.path == redacted(shown) }) {
            findings.append(Finding(path: redacted(shown), kind: .pathName, secret: names[pattern], offset: nil))
        }
    }

    /// Every match of a value in `bytes`: (pattern, start, length).
    private static func matches(in bytes: [UInt8], matcher: OpaquePointer, _ body: (Int, Int, Int) -> Void) {
        final class Sink { var found: [(Int, UInt64)] = [] }
        let sink = Sink()
        var state: UInt32 = 0
        bytes.withUnsafeBufferPointer { buffer in
            guard let base = buffer.baseAddress, buffer.count > 0 else { return }
            cl_matcher_feed(
                matcher, &state, base, buffer.count, 0,
                { context, pattern, at in
                    Unmanaged<Sink>.fromOpaque(context!).takeUnretainedValue().found.append((Int(pattern), at))
                    return 0
                }, Unmanaged.passUnretained(sink).toOpaque())
        }
        for (pattern, at) in sink.found { body(pattern, Int(at), 0) }
    }

    /// `shown` with every stored value in it replaced by `<secret NAME>`; a short value (see
    /// `minimumSearchLength`) only where it is a whole path component.
    func redacted(_ shown: String) -> String {
        var shown = shown
        if !shortValues.isEmpty {
            // Components end at "/" and at "!" (an archive's entries follow its path).
            var out: [UInt8] = []
            var component: [UInt8] = []
            func flush() {
                if let short = shortValues.first(where: { $0.value == component }) {
                    out += Array("<secret \(short.name)>".utf8)
                } else {
                    out += component
                }
                component.removeAll()
            }
            for byte in shown.utf8 {
                if byte == UInt8(ascii: "/") || byte == UInt8(ascii: "!") {
                    flush()
                    out.append(byte)
                } else {
                    component.append(byte)
                }
            }
            flush()
            shown = String(decoding: out, as: UTF8.self)
        }
        guard let matcher else { return shown }
        let bytes = Array(shown.utf8)
        var cuts: [(start: Int, end: Int, name: String)] = []
        Self.matches(in: bytes, matcher: matcher) { pattern, start, _ in
            cuts.append((start, start + patternLengths[pattern], names[pattern]))
        }
        guard !cuts.isEmpty else { return shown }
        cuts.sort { $0.start < $1.start }
        var out: [UInt8] = []
        var index = 0
        for cut in cuts {
            if cut.start >= index { out += bytes[index..<cut.start] + Array("<secret \(cut.name)>".utf8) }
            index = max(index, cut.end)
        }
        out += bytes[min(index, bytes.count)...]
        return String(decoding: out, as: UTF8.self)
    }

    private func scanDirectory(_ path: String, relative: String) throws(ScanError) {
        for name in Files.list(path).sorted() {
            let full = path + "/" + name
            let inside = relative.isEmpty ? name : relative + "/" + name
            var st = stat()
            guard lstat(full, &st) == 0 else { continue }
            let type = st.st_mode & S_IFMT
            noteName(name, shown: full)
            noteSecretsEntry(inside, shown: full, size: Int64(st.st_size), isDirectory: type == S_IFDIR)
            switch type {
            case S_IFDIR: try scanDirectory(full, relative: inside)
            case S_IFREG: try scanFile(full, shown: full, relative: inside)
            case S_IFLNK: break
            default: skip(full, mode: st.st_mode)
            }
        }
    }

    private func scanFile(_ path: String, shown: String, relative: String) throws(ScanError) {
        // O_NONBLOCK | O_NOFOLLOW: a FIFO or link swapped in since the walk looked is not followed or waited on.
        let fd = Glibc.open(path, O_RDONLY | O_CLOEXEC | O_NONBLOCK | O_NOFOLLOW)
        guard fd >= 0 else { throw ScanError(description: "\(redacted(path)): \(String(cString: strerror(errno)))") }
        defer { Glibc.close(fd) }
        var st = stat()
        guard fstat(fd, &st) == 0 else { throw ScanError(description: "\(redacted(path)): \(String(cString: strerror(errno)))") }
        guard st.st_mode & S_IFMT == S_IFREG else { return skip(shown, mode: st.st_mode) }
        guard let head = readPrefix({ Glibc.read(fd, $0, $1) }) else {
            throw ScanError(description: "\(redacted(path)): \(String(cString: strerror(errno)))")
        }
        if Self.looksLikeArchive(head) {
            guard lseek(fd, 0, SEEK_SET) == 0 else { throw ScanError(description: "\(redacted(path)): cannot seek") }
            var error = [CChar](repeating: 0, count: 256)
            guard let tar = cl_tar_open_fd(fd, &error, error.count) else {
                throw ScanError(description: "\(redacted(path)): \(String(nulTerminated: error))")
            }
            defer { cl_tar_close(tar) }
            try scanArchive(tar, shown: shown, depth: 1)
            return
        }
        try scanBytes(prefix: head, shown: shown) { Glibc.read(fd, $0, $1) }
    }

    /// Every entry of a tar; entries that are themselves archives (image layers) are opened
    /// in place, streaming, without being unpacked anywhere.
    /// Archives inside archives, at most this deep: each level is a decoder's state and a
    /// recursion, and a crafted tar of a few kilobytes nests thousands.
    public static let maximumNesting = 64

    private func scanArchive(_ tar: OpaquePointer, shown: String, depth: Int) throws(ScanError) {
        while true {
            var pathPointer: UnsafePointer<CChar>?
            var size: Int64 = 0
            var type: CChar = 0
            let status = cl_tar_next(tar, &pathPointer, &size, &type)
            if status == 0 { return }
            if status < 0 { throw ScanError(description: "\(redacted(shown)): \(String(cString: cl_tar_error(tar)))") }
            var inside = pathPointer.map { String(cString: $0) } ?? ""
            while inside.hasPrefix("./") { inside.removeFirst(2) }
            let entryShown = shown + "!" + inside
            noteName(inside, shown: entryShown)
            noteSecretsEntry(inside, shown: entryShown, size: size, isDirectory: type == CChar(UInt8(ascii: "d")))
            guard type == CChar(UInt8(ascii: "f")) else { continue }
            guard let head = readPrefix({ cl_tar_read(tar, $0, $1) }) else {
                throw ScanError(description: "\(redacted(entryShown)): \(String(cString: cl_tar_error(tar)))")
            }
            if Self.looksLikeArchive(head) {
                var error = [CChar](repeating: 0, count: 256)
                let nested = head.withUnsafeBufferPointer { cl_tar_open_nested(tar, $0.baseAddress, $0.count, &error, error.count) }
                guard let nested else { throw ScanError(description: "\(redacted(entryShown)): \(String(nulTerminated: error))") }
                defer { cl_tar_close(nested) }
                guard depth < Self.maximumNesting else {
                    throw ScanError(description: "\(redacted(entryShown)): archives nested more than \(Self.maximumNesting) deep: not scanned")
                }
                try scanArchive(nested, shown: entryShown, depth: depth + 1)
            } else {
                try scanBytes(prefix: head, shown: entryShown) { cl_tar_read(tar, $0, $1) }
            }
        }
    }

    /// Feeds the bytes, chunk by chunk, carrying the matcher's state across chunks.
    private func scanBytes(prefix: [UInt8], shown: String, read: (UnsafeMutableRawPointer, Int) -> Int) throws(ScanError) {
        var state: UInt32 = 0
        var offset: UInt64 = 0
        var whole: [UInt8]? = shortValues.isEmpty ? nil : []
        final class Sink {
            var offsets: [(Int, UInt64)] = []
        }
        let sink = Sink()
        func feed(_ bytes: UnsafeRawBufferPointer) {
            if let matcher, bytes.count > 0 {
                cl_matcher_feed(
                    matcher, &state, bytes.baseAddress!.assumingMemoryBound(to: UInt8.self), bytes.count, offset,
                    { context, pattern, at in
                        Unmanaged<Sink>.fromOpaque(context!).takeUnretainedValue().offsets.append((Int(pattern), at))
                        return 0
                    }, Unmanaged.passUnretained(sink).toOpaque())
            }
            offset += UInt64(bytes.count)
            if whole != nil {
                if whole!.count + bytes.count > Self.minimumSearchLength + 1 { whole = nil } else { whole!.append(contentsOf: bytes) }
            }
        }
        prefix.withUnsafeBytes { feed($0) }
        while true {
            let n = buffer.withUnsafeMutableBytes { read($0.baseAddress!, $0.count) }
            if n < 0 { throw ScanError(description: "\(redacted(shown)): read failed (corrupt or truncated)") }
            if n == 0 { break }
            buffer.withUnsafeBytes { feed(UnsafeRawBufferPointer(rebasing: $0[0..<n])) }
        }
        for (pattern, at) in sink.offsets {
            findings.append(Finding(path: redacted(shown), kind: .value, secret: names[pattern], offset: at))
        }
        if var whole, !whole.isEmpty {
            if whole.last == UInt8(ascii: "\n") { whole.removeLast() }
            for short in shortValues where short.value == whole {
                findings.append(Finding(path: redacted(shown), kind: .value, secret: short.name, offset: 0))
            }
        }
    }

    /// The first 512 bytes (a tar header's size), for sniffing; nil on a read error.
    private func readPrefix(_ read: (UnsafeMutableRawPointer, Int) -> Int) -> [UInt8]? {
        var head = [UInt8](repeating: 0, count: 512)
        var filled = 0
        while filled < head.count {
            let n = head.withUnsafeMutableBytes { read($0.baseAddress! + filled, $0.count - filled) }
            if n < 0 { return nil }
            if n == 0 { break }
            filled += n
        }
        head.removeSubrange(filled...)
        return head
    }

    private func noteSecretsEntry(_ inside: String, shown: String, size: Int64, isDirectory: Bool) {
        var path = inside
        while path.hasPrefix("/") { path.removeFirst() }
        guard path.hasPrefix("run/secrets/"), path.count > "run/secrets/".count, !isDirectory else { return }
        findings.append(Finding(path: redacted(shown), kind: size == 0 ? .secretsStub : .secretsEntry, secret: nil, offset: nil))
    }

    /// gzip, xz, zstd, bzip2, lz4 magic, or "ustar" where a tar header has it.
    static func looksLikeArchive(_ head: [UInt8]) -> Bool {
        func starts(_ magic: [UInt8]) -> Bool { head.count >= magic.count && Array(head[0..<magic.count]) == magic }
        if starts([0x1F, 0x8B]) || starts([0xFD, 0x37, 0x7A, 0x58, 0x5A, 0x00]) || starts([0x28, 0xB5, 0x2F, 0xFD])
            || starts([0x42, 0x5A, 0x68]) || starts([0x04, 0x22, 0x4D, 0x18])
        {
            return true
        }
        return head.count >= 262 && Array(head[257..<262]) == Array("ustar".utf8)
    }
}
