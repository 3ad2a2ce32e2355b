import Crypto
import Namespaces

/// AES-256-GCM sealing of secret values. The associated data binds a ciphertext to the
/// record it belongs to (ID, name, version): a record copied onto another row, renamed or
/// re-versioned fails authentication instead of decrypting to the wrong secret.
enum Sealing {
    static let format: [UInt8] = Array("secretshim/v1".utf8)

    static func associatedData(id: String, name: String, version: Int64) -> [UInt8] {
        // NUL-separated: none of the fields can contain a NUL, so the encoding is unambiguous.
        format + [0] + Array(id.utf8) + [0] + Array(name.utf8) + [0] + Array(String(version).utf8)
    }

    /// nonce (12 bytes) || ciphertext || tag (16 bytes), with a fresh random nonce.
    static func seal(_ plaintext: [UInt8], key: [UInt8], associatedData: [UInt8]) throws(StoreError) -> [UInt8] {
        do {
            let box = try AES.GCM.seal(
                plaintext, using: SymmetricKey(data: key), nonce: AES.GCM.Nonce(),
                authenticating: associatedData)
            guard let combined = box.combined else { throw StoreError.corrupt("cannot encode a sealed box") }
            return Array(combined)
        } catch let error as StoreError {
            throw error
        } catch {
            throw .corrupt("encryption failed")
        }
    }

    static func open(_ sealed: [UInt8], key: [UInt8], associatedData: [UInt8], name: String) throws(StoreError) -> [UInt8] {
        do {
            let box = try AES.GCM.SealedBox(combined: sealed)
            var plain = try AES.GCM.open(box, using: SymmetricKey(data: key), authenticating: associatedData)
            defer { plain.withUnsafeMutableBytes { wipe($0) } }
            return Array(plain)
        } catch {
            throw .undecryptable(name: name)
        }
    }
}
