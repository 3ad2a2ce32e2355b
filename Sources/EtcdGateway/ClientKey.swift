import NIOSSL
import EtcdStore
import SecretStore

/// The client certificate's private key, read as NIOSSL takes it. openssl 3 writes new keys as
/// PKCS#8 (`BEGIN PRIVATE KEY`), older tools and etcd's own guides the traditional forms
/// (`BEGIN EC PRIVATE KEY`, `BEGIN RSA PRIVATE KEY`); users hold both, so both are read: PEM
/// first, then the DER inside the PEM armour.
enum ClientKey {
    static func load(_ path: String) throws -> NIOSSLPrivateKey {
        do {
            return try NIOSSLPrivateKey(file: path, format: .pem)
        } catch let pemError {
            guard let der = try? derInside(path) else { throw pemError }
            do {
                return try NIOSSLPrivateKey(bytes: der, format: .der)
            } catch {
                throw pemError
            }
        }
    }

    /// The base64 body of the file's first PEM block, decoded.
    static func derInside(_ path: String) throws -> [UInt8]? {
        let text = String(decoding: try Array(FileBytes.read(path)), as: UTF8.self)
        var body = ""
        var inside = false
        for line in text.split(whereSeparator: { $0 == "\n" || $0 == "\r\n" || $0 == "\r" }) {
            if line.hasPrefix("-----BEGIN ") { inside = true; continue }
            if line.hasPrefix("-----END ") { break }
            if inside { body += line }
        }
        return FileBytes.base64Decoded(body)
    }
}
