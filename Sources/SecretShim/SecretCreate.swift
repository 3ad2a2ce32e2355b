import ArgumentParser
import Glibc
import Namespaces
import SecretStore

struct SecretCreate: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "create",
        abstract: "Create a secret from a file or standard input ('-'); prints its ID.")

    @OptionGroup var globals: GlobalOptions

    @Option(name: [.customShort("l"), .long], help: ArgumentHelp("Secret label (KEY=VALUE), repeatable.", valueName: "label"))
    var label: [String] = []

    @Argument(help: "Secret name.") var name: String
    @Argument(help: "File to read the value from, or '-' for standard input.") var file: String

    func run() throws {
        let what = "secret create"
        var labels: [SecretRecord.Label] = []
        for text in label {
            do {
                let (key, value) = try SecretRules.parseLabel(text)
                labels.removeAll { $0.key == key }
                labels.append(.init(key: key, value: value))
            } catch {
                throw CommandFailure.usage(what, "\(error)")
            }
        }
        // Check the name before reading: a bad name must not consume stdin for nothing.
        do { try SecretRules.validateName(name) } catch { throw CommandFailure.failed(what, error) }

        var value = try Self.readValue(from: file, what)
        defer { wipe(&value) }
        do {
            let location = try globals.location
            let store = try location.openForWriting()
            let record = try store.create(name: name, value: value, labels: labels)
            Audit.created(record, location)
            Output.out(record.id + "\n")
            // Once, from the command that made the key: it is the one thing a backup of
            // secrets.db does not hold, and without it no secret can be read.
            if store.createdKey {
                if location.isRemote {
                    Output.notice(what, "created the store's key \(location.keyFile): every node needs a copy, and keep a backup of it apart from etcd's; without it the store cannot be read")
                } else {
                    Output.notice(what, "created the store's key \(location.keyFile): keep a backup of it apart from secrets.db; without it the store cannot be read")
                }
            }
        } catch {
            throw CommandFailure.failed(what, error)
        }
    }

    /// A value from `file`, or standard input for `-`: at most the size limit, so a huge input
    /// is refused without being held in memory. (`podman-driver store` reads its value so too.)
    static func readValue(from file: String, _ what: String) throws -> [UInt8] {
        do {
            let fd = file == "-" ? FileDescriptor(rawValue: STDIN_FILENO) : try FileDescriptor.open(file, O_RDONLY)
            defer { if file != "-" { fd.close() } }
            let value = try fd.readAll(limit: SecretRules.maxSize, path: file == "-" ? "standard input" : file)
            try SecretRules.validateSize(value.count)
            return value
        } catch let error as SysError where error.errno == EFBIG {
            throw CommandFailure.failed(what, StoreError.invalidSize(SecretRules.maxSize))
        } catch {
            throw CommandFailure.failed(what, error)
        }
    }
}
