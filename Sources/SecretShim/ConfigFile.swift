import Glibc
import JSON
import Namespaces
import SecretStore

/// The configuration file (SPEC.md "configuration"): `--config FILE` (before the command, or the
/// runtime wrapper's `--secretshim-config`), else `SECRETSHIM_CONFIG`, else
/// `/etc/secretshim/config.toml` for root or `$XDG_CONFIG_HOME/secretshim/config.toml`
/// (`~/.config/...`) for a user. TOML with string values for the keys in `keys` only; every
/// path absolute. Each value is the fallback after the flag and the environment variable, before
/// the default (`StoreChoice`, `NodeCommand`).
///
/// The file is parsed by TOMLKit in `secretshim-documents` (a program of its own, see
/// DocumentReader/main.swift). `run` must not pay that program's start (about 5 ms) each time,
/// so what it answered is kept in `config.cache` in the default state dir with the file's
/// identity (device, inode, size, mtime and ctime, which no one can set back): a file changed
/// in any way is read again. ./bench/run measures `run` with a configuration file.
///
/// As root the file must be root's, under root's own directories, writable by no one else (a
/// `sudo -E` with `SECRETSHIM_CONFIG` pointing into a user's files would otherwise let the user
/// choose root's store); a user's must be the user's or root's, writable by no one else.
/// Errors: a file that cannot be read or is not trusted, exit 1; one that is malformed (TOML
/// syntax, an unknown key, a value that is not an absolute path or a string), exit 2. Both one
/// line naming the file.
struct ConfigFile: Equatable {
    /// The keys SPEC.md names, as TOML spells them.
    static let keys = ["root", "key_file", "state_dir", "store", "etcd_cacert", "etcd_cert", "etcd_key", "node"]
    /// Keys whose value is a path (absolute: the file may be read from any directory).
    static let pathKeys: Set<String> = ["root", "key_file", "state_dir", "etcd_cacert", "etcd_cert", "etcd_key"]
    /// A configuration is a few lines; anything near this is not one.
    static let maximumSize = 64 << 10

    /// The file read (its real path), nil when there is none.
    var path: String?
    var values = Values()

    subscript(key: String) -> String? { values[key] }

    /// One optional string per key. Fields, not a `[String: String]`: on `run`'s path a
    /// dictionary's first use instantiates its metadata by mangled name, whose conformance
    /// check scans every conformance record of the binary (~250,000 instructions, callgrind).
    struct Values: Equatable {
        var root, keyFile, stateDirectory, store, etcdCACert, etcdCert, etcdKey, node: String?

        subscript(key: String) -> String? {
            get {
                switch key {
                case "root": return root
                case "key_file": return keyFile
                case "state_dir": return stateDirectory
                case "store": return store
                case "etcd_cacert": return etcdCACert
                case "etcd_cert": return etcdCert
                case "etcd_key": return etcdKey
                case "node": return node
                default: return nil
                }
            }
            set {
                switch key {
                case "root": root = newValue
                case "key_file": keyFile = newValue
                case "state_dir": stateDirectory = newValue
                case "store": store = newValue
                case "etcd_cacert": etcdCACert = newValue
                case "etcd_cert": etcdCert = newValue
                case "etcd_key": etcdKey = newValue
                default: node = newValue
                }
            }
        }
    }

    // Not an Optional<ConfigFile>: its outlined copies cost `run` ~30,000 instructions
    // (callgrind, ./bench/run) for metadata.
    nonisolated(unsafe) private static var loaded = ConfigFile()
    nonisolated(unsafe) private static var isLoaded = false

    /// The configuration in effect, read once per process.
    static func current() throws(CommandFailure) -> ConfigFile {
        if isLoaded { return loaded }
        loaded = try load()
        isLoaded = true
        return loaded
    }

    /// The file's path as chosen, and whether it was asked for (then it must exist).
    static func chosenPath() -> (path: String, explicit: Bool) {
        if let explicit = LeadingGlobals.config, !explicit.isEmpty { return (explicit, true) }
        if let variable = System.environment("SECRETSHIM_CONFIG"), !variable.isEmpty { return (variable, true) }
        if System.effectiveUserID == 0 { return ("/etc/secretshim/config.toml", false) }
        if let config = System.environment("XDG_CONFIG_HOME"), config.hasUTF8Prefix("/") {
            return (config + "/secretshim/config.toml", false)
        }
        return (StoreLocation.home() + "/.config/secretshim/config.toml", false)
    }

    static func load() throws(CommandFailure) -> ConfigFile {
        let (path, explicit) = chosenPath()
        func unreadable(_ why: String) -> CommandFailure { CommandFailure(what: "config \(path)", why: why, exitCode: 1) }
        let real: String
        if System.effectiveUserID == 0 {
            if !explicit && !Files.exists(path) { return ConfigFile() }
            do { real = try StoreLocation.trustedFile(path) } catch { throw unreadable("\(error)") }
        } else {
            do { real = try Files.realPath(path) } catch {
                if !explicit && (error.errno == ENOENT || error.errno == ENOTDIR) { return ConfigFile() }
                throw unreadable(error.description)
            }
        }
        let fd: FileDescriptor
        do { fd = try FileDescriptor.open(real, O_RDONLY | O_NOFOLLOW | O_NONBLOCK) } catch { throw unreadable(error.description) }
        defer { fd.close() }
        let st: stat
        do { st = try fd.status(path: real) } catch { throw unreadable(error.description) }
        guard st.st_mode & S_IFMT == S_IFREG else { throw unreadable("not a regular file") }
        guard st.st_uid == System.effectiveUserID || st.st_uid == 0 else {
            throw unreadable("it belongs to uid \(st.st_uid), not to you or root")
        }
        guard st.st_mode & 0o022 == 0 else {
            throw unreadable("it is writable by group or others (mode \(String(st.st_mode & 0o7777, radix: 8)))")
        }
        guard st.st_size <= maximumSize else { throw unreadable("over \(maximumSize >> 10) KiB: not a configuration file") }
        let identity = "\(st.st_dev) \(st.st_ino) \(st.st_size) \(st.st_mtim.tv_sec).\(st.st_mtim.tv_nsec) \(st.st_ctim.tv_sec).\(st.st_ctim.tv_nsec)"
        if let values = Cache.values(for: real, identity: identity) { return ConfigFile(path: real, values: values) }
        let document = try Documents.read(.toml, from: fd, what: "config \(path)", limit: 1 << 20)
        let values = try validate(document, path: path)
        Cache.store(values, for: real, identity: identity)
        return ConfigFile(path: real, values: values)
    }

    /// Only `keys`, each a string; paths absolute; no control bytes.
    static func validate(_ document: JSONValue, path: String) throws(CommandFailure) -> Values {
        func malformed(_ why: String) -> CommandFailure { .usage("config \(path)", why) }
        guard case .object(let table) = document else { throw malformed("not a TOML table") }
        var values = Values()
        for (key, value) in table {
            guard keys.contains(key) else {
                throw malformed("unknown key '\(key)' (known: \(keys.joined(separator: ", ")))")
            }
            guard case .string(let text) = value else { throw malformed("'\(key)' must be a string") }
            // Control characters, C1 included, and the bidirectional overrides
            // (`Output.escapingControlBytes` says why each is special to a terminal).
            guard !text.isEmpty, !text.unicodeScalars.contains(where: Output.isSpecial) else {
                throw malformed("'\(key)' must be a non-empty string without control characters")
            }
            if pathKeys.contains(key) && !text.hasUTF8Prefix("/") {
                throw malformed("'\(key)' must be an absolute path, not '\(text)'")
            }
            values[key] = text
        }
        return values
    }

    /// What `secretshim-documents` answered for a file, kept for `run`: `config.cache` in the
    /// default state dir (root's own as root), owner-only. Lines of `NAME VALUE`: a first
    /// `secretshim-config-cache 1`, then `path` and `identity`, then one per key set. Neither a
    /// value nor the path holds a line break (`validate`; a path with one is not cached). Best
    /// effort: a cache that cannot be read or written is simply not used.
    enum Cache {
        static let header = "secretshim-config-cache 1"

        static func location() -> String? {
            let directory = StoreLocation.defaultStateDirectory()
            if System.effectiveUserID == 0 {
                guard let real = try? StoreLocation.trustedPath(directory) else { return nil }
                return real + "/config.cache"
            }
            return directory + "/config.cache"
        }

        static func values(for path: String, identity: String) -> Values? {
            guard let cache = location(),
                  let fd = try? FileDescriptor.openIfPresent(cache, O_RDONLY | O_NOFOLLOW) else { return nil }
            defer { fd.close() }
            guard let st = try? fd.status(path: cache), st.st_uid == System.effectiveUserID, st.st_mode & 0o077 == 0,
                  let bytes = try? fd.readAll(limit: maximumSize * 2, path: cache) else { return nil }
            var values = Values()
            var index = 0
            for line in bytes.split(separator: UInt8(ascii: "\n"), omittingEmptySubsequences: false) {
                defer { index += 1 }
                if index == 0 {
                    guard line.elementsEqual(header.utf8) else { return nil }
                    continue
                }
                if line.isEmpty { continue }
                guard let space = line.firstIndex(of: UInt8(ascii: " ")) else { return nil }
                let key = String(decoding: line[..<space], as: UTF8.self)
                let value = String(decoding: line[(space + 1)...], as: UTF8.self)
                switch index {
                case 1: guard key == "path", value == path else { return nil }
                case 2: guard key == "identity", value == identity else { return nil }
                default:
                    guard keys.contains(key) else { return nil }
                    values[key] = value
                }
            }
            return index >= 3 ? values : nil
        }

        static func store(_ values: Values, for path: String, identity: String) {
            guard let cache = location(), !path.utf8.contains(UInt8(ascii: "\n")) else { return }
            var text = header + "\npath \(path)\nidentity \(identity)\n"
            for key in keys { if let value = values[key] { text += "\(key) \(value)\n" } }
            try? Files.makeDirectories(Files.parent(of: cache), mode: 0o700)
            try? Files.replace(cache, with: Array(text.utf8), mode: 0o600, temporary: cache + ".new-\(getpid())", durably: false)
        }
    }
}
