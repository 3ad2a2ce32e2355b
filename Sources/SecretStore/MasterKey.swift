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

    // MARK: - Rotation (`key rotate`; KeyRotation says how a store uses these)

    /// Runs `body` holding an exclusive flock(2) on the key file: `key rotate` and `store
    /// restore` take it, so that neither reads a key the other is replacing (a fresh-eyes
    /// finding: two rotations at once, or a restore beside a rotation, left the store sealed
    /// under a key no file held any more). A rotation renames a new file over the key, so the
    /// lock is taken again until it is held on the file the path names. `.keyFile` if the key
    /// file cannot be opened.
    public static func whileLocked<T>(_ keyFile: String, _ body: () throws(StoreError) -> T) throws(StoreError) -> T {
        while true {
            let fd: FileDescriptor
            do { fd = try FileDescriptor.open(keyFile, O_RDONLY | O_NOFOLLOW | O_NONBLOCK) } catch {
                throw .keyFile(path: keyFile, why: error.reason)
            }
            defer { fd.close() }
            do { try fd.lock(LOCK_EX, path: keyFile) } catch { throw .keyFile(path: keyFile, why: error.reason) }
            guard let held = try? fd.status(path: keyFile), let named = try? Files.linkStatus(keyFile),
                held.st_ino == named.st_ino, held.st_dev == named.st_dev
            else { continue }
            return try body()
        }
    }

    /// Where a rotation keeps the new key until its commit: `<key file>.next`.
    public static func nextPath(_ keyFile: String) -> String { keyFile + ".next" }

    /// The key the next rotation seals under: `.next` if one is there (prepared with `key rotate
    /// --prepare` and copied to the other nodes of a cluster beforehand, or left by a rotation
    /// killed before its commit, which never used it), else a fresh one written there (0400,
    /// flushed, file and name) before anything is sealed under it. `.keyFile` if it cannot be
    /// written, or if the one there is not a valid key (wrong size, mode or owner).
    public static func next(_ keyFile: String) throws(StoreError) -> [UInt8] {
        let next = nextPath(keyFile)
        if let st = try? Files.linkStatus(next) {
            // A second name elsewhere would outlive the key's rotation away (a fresh-eyes finding).
            guard st.st_nlink == 1 else { throw .keyFile(path: next, why: "it has other names (hard links): a key must have one") }
            return try load(next, createIfMissing: false)
        }
        do {
            var fresh = System.randomBytes(size)
            defer { wipe(&fresh) }
            _ = try Files.createExclusively(next, fresh, mode: 0o400)
        } catch {
            throw .keyFile(path: next, why: "cannot write the new key: \(error.reason)")
        }
        return try load(next, createIfMissing: false)
    }

    /// After a rotation's commit: `.next` becomes the key file (the old key is removed by the
    /// rename), flushed. `.keyFile` if the rename fails: the next command finishes it (`adoptNext`).
    public static func promoteNext(_ keyFile: String) throws(StoreError) {
        do {
            try Files.rename(nextPath(keyFile), to: keyFile)
            Files.syncDirectory(of: keyFile)
        } catch {
            throw .keyFile(path: keyFile, why: "the store was re-sealed under the key in \(nextPath(keyFile)), which could not replace it (\(error.reason)); the next command will retry")
        }
    }

    /// A key file the store refused may be one rotation behind (a rotation killed between its
    /// commit and its rename, or done on another node of a cluster): if `.next` is a valid key
    /// and `isStores` says it opens the store's key check, it replaces the key file (on a
    /// read-only folder it is used where it is) and is returned. nil otherwise.
    public static func adoptNext(_ keyFile: String, isStores: ([UInt8]) -> Bool) -> [UInt8]? {
        let next = nextPath(keyFile)
        guard Files.exists(next), let key = try? load(next, createIfMissing: false), isStores(key) else { return nil }
        if (try? Files.rename(next, to: keyFile)) != nil { Files.syncDirectory(of: keyFile) }
        return key
    }

    /// The key to use when the store refused `current`: `.next` if it opens the store's key
    /// check (`adoptNext`), else the key file read again, if a rotation elsewhere replaced it
    /// since `current` was read and the store `accepts` it; nil if neither.
    public static func rotated(
        _ keyFile: String, current: [UInt8]?, opensCheck: ([UInt8]) -> Bool, accepts: ([UInt8]) -> Bool
    ) -> [UInt8]? {
        if let adopted = adoptNext(keyFile, isStores: opensCheck) { return adopted }
        guard let key = try? load(keyFile, createIfMissing: false), key != current, accepts(key) else { return nil }
        return key
    }
}
