import ArgumentParser

// `run` and `runtime` as ArgumentParser sees them: for `secretshim --help`, the man pages
// (swift-argument-parser's generate-manual) and the completion scripts only. main.swift parses
// and runs both by hand before ArgumentParser is touched (bench/budget), so neither `run()`
// here is reached from a command line. `run`'s options are `RunOption.all`'s, their help taken
// from that table; HandParsedCommandTests keeps the two in step.

struct RunDocumentation: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "run",
        abstract: "Run a command with secrets on a private, read-only tmpfs at /run/secrets.",
        usage: "secretshim run [OPTIONS] [--] COMMAND [ARG...]",
        discussion: """
            A relative target is under the secrets dir; an absolute one outside it is a read-only
            bind of the file over that path, in the workload's own mount namespace.
            Exit status: the workload's own; 125 shim error; 126 not executable; 127 not found.
            """)

    @Option(name: .customLong("secret"), help: RunOption.documented("--secret")) var secret: [String] = []
    @Option(name: .customLong("secrets-dir"), help: RunOption.documented("--secrets-dir")) var secretsDir: String?
    @Option(name: .customLong("tmpfs-size"), help: RunOption.documented("--tmpfs-size")) var tmpfsSize: String?
    @Option(name: .customLong("name"), help: RunOption.documented("--name")) var name: String?
    @Option(name: [.customShort("e"), .customLong("env")], help: RunOption.documented("--env")) var env: [String] = []
    @Flag(name: .customLong("allow-env-leak"), help: RunOption.documented("--allow-env-leak")) var allowEnvLeak = false
    @Option(name: [.customShort("u"), .customLong("user")], help: RunOption.documented("--user")) var user: String?
    @Option(name: .customLong("cap-drop"), help: RunOption.documented("--cap-drop")) var capDrop: [String] = []
    @Option(name: .customLong("cap-add"), help: RunOption.documented("--cap-add")) var capAdd: [String] = []
    @Flag(name: .customLong("no-new-privileges"), help: RunOption.documented("--no-new-privileges")) var noNewPrivileges = false
    @Option(name: .customLong("seccomp"), help: RunOption.documented("--seccomp")) var seccomp: String?
    @Flag(name: .customLong("privileged"), help: RunOption.documented("--privileged")) var privileged = false
    @Option(name: .customLong("rootfs"), help: RunOption.documented("--rootfs"), completion: .directory) var rootfs: String?
    @Option(name: .customLong("bundle"), help: RunOption.documented("--bundle"), completion: .directory) var bundle: String?
    @Option(name: .customLong("config"), help: RunOption.documented("--config"), completion: .file()) var config: String?
    @Option(name: .customLong("root"), help: RunOption.documented("--root"), completion: .directory) var root: String?
    @Option(name: .customLong("key-file"), help: RunOption.documented("--key-file"), completion: .file()) var keyFile: String?
    @Argument(parsing: .captureForPassthrough, help: ArgumentHelp("The command to run, and its arguments.", valueName: "COMMAND"))
    var command: [String] = []

    func run() throws {
        throw CommandFailure(what: "run", why: "parsed by hand in main.swift; this type only documents it", exitCode: 125)
    }
}

struct RuntimeDocumentation: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "runtime",
        abstract: "An OCI runtime for dockerd --add-runtime and podman --runtime, in front of runc.",
        usage: "secretshim runtime [OPTIONS] [RUNC GLOBAL OPTIONS] COMMAND [ARG...]",
        discussion: """
            Also installed as the link secretshim-runtime. runc's command line, passed to runc (or
            crun, or $SECRETSHIM_RUNTIME). A container gets secrets on a read-only tmpfs at
            /run/secrets only from the operator: a request signed by 'secretshim grant' in its
            org.secretshim.secrets annotation or SECRETSHIM_SECRETS variable, or --secretshim-grant.
            Every other flag and command is runc's. Exit status: the runtime's own; 1 when the
            wrapper refuses (one line on stderr, and in runc's --log file).
            """)

    @Option(name: .customLong("secretshim-grant"), help: ArgumentHelp("Grant a secret, in run's --secret grammar (repeatable).", valueName: "SPEC"))
    var grant: [String] = []
    @Option(name: .customLong("secretshim-config"), help: ArgumentHelp("Configuration file (env SECRETSHIM_CONFIG).", valueName: "FILE"), completion: .file())
    var config: String?
    @Option(name: .customLong("secretshim-root"), help: ArgumentHelp("Store root (env SECRETSHIM_ROOT).", valueName: "DIR"), completion: .directory)
    var root: String?
    @Option(name: .customLong("secretshim-key-file"), help: ArgumentHelp("Master key file (env SECRETSHIM_KEY_FILE).", valueName: "PATH"), completion: .file())
    var keyFile: String?
    @Option(name: .customLong("secretshim-state-dir"), help: ArgumentHelp("Staged secrets and leases (env SECRETSHIM_STATE_DIR).", valueName: "DIR"), completion: .directory)
    var stateDir: String?
    @Option(name: .customLong("secretshim-store"), help: ArgumentHelp("local, or etcd://HOST:PORT[,...][/PREFIX] (env SECRETSHIM_STORE).", valueName: "URL"))
    var store: String?
    @Option(name: .customLong("secretshim-etcd-cacert"), help: ArgumentHelp("The etcd store's CA certificate (env SECRETSHIM_ETCD_CACERT).", valueName: "PATH"), completion: .file())
    var etcdCACert: String?
    @Option(name: .customLong("secretshim-etcd-cert"), help: ArgumentHelp("The etcd store's client certificate (env SECRETSHIM_ETCD_CERT).", valueName: "PATH"), completion: .file())
    var etcdCert: String?
    @Option(name: .customLong("secretshim-etcd-key"), help: ArgumentHelp("The etcd store's client key (env SECRETSHIM_ETCD_KEY).", valueName: "PATH"), completion: .file())
    var etcdKey: String?
    @Argument(parsing: .captureForPassthrough, help: ArgumentHelp("runc's global options, command and arguments.", valueName: "RUNC-ARGUMENTS"))
    var runcArguments: [String] = []

    func run() throws {
        throw CommandFailure(what: "runtime", why: "parsed by hand in main.swift; this type only documents it", exitCode: 1)
    }
}

extension RunOption {
    /// The option's help from the table, on one line, with its value name.
    static func documented(_ name: String) -> ArgumentHelp {
        guard let index = index(named: name) else { return ArgumentHelp("") }
        let option = all[index]
        let text = option.help.split(separator: "\n").joined(separator: " ")
        if case .value(let valueName, _) = option.action { return ArgumentHelp(text + ".", valueName: valueName) }
        return ArgumentHelp(text + ".")
    }
}
