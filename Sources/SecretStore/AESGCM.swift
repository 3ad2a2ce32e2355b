import CSealing
import Namespaces

/// AES-256-GCM in swift-crypto's combined layout: nonce (12 bytes) || ciphertext || tag (16 bytes).
/// The cipher is BoringSSL's, called through CSealing (CSealing.h says why not swift-crypto's API).
public enum AESGCM {
    public static let keyBytes = Int(AEAD_KEY_BYTES)
    static let nonceBytes = Int(AEAD_NONCE_BYTES)
    static let tagBytes = Int(AEAD_TAG_BYTES)

    /// Seals under a fresh random nonce. Nil only if the key is not 32 bytes.
    public static func seal(_ plaintext: [UInt8], key: [UInt8], associatedData: [UInt8]) -> [UInt8]? {
        guard key.count == keyBytes else { return nil }
        var combined = System.randomBytes(nonceBytes)
        combined.append(contentsOf: repeatElement(0, count: plaintext.count + tagBytes))
        let status = combined.withUnsafeMutableBufferPointer { out in
            aead_seal_aes256gcm(
                key, out.baseAddress!, plaintext, plaintext.count, associatedData, associatedData.count,
                out.baseAddress! + nonceBytes)
        }
        return status == 0 ? combined : nil
    }

    /// The plaintext, or nil if the box is malformed, the key wrong, or anything was tampered with.
    public static func open(_ combined: [UInt8], key: [UInt8], associatedData: [UInt8]) -> [UInt8]? {
        combined.withUnsafeBytes { open($0, key: key, associatedData: associatedData) }
    }

    public static func open(_ combined: UnsafeRawBufferPointer, key: [UInt8], associatedData: [UInt8]) -> [UInt8]? {
        guard key.count == keyBytes, combined.count >= nonceBytes + tagBytes, let box = combined.baseAddress else { return nil }
        let box8 = box.assumingMemoryBound(to: UInt8.self)
        var status: Int32 = -1
        // Uninitialized, not zero-filled: BoringSSL writes every byte (zeros if the tag is wrong).
        let plaintext = [UInt8](unsafeUninitializedCapacity: combined.count - nonceBytes - tagBytes) { out, count in
            status = aead_open_aes256gcm(
                key, box8, box8 + nonceBytes, combined.count - nonceBytes, associatedData, associatedData.count,
                out.baseAddress)
            count = out.count
        }
        return status == 0 ? plaintext : nil
    }
}
