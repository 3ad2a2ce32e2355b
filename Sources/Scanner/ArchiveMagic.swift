import CScanning

/// Whether a file's first bytes say it is an archive or a compressed stream: the magic of
/// gzip (with its only method, deflate), xz, zstd, lz4's frame and bzip2 (with a block's or
/// the stream end's magic after the level digit, so a text starting "BZh" is not one), or
/// "ustar" where a tar header has it. The longer magics matter: a damaged stream is reported
/// as not verified, and a plain file must not be mistaken for one.
enum ArchiveMagic {
    /// The reader that `head` asks for (`CS_COMPRESSED` or `CS_TAR`), or nil for plain content.
    static func kind(_ head: UnsafeRawBufferPointer) -> Int32? {
        func at(_ offset: Int, _ magic: [UInt8]) -> Bool {
            head.count >= offset + magic.count && zip(head[offset..<(offset + magic.count)], magic).allSatisfy { $0 == $1 }
        }
        // zstd and lz4 frames may follow a skippable frame (0x184D2A50-5F, zstd:chunked
        // layers start with one); lz4's legacy frame has a magic of its own.
        let skippable = head.count >= 4 && head[0] & 0xF0 == 0x50 && at(1, [0x2A, 0x4D, 0x18])
        if at(0, [0x1F, 0x8B, 0x08]) || at(0, [0xFD, 0x37, 0x7A, 0x58, 0x5A, 0x00]) || at(0, [0x28, 0xB5, 0x2F, 0xFD])
            || at(0, [0x04, 0x22, 0x4D, 0x18]) || at(0, [0x02, 0x21, 0x4C, 0x18]) || skippable
        {
            return CS_COMPRESSED
        }
        if at(0, Array("BZh".utf8)), head.count >= 10, (UInt8(ascii: "1")...UInt8(ascii: "9")).contains(head[3]),
            at(4, [0x31, 0x41, 0x59, 0x26, 0x53, 0x59]) || at(4, [0x17, 0x72, 0x45, 0x38, 0x50, 0x90])
        {
            return CS_COMPRESSED
        }
        // ustar, pax and GNU tars carry "ustar"; a v7 tar only a header checksum that adds up.
        return at(257, Array("ustar".utf8)) || isTarHeader(head) ? CS_TAR : nil
    }

    /// A 512-byte tar header whose checksum (field at 148, 8 bytes of octal) is the sum of its
    /// bytes with that field read as spaces (POSIX; GNU tar also accepts a signed sum). An
    /// all-zero block (an end marker) is none.
    static func isTarHeader(_ head: UnsafeRawBufferPointer) -> Bool {
        guard head.count >= 512, head[0] != 0 else { return false }
        var stored = 0
        var digits = 0
        for index in 148..<156 {
            let byte = head[index]
            if byte == 0 || byte == UInt8(ascii: " ") {
                if digits > 0 { break }
                continue
            }
            guard (UInt8(ascii: "0")...UInt8(ascii: "7")).contains(byte) else { return false }
            stored = stored * 8 + Int(byte - UInt8(ascii: "0"))
            digits += 1
        }
        guard digits > 0 else { return false }
        var unsigned = 0
        var signed = 0
        for index in 0..<512 {
            let byte = (148..<156).contains(index) ? UInt8(ascii: " ") : head[index]
            unsigned += Int(byte)
            signed += Int(Int8(bitPattern: byte))
        }
        return stored == unsigned || stored == signed
    }
}
