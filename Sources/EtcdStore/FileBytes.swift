import FoundationEssentials
import Namespaces

/// The TLS files' bytes (at most 1 MiB each, regular files only) and base64.
package enum FileBytes {
    package static func read(_ path: String) throws -> [UInt8] {
        try Files.read(path, limit: 1 << 20)
    }

    package static func base64Decoded(_ text: String) -> [UInt8]? {
        Data(base64Encoded: text).map { Array($0) }
    }
}
