import Testing

@testable import Scanner

/// The matcher (window index, shift table, hash verification) against a naive search, on
/// inputs built to make every part of it work: a small alphabet (windows that match and
/// values that then do not), values sharing their first 32 bytes, values longer and shorter
/// than the window, zero bytes, matches overlapping and split across feeds of any size.
struct MatcherTests {
    struct Generator: RandomNumberGenerator {
        var state: UInt64
        mutating func next() -> UInt64 {
            state &+= 0x9E37_79B9_7F4A_7C15
            var z = state
            z = (z ^ (z >> 30)) &* 0xBF58_476D_1CE4_E5B9
            z = (z ^ (z >> 27)) &* 0x94D0_49BB_1331_11EB
            return z ^ (z >> 31)
        }
    }

    static func naive(_ patterns: [[UInt8]], in text: [UInt8]) -> Set<[Int]> {
        var found = Set<[Int]>()
        for (id, pattern) in patterns.enumerated() where pattern.count <= text.count {
            for start in 0...(text.count - pattern.count) where text[start..<(start + pattern.count)].elementsEqual(pattern) {
                found.insert([id, start, pattern.count])
            }
        }
        return found
    }

    /// Every pattern added under its own id (the JSON forms are the scanner's business).
    static func search(_ patterns: [[UInt8]], in text: [UInt8], feeds: [Int]) throws -> Set<[Int]> {
        let set = try PatternSet()
        for (id, pattern) in patterns.enumerated() {
            try #require(set.addRaw(pattern, id: UInt32(id)))
        }
        try set.compile()
        let stream = set.stream()
        var found = Set<[Int]>()
        let record = { (id: UInt32, offset: UInt64, length: UInt64) in
            _ = found.insert([Int(id), Int(offset), Int(length)])
        }
        var at = 0
        var sizes = feeds.makeIterator()
        while at < text.count {
            let size = min(text.count - at, max(1, sizes.next() ?? 1000))
            text[at..<(at + size)].withUnsafeBytes { _ = stream.feed($0, found: record) }
            at += size
        }
        stream.finish(found: record)
        return found
    }

    @Test(arguments: 0..<40)
    func agreesWithANaiveSearch(seed: Int) throws {
        var random = Generator(state: UInt64(seed))
        let alphabet: [UInt8] = seed % 3 == 0 ? [0, 1] : seed % 3 == 1 ? Array("ab".utf8) : Array("abcd\0".utf8)
        func word(_ length: Int) -> [UInt8] { (0..<length).map { _ in alphabet.randomElement(using: &random)! } }
        var patterns: [[UInt8]] = []
        for _ in 0..<Int.random(in: 1...12, using: &random) {
            patterns.append(word(Int.random(in: 8...(seed % 2 == 0 ? 40 : 200), using: &random)))
        }
        // Two values sharing a window and more.
        patterns.append(patterns[0] + word(5))
        var text = word(Int.random(in: 0...5000, using: &random))
        for pattern in patterns where !text.isEmpty {
            let at = Int.random(in: 0...text.count, using: &random)
            text.insert(contentsOf: pattern + pattern, at: at)
        }
        let feeds = (0..<2000).map { _ in Int.random(in: 1...(seed % 4 == 0 ? 3 : 700), using: &random) }
        let expected = Self.naive(patterns, in: text)
        #expect(try Self.search(patterns, in: text, feeds: feeds) == expected, "seed \(seed)")
    }

    /// A value of 500 KiB found whole, split over 64 KiB reads, and not found when one byte
    /// of it differs (the hash, not the window, decides).
    @Test func longValuesAreVerifiedWhole() throws {
        var random = Generator(state: 7)
        let value = (0..<(500 * 1024)).map { _ in UInt8.random(in: 0...255, using: &random) }
        var changed = value
        changed[300_000] ^= 1
        let filler = [UInt8](repeating: 0x41, count: 100_000)
        let text = filler + value + filler + changed + filler
        let found = try Self.search([value], in: text, feeds: [65536])
        #expect(found == [[0, 100_000, value.count]])
    }

    /// Input built so that every byte starts a match that must then be verified (the
    /// window of a long value repeated): refused past the cap, not quadratic and not unbounded.
    @Test func pendingMatchesAreCapped() throws {
        let value = [UInt8](repeating: 0x61, count: 400_000) + [0x62]
        let set = try PatternSet()
        try #require(set.addRaw(value, id: 0))
        try set.compile()
        let stream = set.stream()
        let text = [UInt8](repeating: 0x61, count: 1 << 20)
        var refused = false
        var at = 0
        while at < text.count {
            let ok = text[at..<(at + 65536)].withUnsafeBytes { stream.feed($0) { _, _, _ in } }
            if !ok { refused = true }
            at += 65536
        }
        #expect(refused)
    }
}
