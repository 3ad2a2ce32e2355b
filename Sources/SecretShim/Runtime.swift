import ContainerRuntime
import Glibc
import Namespaces
import SecretStore

/// `secretshim runtime ...` and the `secretshim-runtime` link: runc's command line, handed to
/// the wrapper. Like runc, a failure is reported on stderr and, for engines that read it from
/// there (containerd, conmon), in the `--log` file, in runc's own format.
enum RuntimeCommand {
    static func main(_ arguments: [String]) -> Int32 {
        do {
            let (flags, rest) = try RuntimeCommandLine.peelSecretshimFlags(arguments)
            var location = StoreLocation.resolve(root: flags.root ?? LeadingGlobals.root, keyFile: flags.keyFile ?? LeadingGlobals.keyFile)
            if let state = flags.stateDirectory { location.stateDirectory = state }
            return try RuntimeWrapper.main(rest, location: try location.trusted(), operatorGrants: flags.grants)
        } catch {
            let message = "\(error)"
            Output.error("runtime", message)
            // runc's own flags (--log among them), secretshim's taken out first: a
            // `--secretshim-grant SPEC` before `--log` would otherwise hide it.
            let commandLine = RuntimeCommandLine((try? RuntimeCommandLine.peelSecretshimFlags(arguments).1) ?? arguments)
            if let log = commandLine.log { appendToLog(log, json: commandLine.logFormat == "json", message: message) }
            return 1
        }
    }

    static func appendToLog(_ path: String, json: Bool, message: String) {
        let time = Formats.rfc3339(nanoseconds: System.nowNanoseconds())
        let text = "secretshim: " + message
        let line = json
            ? "{\"level\":\"error\",\"msg\":\(Formats.json(text)),\"time\":\(Formats.json(time))}\n"
            : "time=\(Formats.json(time)) level=error msg=\(Formats.json(text))\n"
        let fd = open(path, O_WRONLY | O_APPEND | O_CREAT | O_CLOEXEC | O_NOFOLLOW, 0o600)
        guard fd >= 0 else { return }
        _ = line.withCString { write(fd, $0, strlen($0)) }
        close(fd)
    }
}
