import ArgumentParser
import Launcher
import Namespaces
import SecretStore

/// `secretshim store backup|restore`: the local store to a file and back (README "Operations").
struct StoreCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "store",
        abstract: "Back up and restore the local store (values stay sealed; the key is never in a backup).",
        subcommands: [StoreBackupCommand.self, StoreRestoreCommand.self])
}

/// The local store a backup or restore of `file` works on: an empty `file` is a usage error,
/// and on etcd the cluster's own tools back up (`etcdctl snapshot save`: its values are sealed
/// by secretshim all the same), said in one line (`instead`).
private func localStore(_ globals: GlobalOptions, _ what: String, file: String, instead: String) throws -> StoreLocation {
    if file.isEmpty { throw CommandFailure.usage(what, "give the backup's file") }
    let location = try globals.location
    guard location.isRemote else { return location }
    throw CommandFailure(what: what, why: "works on the local store, and \(location.storeName) is on etcd: \(instead)", exitCode: 1)
}

struct StoreBackupCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "backup",
        abstract: "Copy the store into a new FILE, consistent while other commands run.",
        discussion: """
            The backup holds the sealed values, labels and key check, never the key: keep the key \
            apart from it (README: Operations). FILE must not exist.
            """)

    @OptionGroup var globals: GlobalOptions

    @Argument(help: ArgumentHelp("The new backup file.", valueName: "file"), completion: .file())
    var file: String

    func run() throws {
        let what = "store backup"
        let location = try localStore(globals, what, file: file, instead: "back up etcd with 'etcdctl snapshot save' (its values are sealed) and keep the key file apart")
        do {
            let store = try SecretStore.openForReading(location)
            let count = try store.backup(to: file)
            Audit.store("backup", location, ["file": file, "secrets": String(count)])
            Output.out("backed up \(count) secret\(count == 1 ? "" : "s") to \(Output.escapingControlBytes(file)) (sealed; the key is not in it)\n")
        } catch {
            throw CommandFailure.failed(what, error)
        }
    }
}

struct StoreRestoreCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "restore",
        abstract: "Replace the store with a backup made under the same key, in one transaction.",
        discussion: """
            The key file must be the backup's (copy it first on a new host). A store that holds \
            secrets is replaced only with --force, and never while a running workload holds a \
            secret the backup lacks. A restore that fails leaves the store as it was.
            """)

    @OptionGroup var globals: GlobalOptions

    @Flag(name: .shortAndLong, help: "Replace a store that holds secrets.")
    var force = false

    @Argument(help: ArgumentHelp("The backup file.", valueName: "file"), completion: .file())
    var file: String

    func run() throws {
        let what = "store restore"
        let location = try localStore(globals, what, file: file, instead: "restore etcd with 'etcdutl snapshot restore' (or 'etcdctl snapshot restore' on etcd 3.4)")
        do {
            let restored = try SecretStore.restore(location, from: file, force: force, leases: Audit.leases(location))
            let reason = "store restore " + file
            for record in restored.removed { Audit.log(location, .secret("remove", id: record.id, name: record.name, reason: reason)) }
            for record in restored.added { Audit.log(location, .secret("create", id: record.id, name: record.name, reason: reason)) }
            Audit.store("restore", location, ["file": file, "secrets": String(restored.total)])
            Output.out("restored \(restored.total) secret\(restored.total == 1 ? "" : "s") from \(Output.escapingControlBytes(file))\n")
        } catch {
            Audit.store("refuse", location, ["file": file, "reason": "\(error)"])
            throw CommandFailure.failed(what, error)
        }
    }
}

/// `secretshim key rotate`.
struct KeyCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "key", abstract: "Manage the master key.", subcommands: [KeyRotateCommand.self])
}

struct KeyRotateCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "rotate",
        abstract: "Re-seal every secret under a new master key, in one transaction, and replace the key file.",
        discussion: """
            The new key is <key file>.next until the commit, then replaces the key file. Killed at \
            any moment, the store opens with exactly one of the two keys (the next command \
            finishes a rotation that committed). Running workloads keep their files. On an etcd \
            store, first 'key rotate --prepare' and copy <key file>.next to every node's key \
            folder: each node then adopts the new key by itself when the rotation commits.
            """)

    @OptionGroup var globals: GlobalOptions

    @Flag(help: "Only write the next key (<key file>.next, kept if there), to copy to the other nodes first.")
    var prepare = false

    func run() throws {
        let what = "key rotate"
        let location = try globals.location
        do {
            if !location.isRemote, !Files.exists(location.root) { throw StoreError.noStore(location.root) }
            let store = try location.openForWriting(creating: false)
            defer { store.close() }
            let next = MasterKey.nextPath(location.keyFile)
            if prepare {
                try store.checkKey()
                var key = try MasterKey.next(location.keyFile)
                wipe(&key)
                Output.out("the next key is \(Output.escapingControlBytes(next)): copy it, as it is, beside every node's key file; then run 'secretshim key rotate'\n")
                return
            }
            let count = try store.rotateKey()
            Audit.store("rotate", location, ["keyFile": location.keyFile, "secrets": String(count)])
            var said = "re-sealed \(count) secret\(count == 1 ? "" : "s") under a new key in \(Output.escapingControlBytes(location.keyFile)); back it up: the old key no longer opens the store"
            if location.isRemote {
                said += ", and every other node needs the new key: those given it as \(Output.escapingControlBytes(next)) (key rotate --prepare) adopt it now, the others refuse with a key mismatch until it is copied to their key file"
            } else {
                said += ", and backups made before open only with the old key"
            }
            Output.out(said + "\n")
        } catch {
            throw CommandFailure.failed(what, error)
        }
    }
}
