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
        cs_budget_reset()
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
        let shown = Array(path.utf8)
        noteName(shown, shown: shown)
        // Looked at and opened as the walk opens files: a device swapped in is not opened.
        let opened: FileDescriptor?, st: stat
        do { (opened, st) = try FileDescriptor.openRegularFile(atPath: path) } catch {
            return unreadable("\(redacted(shown)): \(error.reason)")
        }
        if let fd = opened {
            defer { fd.close() }
            scanFile(fd, shown: shown)
        } else if st.st_mode & S_IFMT == S_IFDIR {
            walk(path)
        } else {
            skip(shown, mode: st.st_mode)
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
    func skip(_ shown: [UInt8], mode: mode_t) {
        let kind: String
        switch mode & S_IFMT {
        case S_IFIFO: kind = "a FIFO"
        case S_IFCHR, S_IFBLK: kind = "a device"
        case S_IFSOCK: kind = "a socket"
        default: kind = "not a regular file"
        }
        report(.warning("\(redacted(shown)): skipped, \(kind)"))
    }

    /// Reports a stored value that appears in `name` (a file or folder name, a link's target,
    /// or an archive entry's path), by secret name, once per secret.
    func noteName(_ name: some Collection<UInt8>, shown: @autoclosure () -> [UInt8]) {
        note(name, as: .pathName, wholeShortValues: false, shown: shown())
    }

    /// Reports a stored value in an extended attribute's value, by secret name, once per
    /// secret; a short value when it is the whole attribute.
    func noteAttribute(_ value: some Collection<UInt8>, shown: @autoclosure () -> [UInt8]) {
        note(value, as: .attribute, wholeShortValues: true, shown: shown())
    }

    private func note(_ bytes: some Collection<UInt8>, as kind: Finding.Kind, wholeShortValues: Bool, shown: @autoclosure () -> [UInt8]) {
        var seen: [Int] = []
        for match in patterns.matches(in: bytes) where !seen.contains(match.id) {
            seen.append(match.id)
            found(Finding(path: redacted(shown()), kind: kind, secret: patterns.names[match.id]))
        }
        guard wholeShortValues else { return }
        for short in patterns.shortValues where short.value.elementsEqual(bytes) {
            found(Finding(path: redacted(shown()), kind: kind, secret: short.name))
        }
    }

    /// `shown` (a path's bytes) as it may be printed: every stored value in it replaced by
    /// `<secret NAME>`, short values (see `PatternSet.minimumSearchLength`) wherever they
    /// occur, and bytes that are not UTF-8 written `\xNN`. Matched on the bytes, before any
    /// decoding, so a value that is not UTF-8 is found too.
    func redacted(_ shown: [UInt8]) -> String {
        var cuts = patterns.matches(in: shown).map { (start: $0.start, end: $0.start + $0.length, name: patterns.names[$0.id]) }
        for short in patterns.shortValues where short.value.count <= shown.count {
            for start in 0...(shown.count - short.value.count)
            where shown[start..<(start + short.value.count)].elementsEqual(short.value) {
                cuts.append((start, start + short.value.count, short.name))
            }
        }
        cuts.sort { $0.start < $1.start }
        var out = ""
        var index = 0
        for cut in cuts {
            if cut.start >= index {
                out += Self.decoded(shown[index..<cut.start]) + "<secret \(cut.name)>"
            } else if cut.end > index {
                out += "<secret \(cut.name)>"
            }
            index = max(index, cut.end)
        }
        return out + Self.decoded(shown[min(index, shown.count)...])
    }

    func redacted(_ shown: String) -> String { redacted(Array(shown.utf8)) }

    /// UTF-8 as it is; any other byte as `\xNN`.
    static func decoded(_ bytes: ArraySlice<UInt8>) -> String {
        var out = ""
        var index = bytes.startIndex
        while index < bytes.endIndex {
            // The longest valid UTF-8 sequence starting here, if any.
            var length = 0
            let lead = bytes[index]
            let expected = lead < 0x80 ? 1 : lead >= 0xC2 && lead < 0xE0 ? 2 : lead >= 0xE0 && lead < 0xF0 ? 3 : lead >= 0xF0 && lead < 0xF5 ? 4 : 0
            if expected > 0 && index + expected <= bytes.endIndex {
                let sequence = Array(bytes[index..<(index + expected)])
                if String(validating: sequence, as: UTF8.self) != nil { length = expected }
            }
            if length > 0 {
                out += String(decoding: bytes[index..<(index + length)], as: UTF8.self)
                index += length
            } else {
                let hex = Array("0123456789abcdef")
                out += "\\x" + String(hex[Int(lead >> 4)]) + String(hex[Int(lead & 0xF)])
                index += 1
            }
        }
        return out
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
    /// `size`, where known (an archive entry's declared size): a hole at the end of a sparse
    /// entry is zeros up to it.
    func scanContent(first: UnsafeRawBufferPointer, shown: [UInt8], size: UInt64? = nil, next: () -> Block) -> Bool {
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
        if complete, let size, size > expected {
            skipHole(upTo: size, from: expected, whole: &whole, hit: hit, verified: &verified)
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
    func scanFile(_ fd: FileDescriptor, shown: [UInt8]) {
        let first: Int
        do { first = try fd.read(into: buffer, path: nil) } catch {
            return unreadable("\(redacted(shown)): \(error.reason)")
        }
        let head = UnsafeRawBufferPointer(rebasing: buffer[0..<first])
        if let kind = ArchiveMagic.kind(head) {
            do { try fd.rewind(path: nil) } catch { return unreadable("\(redacted(shown)): \(error.reason)") }
            var error = [CChar](repeating: 0, count: 256)
            guard let tar = cs_tar_open_fd(fd.rawValue, kind, &error, error.count) else {
                return unreadable("\(redacted(shown)): not a readable archive: \(Self.message(error))")
            }
            scanArchive(tar, shown: shown, depth: 1)
            cs_tar_close(tar)
            guard kind == CS_COMPRESSED else { return }
            // The compressed bytes themselves too: what lies outside the decoded stream (data
            // after it, a gzip comment or extra field, a skippable frame) is in the file all
            // the same, and `cat` shows it.
            do { try fd.rewind(path: nil) } catch { return unreadable("\(redacted(shown)): \(error.reason)") }
            _ = scanContent(first: UnsafeRawBufferPointer(start: nil, count: 0), shown: shown) { readBlock(fd) }
            return
        }
        _ = scanContent(first: head, shown: shown) { readBlock(fd) }
    }

    /// libarchive's reason for refusing to open, from the buffer it was written into.
    static func message(_ buffer: [CChar]) -> String {
        String(decoding: buffer.prefix { $0 != 0 }.map { UInt8(bitPattern: $0) }, as: UTF8.self)
    }

    private func readBlock(_ fd: FileDescriptor) -> Block {
        do throws(SysError) {
            let n = try fd.read(into: buffer, path: nil)
            return n == 0 ? .end : .data(UnsafeRawBufferPointer(rebasing: buffer[0..<n]), offset: nil)
        } catch {
            return .failed(error.reason)
        }
    }
}
