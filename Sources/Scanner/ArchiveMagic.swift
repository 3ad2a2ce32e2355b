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
        if at(0, [0x1F, 0x8B, 0x08]) || at(0, [0xFD, 0x37, 0x7A, 0x58, 0x5A, 0x00]) || at(0, [0x28, 0xB5, 0x2F, 0xFD])
            || at(0, [0x04, 0x22, 0x4D, 0x18])
        {
            return CS_COMPRESSED
        }
        if at(0, Array("BZh".utf8)), head.count >= 10, (UInt8(ascii: "1")...UInt8(ascii: "9")).contains(head[3]),
            at(4, [0x31, 0x41, 0x59, 0x26, 0x53, 0x59]) || at(4, [0x17, 0x72, 0x45, 0x38, 0x50, 0x90])
        {
            return CS_COMPRESSED
        }
        // Every tar an image holds (ustar, pax, GNU) carries it; a v7 tar without it is read
        // as plain bytes, which still finds any value in it.
        return at(257, Array("ustar".utf8)) ? CS_TAR : nil
    }
}
