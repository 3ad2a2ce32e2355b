import Namespaces

/// AES-256-GCM sealing of secret values. The associated data binds a ciphertext to the
/// record it belongs to (ID, name, version): a record copied onto another row, renamed or
/// re-versioned fails authentication instead of decrypting to the wrong secret.
package enum Sealing {
    package static let format = "secretshim/v1".utf8

    package static func associatedData(id: String, name: String, version: Int64) -> [UInt8] {
        // NUL-separated: none of the fields can contain a NUL, so the encoding is unambiguous.
        var data: [UInt8] = []
        data.append(contentsOf: format)
        data.append(0)
        data.append(contentsOf: id.utf8)
        data.append(0)
        data.append(contentsOf: name.utf8)
        data.append(0)
        ASCIIDecimal.append(version, to: &data)  // String(version), without making the String
        return data
    }

    /// nonce (12 bytes) || ciphertext || tag (16 bytes), with a fresh random nonce.
    package static func seal(_ plaintext: [UInt8], key: [UInt8], associatedData: [UInt8]) throws(StoreError) -> [UInt8] {
        guard let sealed = AESGCM.seal(plaintext, key: key, associatedData: associatedData) else {
            throw .corrupt("encryption failed")
        }
        return sealed
    }

    package static func open(
        _ sealed: UnsafeRawBufferPointer, key: [UInt8], associatedData: [UInt8], name: String
    ) throws(StoreError) -> [UInt8] {
        guard let plain = AESGCM.open(sealed, key: key, associatedData: associatedData) else {
            throw .undecryptable(name: name)
        }
        return plain
    }
}
