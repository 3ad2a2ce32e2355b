import CScanning
import JSON
import Namespaces

/// The secrets `scan` looks for: the C matcher (`cs_matcher.h`: each value indexed by a
/// window of at most 32 bytes and verified by hash, so memory does not grow with the values'
/// size), the names by pattern id, and the short values, which are matched only as a whole
/// file's content.
final class PatternSet {
    /// Values shorter than this are too common to search for inside files without false
    /// alarms; they are matched only as a whole file's content.
    static let minimumSearchLength = Int(CS_PATTERN_MIN)

    private let matcher: OpaquePointer
    /// Secret names, by pattern id (a value and its JSON-escaped forms share one).
    private(set) var names: [String] = []
    private(set) var shortValues: [(name: String, value: [UInt8])] = []
    private var compiled = false
    /// The search `matches` reuses (names are matched one at a time, for every file).
    private lazy var nameSearch = stream()

    init() throws(ScanError) {
        guard let matcher = cs_matcher_new() else { throw ScanError(description: "out of memory building the matcher") }
        self.matcher = matcher
    }

    deinit {
        cs_matcher_free(matcher)
        for index in shortValues.indices { wipe(&shortValues[index].value) }
    }

    var isEmpty: Bool { cs_matcher_count(matcher) == 0 }
    var longest: UInt64 { cs_matcher_longest(matcher) }
    var hasZeroByte: Bool { cs_matcher_has_zero_byte(matcher) != 0 }

    /// Adds a secret: its value (one trailing newline dropped: files made with `echo` carry
    /// one, the leak often does not), and the forms it takes inside a JSON string. A warning
    /// for a short value.
    func add(name: String, value original: [UInt8]) throws(ScanError) -> String? {
        var value = original
        defer { wipe(&value) }
        if value.last == UInt8(ascii: "\n") { value.removeLast() }
        if value.isEmpty { return nil }
        if value.count < Self.minimumSearchLength {
            shortValues.append((name, value))
            return "secret '\(name)' is shorter than \(Self.minimumSearchLength) bytes: matched only as a whole file's content"
        }
        let id = UInt32(names.count)
        names.append(name)
        var forms = [value]
        // As JSON encoders write a value inside a string (an image config's `Env` holds a whole
        // config file, its newlines as `\n`). Not `.short`, the commands' own output style.
        for style: JSONEscaping.Style in [.plain, .go, .ascii, .solidus] {
            let escaped = JSONEscaping.escaped(value, style)
            if !forms.contains(escaped) { forms.append(escaped) }
        }
        defer { for index in forms.indices { wipe(&forms[index]) } }
        for form in forms {
            let status = form.withUnsafeBufferPointer { cs_matcher_add(matcher, $0.baseAddress, $0.count, id) }
            guard status == 0 else { throw ScanError(description: "out of memory adding secret '\(name)' to the matcher") }
        }
        return nil
    }

    /// One pattern as it is, under `id` (the matcher's own tests); false if refused.
    func addRaw(_ pattern: [UInt8], id: UInt32) -> Bool {
        pattern.withUnsafeBufferPointer { cs_matcher_add(matcher, $0.baseAddress, $0.count, id) } == 0
    }

    func compile() throws(ScanError) {
        guard !compiled else { return }
        guard cs_matcher_compile(matcher) == 0 else { throw ScanError(description: "out of memory building the matcher") }
        compiled = true
    }

    /// A search over one stream of bytes.
    func stream() -> MatchStream { MatchStream(cs_stream_new(matcher)!) }

    /// Every match in `bytes` (a path name): (pattern id, start, length).
    func matches(in bytes: some Collection<UInt8>) -> [(id: Int, start: Int, length: Int)] {
        guard !isEmpty else { return [] }
        let search = nameSearch
        search.reset(at: 0)
        var found: [(id: Int, start: Int, length: Int)] = []
        let copy = Array(bytes)
        copy.withUnsafeBufferPointer { buffer in
            _ = search.feed(UnsafeRawBufferPointer(buffer)) { id, start, length in found.append((Int(id), Int(start), Int(length))) }
        }
        search.finish { id, start, length in found.append((Int(id), Int(start), Int(length))) }
        return found
    }
}

/// One stream's search state, and a way to hand matches to a Swift closure.
final class MatchStream {
    private let stream: OpaquePointer
    private var sink: ((UInt32, UInt64, UInt64) -> Void)?

    init(_ stream: OpaquePointer) { self.stream = stream }
    deinit { cs_stream_free(stream) }

    func reset(at offset: UInt64) { cs_stream_reset(stream, offset) }

    /// Feeds bytes, calling `found(id, offset, length)` for each match; false when too many
    /// matches were pending to verify (the input was built to make it quadratic).
    func feed(_ bytes: UnsafeRawBufferPointer, found: (UInt32, UInt64, UInt64) -> Void) -> Bool {
        guard let base = bytes.baseAddress, bytes.count > 0 else { return true }
        return withoutActuallyEscaping(found) { found in
            sink = found
            defer { sink = nil }
            return cs_stream_feed(stream, base.assumingMemoryBound(to: UInt8.self), bytes.count, Self.report,
                                  Unmanaged.passUnretained(self).toOpaque()) == 0
        }
    }

    func finish(found: (UInt32, UInt64, UInt64) -> Void) {
        withoutActuallyEscaping(found) { found in
            sink = found
            defer { sink = nil }
            cs_stream_finish(stream, Self.report, Unmanaged.passUnretained(self).toOpaque())
        }
    }

    private static let report: cs_found = { context, id, offset, length in
        Unmanaged<MatchStream>.fromOpaque(context!).takeUnretainedValue().sink?(id, offset, length)
        return 0
    }
}
