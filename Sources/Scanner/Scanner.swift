import CScanning
import Glibc
import Namespaces

/// Finds the store's secret values in directories, tars (plain or compressed, detected by
/// content), single compressed files, saved images and OCI layouts, in one streaming pass:
/// every value at once (`PatternSet`), read in fixed-size blocks, archives nested up to
/// `maximumNesting` deep, folders walked by descriptor. Findings, warnings and what could not
/// be read are handed to `report` as they are met, never held: the memory a scan needs does
/// not grow with the tree, the archive or its findings.
public final class Scanner {
    /// Archives inside archives, at most this deep: each level is a decoder's state, and a
    /// crafted tar of a few kilobytes nests thousands. A compressed tar is two levels (its
    /// stream and its tar).
    public static let maximumNesting = 64
    /// Values listed per file; past them, one `moreValues` finding counts the rest (a value
    /// repeated millions of times in one file is one problem, not millions of lines).
    public static let valuesReportedPerFile = 16

    let patterns: PatternSet
    let report: (ScanReport) -> Void
    /// One search, reused for every file's content (content is scanned one file at a time).
    private(set) lazy var content = patterns.stream()
    let buffer = UnsafeMutableRawBufferPointer.allocate(byteCount: 1 << 16, alignment: 16)
    public private(set) var findingCount = 0
    /// How many things could not be read: not zero, the scan proved nothing clean.
    public private(set) var unreadableCount = 0

    /// Collect the secrets with `add`, then `scan`.
    public init(report: @escaping (ScanReport) -> Void) throws(ScanError) {
        self.patterns = try PatternSet()
        self.report = report
        System.raiseOpenFileLimit()
    }

    deinit {
        wipe(buffer)
        buffer.deallocate()
    }

    /// Adds a secret to look for. Its value is not kept: a window of it and a hash are.
    public func add(secret name: String, value: [UInt8]) throws(ScanError) {
        if let warning = try patterns.add(name: name, value: value) { report(.warning(warning)) }
    }

    /// Scans a directory (recursively, symbolic links in it not followed), an archive, or any
    /// other file as bytes. `path` itself is followed if it is a link (as `grep -r` follows the
    /// paths it is given). Never throws: what could not be read is reported as `unreadable`.
    public func scan(_ path: String) {
        do { try patterns.compile() } catch { return unreadable(error.description) }
        noteName(Array(path.utf8), shown: path)
        var st = stat()
        guard stat(path, &st) == 0 else { return unreadable("\(redacted(path)): \(String(cString: strerror(errno)))") }
        switch st.st_mode & S_IFMT {
        case S_IFDIR: walk(path)
        case S_IFREG:
            do {
                let fd = try FileDescriptor.open(path, O_RDONLY | O_NONBLOCK | O_NOCTTY)
                defer { fd.close() }
                try fd.requireRegularFile(path: path)
                scanFile(fd, shown: path)
            } catch {
                unreadable("\(redacted(path)): \(error.reason)")
            }
        default: skip(path, mode: st.st_mode)
        }
    }

    // MARK: - Reporting

    func found(_ finding: Finding) {
        findingCount += 1
        report(.finding(finding))
    }

    func unreadable(_ message: String) {
        unreadableCount += 1
        report(.unreadable(message))
    }

    /// FIFOs, devices and sockets hold no content an image could carry; reading one could
    /// block for ever (a FIFO) or never end (/dev/zero).
    func skip(_ shown: String, mode: mode_t) {
        let kind: String
        switch mode & S_IFMT {
        case S_IFIFO: kind = "a FIFO"
        case S_IFCHR, S_IFBLK: kind = "a device"
        case S_IFSOCK: kind = "a socket"
        default: kind = "not a regular file"
        }
        report(.warning("\(redacted(shown)): skipped, \(kind)"))
    }

    /// Reports a stored value that appears in `name` (a file or folder name, or an archive
    /// entry's path), by secret name, once per secret.
    func noteName(_ name: some Collection<UInt8>, shown: @autoclosure () -> String) {
        var seen: [Int] = []
        for match in patterns.matches(in: name) where !seen.contains(match.id) {
            seen.append(match.id)
            found(Finding(path: redacted(shown()), kind: .pathName, secret: patterns.names[match.id]))
        }
    }

    /// `shown` with every stored value in it replaced by `<secret NAME>`; a short value (see
    /// `PatternSet.minimumSearchLength`) only where it is a whole path component.
    func redacted(_ shown: String) -> String {
        var shown = shown
        if !patterns.shortValues.isEmpty {
            // Components end at "/" and at "!" (an archive's entries follow its path).
            var out: [UInt8] = []
            var component: [UInt8] = []
            func flush() {
                if let short = patterns.shortValues.first(where: { $0.value == component }) {
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
        let bytes = Array(shown.utf8)
        let cuts = patterns.matches(in: bytes).sorted { $0.start < $1.start }
        guard !cuts.isEmpty else { return shown }
        var out: [UInt8] = []
        var index = 0
        for cut in cuts {
            if cut.start >= index { out += bytes[index..<cut.start] + Array("<secret \(patterns.names[cut.id])>".utf8) }
            index = max(index, cut.start + cut.length)
        }
        out += bytes[min(index, bytes.count)...]
        return String(decoding: out, as: UTF8.self)
    }

    // MARK: - Content

    /// A block of a file's content: its bytes and where they lie in the file (an archive's
    /// sparse entry skips its holes), its end, or why it could not be read.
    enum Block {
        /// `offset` nil: right after the previous block.
        case data(UnsafeRawBufferPointer, offset: UInt64?)
        case end
        case failed(String)
    }

    /// Searches one file's content, given as blocks. Value findings are reported once the
    /// file is done (the first `valuesReportedPerFile`, then a count). False if the content
    /// could not be read to its end (reported).
    func scanContent(first: UnsafeRawBufferPointer, shown: String, next: () -> Block) -> Bool {
        content.reset(at: 0)
        var listed: [Finding] = []
        var more: UInt64 = 0
        var path: String?
        func hit(_ id: UInt32, _ offset: UInt64, _ length: UInt64) {
            if listed.count < Self.valuesReportedPerFile {
                if path == nil { path = redacted(shown) }
                listed.append(Finding(path: path!, kind: .value, secret: patterns.names[Int(id)], offset: offset))
            } else {
                more += 1
            }
        }
        // The whole content, while it is short enough to be a short value.
        let shortLimit = PatternSet.minimumSearchLength + 1
        var whole: [UInt8]? = patterns.shortValues.isEmpty ? nil : []
        var expected: UInt64 = 0
        var verified = true
        var complete = true
        func feed(_ bytes: UnsafeRawBufferPointer, at start: UInt64?) {
            let offset = start ?? expected
            if offset > expected { skipHole(upTo: offset, from: expected, whole: &whole, hit: hit, verified: &verified) }
            if !content.feed(bytes, found: hit) { verified = false }
            if whole != nil {
                if whole!.count + bytes.count > shortLimit { whole = nil } else { whole!.append(contentsOf: bytes) }
            }
            expected = offset + UInt64(bytes.count)
        }
        feed(first, at: 0)
        reading: while true {
            switch next() {
            case .data(let bytes, let offset): feed(bytes, at: offset)
            case .end: break reading
            case .failed(let why):
                unreadable("\(redacted(shown)): \(why)")
                complete = false
                break reading
            }
        }
        content.finish(found: hit)
        if var whole, !whole.isEmpty {
            if whole.last == UInt8(ascii: "\n") { whole.removeLast() }
            for short in patterns.shortValues where short.value == whole {
                if path == nil { path = redacted(shown) }
                listed.append(Finding(path: path!, kind: .value, secret: short.name, offset: 0))
            }
            wipe(&whole)
        }
        for finding in listed { found(finding) }
        if more > 0 { found(Finding(path: path ?? redacted(shown), kind: .moreValues, count: more)) }
        if !verified {
            unreadable("\(redacted(shown)): more partial matches than can be verified at once (\(CS_PENDING_MAX)): not every value was checked")
        }
        return complete
    }

    /// A sparse entry's hole reads as zeros. No pattern holding a zero byte: nothing can match
    /// across it, and the search restarts after it. Otherwise its zeros are fed, but at most
    /// a pattern's length on each side (no match is longer).
    private func skipHole(upTo offset: UInt64, from expected: UInt64, whole: inout [UInt8]?, hit: (UInt32, UInt64, UInt64) -> Void,
                          verified: inout Bool) {
        whole = nil
        guard patterns.hasZeroByte else { return content.reset(at: offset) }
        let zeros = UnsafeMutableRawBufferPointer.allocate(byteCount: 1 << 16, alignment: 16)
        defer { zeros.deallocate() }
        zeros.initializeMemory(as: UInt8.self, repeating: 0)
        func feedZeros(_ count: UInt64) {
            var left = count
            while left > 0 {
                let n = Int(min(left, UInt64(zeros.count)))
                if !content.feed(UnsafeRawBufferPointer(rebasing: zeros[0..<n]), found: hit) { verified = false }
                left -= UInt64(n)
            }
        }
        let hole = offset - expected, longest = patterns.longest
        if hole <= 2 * longest { return feedZeros(hole) }
        feedZeros(longest)
        content.finish(found: hit)
        content.reset(at: offset - longest)
        feedZeros(longest)
    }

    /// A regular file open at `fd`: an archive (by its first bytes) or content.
    func scanFile(_ fd: FileDescriptor, shown: String) {
        let first: Int
        do { first = try fd.read(into: buffer, path: nil) } catch {
            return unreadable("\(redacted(shown)): \(error.reason)")
        }
        let head = UnsafeRawBufferPointer(rebasing: buffer[0..<first])
        if let kind = ArchiveMagic.kind(head) {
            do { try fd.rewind(path: nil) } catch { return unreadable("\(redacted(shown)): \(error.reason)") }
            var error = [CChar](repeating: 0, count: 256)
            guard let tar = cs_tar_open_fd(fd.rawValue, kind, &error, error.count) else {
                return unreadable("\(redacted(shown)): not a readable archive: \(String(decoding: error.prefix { $0 != 0 }.map { UInt8(bitPattern: $0) }, as: UTF8.self))")
            }
            defer { cs_tar_close(tar) }
            scanArchive(tar, shown: shown, depth: 1)
            return
        }
        _ = scanContent(first: head, shown: shown) {
            do throws(SysError) {
                let n = try fd.read(into: buffer, path: nil)
                return n == 0 ? .end : .data(UnsafeRawBufferPointer(rebasing: buffer[0..<n]), offset: nil)
            } catch {
                return .failed(error.reason)
            }
        }
    }
}
