import Crypto
import Namespaces
import SecretStore
import Testing

/// The store seals through BoringSSL's C API; these check it against swift-crypto's AES.GCM,
/// which sealed every store written before, in both directions, and that nothing forged opens.
@Suite struct SealingTests {
    static let key = System.randomBytes(32)
    static let associatedData = Array("secretshim/v1\0id\0name\01".utf8)

    @Test(arguments: [0, 1, 15, 16, 17, 4096, 511_999])
    func agreesWithSwiftCrypto(size: Int) throws {
        let plaintext = System.randomBytes(size)
        let ours = try #require(AESGCM.seal(plaintext, key: Self.key, associatedData: Self.associatedData))
        #expect(ours.count == 12 + size + 16)
        let opened = try AES.GCM.open(
            AES.GCM.SealedBox(combined: ours), using: SymmetricKey(data: Self.key), authenticating: Self.associatedData)
        #expect(Array(opened) == plaintext)

        let theirs = try #require(
            AES.GCM.seal(plaintext, using: SymmetricKey(data: Self.key), authenticating: Self.associatedData).combined)
        #expect(AESGCM.open(Array(theirs), key: Self.key, associatedData: Self.associatedData) == plaintext)
    }

    @Test func freshNonceEachTime() throws {
        let a = try #require(AESGCM.seal([1, 2, 3], key: Self.key, associatedData: []))
        let b = try #require(AESGCM.seal([1, 2, 3], key: Self.key, associatedData: []))
        #expect(a[..<12] != b[..<12])
        #expect(a != b)
    }

    @Test func nothingForgedOpens() throws {
        let sealed = try #require(AESGCM.seal(Array("s3cret".utf8), key: Self.key, associatedData: Self.associatedData))
        for index in sealed.indices {
            var flipped = sealed
            flipped[index] ^= 0x01
            #expect(AESGCM.open(flipped, key: Self.key, associatedData: Self.associatedData) == nil, "byte \(index)")
        }
        var otherKey = Self.key
        otherKey[0] ^= 0x80
        #expect(AESGCM.open(sealed, key: otherKey, associatedData: Self.associatedData) == nil)
        #expect(AESGCM.open(sealed, key: Self.key, associatedData: Self.associatedData + [0]) == nil)
        #expect(AESGCM.open(Array(sealed.dropLast()), key: Self.key, associatedData: Self.associatedData) == nil)
        #expect(AESGCM.open(Array(sealed.prefix(27)), key: Self.key, associatedData: Self.associatedData) == nil)
        #expect(AESGCM.open([], key: Self.key, associatedData: []) == nil)
        #expect(AESGCM.open(sealed, key: Array(Self.key.prefix(16)), associatedData: Self.associatedData) == nil)
        #expect(AESGCM.seal([1], key: [], associatedData: []) == nil)
    }
}
