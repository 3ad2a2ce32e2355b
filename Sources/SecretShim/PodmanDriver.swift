import ArgumentParser
import Glibc
import Namespaces
import SecretStore

/// `secretshim podman-driver list|lookup|store|delete`: secretshim's store as Podman's `shell`
/// secret driver (containers.conf `[secrets]`, README "Podman's secret driver"). Podman's own
/// `file` driver keeps every value as plain base64 in its storage (podman #25118, #27856);
/// through this one, `podman secret create/ls/rm` and `podman run --secret` keep values sealed
/// in secretshim's store, and Podman's storage holds only its metadata (name, ID, driver).
///
/// Podman's contract (containers/common's shell driver): the secret's ID in `SECRET_ID`
/// (25 hex digits, Podman's own); `store` reads the value on stdin; `lookup` writes it on
/// stdout, to Podman, which asked for it (the one command of secretshim that writes a value
/// to stdout, and only to a pipe: refused on a terminal); `delete` removes it; `list` prints
/// the IDs it holds, one a line. A secret is kept as `podman-ID`, so `secret ls` shows them.
struct PodmanDriver: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "podman-driver",
        abstract: "Podman's shell secret driver: keep podman secrets sealed in secretshim's store.",
        discussion: """
            For containers.conf:
              [secrets]
              driver = "shell"
              [secrets.opts]
              list = "secretshim podman-driver list"
              lookup = "secretshim podman-driver lookup"
              store = "secretshim podman-driver store"
              delete = "secretshim podman-driver delete"
            Podman gives the secret's ID in SECRET_ID; 'store' reads the value on standard input,
            'lookup' writes it on standard output (to a pipe only). Secrets are kept as podman-ID.
            """)

    enum Action: String, ExpressibleByArgument, CaseIterable {
        case list, lookup, store, delete
    }

    @OptionGroup var globals: GlobalOptions

    @Argument(help: "list, lookup, store or delete.") var action: Action

    /// The prefix of the names the driver keeps Podman's secrets under.
    static let namePrefix = "podman-"

    func run() throws {
        let what = "podman-driver \(action.rawValue)"
        let location = try globals.location
        if action == .list {
            do {
                let store = try location.openForReading()
                try store.checkKey()
                let ids = try store.list().map(\.name).filter { $0.hasUTF8Prefix(Self.namePrefix) }.map { String($0.dropFirst(Self.namePrefix.count)) }
                Output.out(ids.map { $0 + "\n" }.joined())
            } catch {
                throw CommandFailure.failed(what, error)
            }
            return
        }
        let id = try Self.secretID(what)
        let name = Self.namePrefix + id
        do {
            switch action {
            case .store:
                var value = try SecretCreate.readValue(from: "-", what)
                defer { wipe(&value) }
                let record = try location.openForWriting().create(name: name, value: value, labels: [.init(key: "org.secretshim.podman-id", value: id)])
                Audit.created(record, location)
            case .lookup:
                guard isatty(STDOUT_FILENO) == 0 else {
                    throw CommandFailure(what: what, why: "refusing to write a secret's value to a terminal: Podman reads it through a pipe", exitCode: 2)
                }
                let store = try location.openForReading()
                try store.checkKey()
                var value = try store.value(of: try store.find(name))
                defer { wipe(&value) }
                do { try FileDescriptor(rawValue: STDOUT_FILENO).writeAll(value, path: "standard output") } catch { throw StoreError.system(error) }
            case .delete:
                let store = try location.openForWriting(creating: false)
                try store.checkKey()
                let record = try store.find(name)
                try store.remove(record, leases: Audit.leases(location))
                Audit.removed(record, location)
            case .list:
                break
            }
        } catch let failure as CommandFailure {
            throw failure
        } catch {
            throw CommandFailure.failed(what, error)
        }
    }

    /// `SECRET_ID`: Podman's ID of the secret, hex digits (25 from Podman), so that
    /// `podman-ID` is a valid secret name. A usage error (exit 2) otherwise.
    static func secretID(_ what: String) throws -> String {
        guard let id = System.environment("SECRET_ID"), !id.isEmpty else {
            throw CommandFailure.usage(what, "SECRET_ID is not set: Podman sets it when it runs its shell secret driver")
        }
        guard id.utf8.count <= 64 - namePrefix.utf8.count, id.utf8.allSatisfy({ (0x30...0x39).contains($0) || (0x61...0x66).contains($0) }) else {
            throw CommandFailure.usage(what, "SECRET_ID '\(id)' is not a Podman secret ID (hex digits)")
        }
        return id
    }
}
