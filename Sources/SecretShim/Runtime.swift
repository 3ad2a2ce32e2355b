import ContainerRuntime
import Glibc
import JSON
import Namespaces
import SecretStore

/// `secretshim runtime ...` and the `secretshim-runtime` link: runc's command line, handed to
/// the wrapper. Like runc, a failure is reported on stderr and, for engines that read it from
/// there (containerd, conmon), in the `--log` file, in runc's own format.
enum RuntimeCommand {
    static func main(_ arguments: [String]) -> Int32 {
        do {
            let (flags, rest) = try RuntimeCommandLine.peelSecretshimFlags(arguments)
            if RuntimeCommandLine(rest).asksForHelp {
                Output.out(help)
                return 0
            }
            if let config = flags.config { LeadingGlobals.config = config }
            let location = try StoreChoice.location(
                root: flags.root, keyFile: flags.keyFile, stateDirectory: flags.stateDirectory, store: flags.store,
                caCertificate: flags.etcdCACertificate, certificate: flags.etcdCertificate, key: flags.etcdKey)
            return try RuntimeWrapper.main(rest, location: location, operatorGrants: flags.grants)
        } catch {
            let message = (error as? CommandFailure)?.line ?? "\(error)"
            Output.error("runtime", message)
            // runc's own flags (--log among them), secretshim's taken out first: a
            // `--secretshim-grant SPEC` before `--log` would otherwise hide it.
            let commandLine = RuntimeCommandLine((try? RuntimeCommandLine.peelSecretshimFlags(arguments).1) ?? arguments)
            if let log = commandLine.log { appendToLog(log, json: commandLine.logFormat == "json", message: message) }
            return 1
        }
    }

    static let help = """
        Usage: secretshim runtime [OPTIONS] [RUNC GLOBAL OPTIONS] COMMAND [ARG...]
               secretshim-runtime ... (the same, through a link of that name)

        An OCI runtime for 'dockerd --add-runtime' and 'podman --runtime': runc's command line,
        passed to runc (or crun, or $SECRETSHIM_RUNTIME). A container gets secrets on a read-only
        tmpfs at /run/secrets only from the operator: a request signed by 'secretshim grant' in
        its org.secretshim.secrets annotation or SECRETSHIM_SECRETS variable, or the flags below.

        Options (before runc's command word; also as --flag=VALUE, as Podman's --runtime-flag
        passes them; Docker passes them in the runtime's runtimeArgs):
          --secretshim-grant SPEC      Grant a secret, in run's --secret grammar (repeatable)
          --secretshim-config FILE     Configuration file (env SECRETSHIM_CONFIG)
          --secretshim-root DIR        Store root (env SECRETSHIM_ROOT)
          --secretshim-key-file PATH   Master key file (env SECRETSHIM_KEY_FILE)
          --secretshim-state-dir DIR   Staged secrets and leases (env SECRETSHIM_STATE_DIR)
          --secretshim-store URL       local, or etcd://HOST:PORT[,...][/PREFIX] (env SECRETSHIM_STORE)
          --secretshim-etcd-cacert PATH, --secretshim-etcd-cert PATH, --secretshim-etcd-key PATH
                                       The etcd store's client TLS files (env SECRETSHIM_ETCD_*)

        Every other flag and command is runc's: see 'runc --help'.
        Exit status: the runtime's own; 1 when the wrapper refuses (one line on stderr, and in
        runc's --log file).

        """

    static func appendToLog(_ path: String, json: Bool, message: String) {
        let time = Formats.rfc3339(nanoseconds: System.nowNanoseconds())
        let text = "secretshim: " + message
        let line = json
            ? Formats.json(.object(["level": .string("error"), "msg": .string(text), "time": .string(time)])) + "\n"
            : "time=\(Formats.json(time)) level=error msg=\(Formats.json(text))\n"
        guard let fd = try? FileDescriptor.open(path, O_WRONLY | O_APPEND | O_CREAT | O_NOFOLLOW, mode: 0o600) else { return }
        try? fd.writeAll(Array(line.utf8), path: path)
        fd.close()
    }
}
