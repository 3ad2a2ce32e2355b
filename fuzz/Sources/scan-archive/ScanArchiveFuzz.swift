// `scan` of one file: a tar, a compressed stream, an archive nested in one, or plain bytes,
// with three secrets stored (long, short, one with a NUL, a quote and a newline). Input: the
// file's bytes. Properties: no value in any printed path or message; a value in plain content
// is found.
import FuzzSupport
import Glibc

@testable import Scanner

let values: [(String, [UInt8])] = [
    ("long", Array("fuzz-secret-value-0123456789abcdef".utf8)),
    ("short", Array("pw42".utf8)),
    ("odd", [0x61, 0x00, 0x22, 0x0A, 0x62, 0x63, 0x64, 0x65, 0x66]),
]
let file = "/tmp/secretshim-fuzz-scan-\(getpid())"

@_cdecl("LLVMFuzzerTestOneInput")
public func fuzzScanArchive(_ data: UnsafePointer<UInt8>?, _ size: Int) -> Int32 {
    let bytes = data.map { Array(UnsafeBufferPointer(start: $0, count: size)) } ?? []
    let fd = open(file, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0o600)
    require(fd >= 0, "cannot write \(file)")
    bytes.withUnsafeBytes { _ = write(fd, $0.baseAddress, $0.count) }
    close(fd)
    defer { unlink(file) }

    var findings: [Finding] = []
    var messages: [String] = []
    guard let scanner = try? Scanner(report: { report in
        switch report {
        case .finding(let finding): findings.append(finding)
        case .warning(let message), .unreadable(let message): messages.append(message)
        }
    }) else { return 0 }
    for (name, value) in values { try? scanner.add(secret: name, value: value) }
    scanner.scan(file)

    for text in findings.map(\.path) + messages {
        for (name, value) in values {
            require(!text.utf8.elementsEqual(value) && !contains(Array(text.utf8), value), "value of \(name) printed: \(text.debugDescription)")
        }
    }
    // Plain content (no archive magic) holding the long value: found, unless the scan said it
    // could not read everything.
    let long = values[0].1
    let isArchive = bytes.withUnsafeBytes { ArchiveMagic.kind($0) != nil }
    if !isArchive, contains(bytes, long), scanner.unreadableCount == 0 {
        require(findings.contains { $0.kind == .value && $0.secret == "long" || $0.kind == .moreValues }, "a plain value was missed")
    }
    return 0
}

func contains(_ haystack: [UInt8], _ needle: [UInt8]) -> Bool {
    guard needle.count <= haystack.count else { return false }
    for start in 0...(haystack.count - needle.count) where haystack[start..<(start + needle.count)].elementsEqual(needle) {
        return true
    }
    return false
}
