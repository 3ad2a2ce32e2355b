import ArgumentParser
import SecretStore

/// `--config`, `--root`, `--key-file` and the store's flags, accepted before the command (`secretshim --root R secret ls`)
/// and after it (`secretshim secret ls --root R`).
struct GlobalOptions: ParsableArguments {
    @Option(name: .long, help: ArgumentHelp("The configuration file (env SECRETSHIM_CONFIG; default /etc/secretshim/config.toml as root, else $XDG_CONFIG_HOME/secretshim/config.toml).", valueName: "file"))
    var config: String?

    @Option(name: .long, help: ArgumentHelp("Where the store and state live (env SECRETSHIM_ROOT).", valueName: "dir"))
    var root: String?

    @Option(name: .long, help: ArgumentHelp("The 32-byte master key (env SECRETSHIM_KEY_FILE).", valueName: "path"))
    var keyFile: String?

    @Option(name: .long, help: ArgumentHelp("local, or etcd://HOST:PORT[,HOST:PORT...][/PREFIX] (env SECRETSHIM_STORE).", valueName: "url"))
    var store: String?

    @Option(name: .customLong("etcd-cacert"), help: ArgumentHelp("The CA of the etcd members' certificates (env SECRETSHIM_ETCD_CACERT).", valueName: "path"))
    var etcdCACert: String?

    @Option(name: .customLong("etcd-cert"), help: ArgumentHelp("This node's client certificate for etcd (env SECRETSHIM_ETCD_CERT).", valueName: "path"))
    var etcdCert: String?

    @Option(name: .customLong("etcd-key"), help: ArgumentHelp("The client certificate's key (env SECRETSHIM_ETCD_KEY).", valueName: "path"))
    var etcdKey: String?

    /// Resolved from flags, environment and defaults; as root, checked to be root's alone
    /// (`StoreLocation.trusted`).
    var location: StoreLocation {
        get throws {
            do {
                if let config { LeadingGlobals.config = config }
                return try StoreChoice.location(
                    root: root, keyFile: keyFile, store: store, caCertificate: etcdCACert, certificate: etcdCert, key: etcdKey)
            } catch let failure as CommandFailure {
                throw failure
            } catch {
                throw CommandFailure.failed("store", error)
            }
        }
    }
}
