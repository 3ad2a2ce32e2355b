import CScanning
import Glibc
import Namespaces

extension Scanner {
    /// Every entry of an archive; entries that are themselves archives (image layers) are
    /// opened in place, streaming, without being unpacked anywhere. A damaged archive is
    /// reported as unreadable and the rest of it skipped; the scan goes on.
    func scanArchive(_ tar: OpaquePointer, shown: [UInt8], depth: Int) {
        while true {
            var pathPointer: UnsafePointer<CChar>?
            var linkPointer: UnsafePointer<CChar>?
            var size: Int64 = 0
            var type: CChar = 0
            let status = cs_tar_next(tar, &pathPointer, &linkPointer, &size, &type)
            if status == 0 { return }
            if status < 0 {
                return unreadable("\(redacted(shown)): \(String(cString: cs_tar_error(tar))): the rest of it not scanned")
            }
            let raw = pathPointer.map { Array(UnsafeBufferPointer(start: UnsafeRawPointer($0).assumingMemoryBound(to: UInt8.self), count: strlen($0))) } ?? []
            let inside = EntryPath.normalized(raw)
            let entryShown = cs_tar_is_raw(tar) != 0 ? shown : shown + [UInt8(ascii: "!")] + inside
            noteName(inside, shown: entryShown)
            if let linkPointer {
                // A link's target is a name on the extracted tree too.
                noteName(UnsafeBufferPointer(start: UnsafeRawPointer(linkPointer).assumingMemoryBound(to: UInt8.self), count: strlen(linkPointer)), shown: entryShown)
            }
            var name: UnsafePointer<CChar>?
            var attribute: UnsafeRawPointer?
            var attributeSize = 0
            var first: Int32 = 1
            while cs_tar_xattr(tar, first, &name, &attribute, &attributeSize) == 1 {
                first = 0
                noteAttribute(UnsafeRawBufferPointer(start: attribute, count: attributeSize), shown: entryShown)
            }
            if type != CChar(UInt8(ascii: "d")) && EntryPath.isUnderRunSecrets(inside) {
                found(Finding(path: redacted(entryShown), kind: size == 0 ? .secretsStub : .secretsEntry))
            }
            guard type == CChar(UInt8(ascii: "f")) else { continue }
            guard scanEntry(tar, shown: entryShown, size: UInt64(max(0, size)), depth: depth) else { return }
        }
    }

    /// One regular entry: a nested archive or content. False if reading it failed (reported,
    /// and the archive around it is then not to be trusted further).
    private func scanEntry(_ tar: OpaquePointer, shown: [UInt8], size: UInt64, depth: Int) -> Bool {
        // The entry's first bytes, for its magic: copied while they come in small contiguous
        // blocks, up to a tar header's size.
        var head: [UInt8] = []
        var leftover: Block?
        sniffing: while head.count < 512 {
            switch Self.nextBlock(tar) {
            case .data(let bytes, let offset) where offset == UInt64(head.count):
                head.append(contentsOf: bytes)
            case let other:
                leftover = other
                break sniffing
            }
        }
        defer { wipe(&head) }
        if let kind = head.withUnsafeBytes({ ArchiveMagic.kind($0) }) {
            guard depth < Self.maximumNesting else {
                unreadable("\(redacted(shown)): archives nested more than \(Self.maximumNesting) deep: not scanned")
                return true
            }
            if case .failed(let why) = leftover {
                unreadable("\(redacted(shown)): \(why)")
                return false
            }
            var error = [CChar](repeating: 0, count: 256)
            var prefix = head
            if case .data(let bytes, _) = leftover { prefix.append(contentsOf: bytes) }
            defer { wipe(&prefix) }
            let nested = prefix.withUnsafeBufferPointer { cs_tar_open_nested(tar, $0.baseAddress, $0.count, kind, &error, error.count) }
            guard let nested else {
                unreadable("\(redacted(shown)): not a readable archive: \(Self.message(error))")
                return true
            }
            defer { cs_tar_close(nested) }
            // The nested reader holds `prefix` until it is closed.
            withExtendedLifetime(prefix) { scanArchive(nested, shown: shown, depth: depth + 1) }
            return true
        }
        return head.withUnsafeBytes { first in
            var pending = leftover
            return scanContent(first: first, shown: shown, size: size) {
                if let block = pending {
                    pending = nil
                    return block
                }
                return Self.nextBlock(tar)
            }
        }
    }

    static func nextBlock(_ tar: OpaquePointer) -> Block {
        var block: UnsafeRawPointer?
        var size = 0
        var offset: Int64 = 0
        switch cs_tar_read_block(tar, &block, &size, &offset) {
        case 1: return .data(UnsafeRawBufferPointer(start: block, count: size), offset: UInt64(max(0, offset)))
        case 0: return .end
        default: return .failed(String(cString: cs_tar_error(tar)))
        }
    }
}
