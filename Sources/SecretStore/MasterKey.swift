import Glibc
import Namespaces

/// The 32-byte AES-256 master key, kept in a file only its owner can read (as ssh keeps
/// private keys), created with fresh random bytes on first use.
public enum MasterKey {
    public static let size = 32

    /// Writes a fresh random key at `path` (0400, its folder made 0700) unless a file is there.
    /// True if this call wrote it: a concurrent first use may win the race, and then its key is
    /// the key. The store decides when a new key is allowed (`SecretStore.create`).
    public static func create(_ path: String) throws(StoreError) -> Bool {
        do {
            try Files.makeDirectories(Files.parent(of: path), mode: 0o700)
            var fresh = System.randomBytes(size)
            defer { wipe(&fresh) }
            return try Files.createExclusively(path, fresh, mode: 0o400)
        } catch {
            throw .keyFile(path: path, why: "cannot create: \(error.reason)")
        }
    }

    /// The key at `path`, refused unless it is a regular file of exactly 32 bytes that only its
    /// owner (this user or root) can read. `createIfMissing`: `create` it first if it is not there.
    public static func load(_ path: String, createIfMissing: Bool) throws(StoreError) -> [UInt8] {
        if createIfMissing && !Files.exists(path) { _ = try create(path) }
        let fd: FileDescriptor
        do {
            fd = try FileDescriptor.open(path, O_RDONLY | O_NOFOLLOW | O_NONBLOCK)
        } catch {
            throw .keyFile(path: path, why: error.reason)
        }
        defer { fd.close() }
        do {
            let st = try fd.status(path: path)
            guard st.st_mode & S_IFMT == S_IFREG else {
                throw StoreError.keyFile(path: path, why: "not a regular file")
            }
            guard st.st_mode & 0o077 == 0 else {
                throw StoreError.keyFile(
                    path: path,
                    why: "permissions \(String(st.st_mode & 0o777, radix: 8)) are too open: it must be readable by its owner only (chmod 400)")
            }
            guard st.st_uid == System.effectiveUserID || st.st_uid == 0 else {
                throw StoreError.keyFile(path: path, why: "owned by uid \(st.st_uid), not by this user or root")
            }
            let key = try fd.readAll(limit: size + 1, path: path)
            guard key.count == size else {
                throw StoreError.keyFile(path: path, why: "must hold exactly \(size) bytes")
            }
            return key
        } catch let error as StoreError {
            throw error
        } catch let error as SysError {
            if error.errno == EFBIG { throw .keyFile(path: path, why: "must hold exactly \(size) bytes") }
            throw .keyFile(path: path, why: error.reason)
        } catch {
            throw .keyFile(path: path, why: "\(error)")
        }
    }
}
