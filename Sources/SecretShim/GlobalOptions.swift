import ArgumentParser
import SecretStore

/// `--root` and `--key-file`, accepted before the command (`secretshim --root R secret ls`)
/// and after it (`secretshim secret ls --root R`).
struct GlobalOptions: ParsableArguments {
    @Option(name: .long, help: ArgumentHelp("Where the store and state live (env SECRETSHIM_ROOT).", valueName: "dir"))
    var root: String?

    @Option(name: .long, help: ArgumentHelp("The 32-byte master key (env SECRETSHIM_KEY_FILE).", valueName: "path"))
    var keyFile: String?

    /// Resolved from flags, environment and defaults; as root, checked to be root's alone
    /// (`StoreLocation.trusted`).
    var location: StoreLocation {
        get throws {
            do {
                return try StoreLocation.resolve(root: root ?? LeadingGlobals.root, keyFile: keyFile ?? LeadingGlobals.keyFile).trusted()
            } catch {
                throw CommandFailure.failed("store", error)
            }
        }
    }
}
