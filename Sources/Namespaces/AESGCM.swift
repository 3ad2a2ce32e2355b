import CLinux

/// AES-256-GCM in swift-crypto's combined layout: nonce (12 bytes) || ciphertext || tag (16 bytes).
/// The cipher is BoringSSL's, called through CLinux (cl_sealing.h says why not swift-crypto's API).
public enum AESGCM {
    public static let keyBytes = Int(CL_SEAL_KEY_BYTES)
    static let nonceBytes = Int(CL_SEAL_NONCE_BYTES)
    static let tagBytes = Int(CL_SEAL_TAG_BYTES)

    /// Seals under a fresh random nonce. Nil only if the key is not 32 bytes.
    public static func seal(_ plaintext: [UInt8], key: [UInt8], associatedData: [UInt8]) -> [UInt8]? {
        guard key.count == keyBytes else { return nil }
        var combined = System.randomBytes(nonceBytes)
        combined.append(contentsOf: repeatElement(0, count: plaintext.count + tagBytes))
        let status = combined.withUnsafeMutableBufferPointer { out in
            cl_seal_aes256gcm(
                key, out.baseAddress!, plaintext, plaintext.count, associatedData, associatedData.count,
                out.baseAddress! + nonceBytes)
        }
        return status == 0 ? combined : nil
    }

    /// The plaintext, or nil if the box is malformed, the key wrong, or anything was tampered with.
    public static func open(_ combined: [UInt8], key: [UInt8], associatedData: [UInt8]) -> [UInt8]? {
        guard key.count == keyBytes, combined.count >= nonceBytes + tagBytes else { return nil }
        var plaintext = [UInt8](repeating: 0, count: combined.count - nonceBytes - tagBytes)
        let status = combined.withUnsafeBufferPointer { box in
            plaintext.withUnsafeMutableBufferPointer { out in
                cl_open_aes256gcm(
                    key, box.baseAddress!, box.baseAddress! + nonceBytes, box.count - nonceBytes,
                    associatedData, associatedData.count, out.baseAddress)
            }
        }
        return status == 0 ? plaintext : nil
    }
}
