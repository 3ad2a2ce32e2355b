import Foundation
import Namespaces

/// Small file and base64 helpers for the TLS files (at most a few KB each).
enum FileBytes {
    static func read(_ path: String) throws -> [UInt8] {
        let fd = try FileDescriptor.open(path, O_RDONLY | O_NOFOLLOW | O_NONBLOCK)
        defer { fd.close() }
        return try fd.readAll(limit: 1 << 20, path: path)
    }

    static func base64Decoded(_ text: String) -> [UInt8]? {
        Data(base64Encoded: text).map { Array($0) }
    }
}
