import Glibc
import JSON

// secretshim-documents toml|yaml: reads a TOML document (the configuration file, TOMLKit) or a
// YAML one (a Compose file, Yams) on standard input and writes it as JSON on standard output,
// for secretshim, which reads JSON itself. A program of its own because both libraries import
// Foundation, whose ICU start-up (~87,000 instructions, bench/budget) every secretshim command,
// `run` first, would otherwise pay. An unreadable or malformed document: one line on stderr
// (`secretshim-documents: ...`), exit 1; a wrong command line: exit 2. Not for direct use.
let arguments = CommandLine.arguments
guard arguments.count == 2, arguments[1] == "toml" || arguments[1] == "yaml" else {
    DocumentReader.fail("started by secretshim to read a configuration or Compose file, not by hand", status: 2)
}
// A configuration names no secret, but a Compose file may hold an `environment:`-free
// value inline in places secretshim does not look: no core dump either way.
var noCore = rlimit(rlim_cur: 0, rlim_max: 0)
setrlimit(__rlimit_resource_t(RLIMIT_CORE.rawValue), &noCore)
let input = DocumentReader.readStandardInput()
do {
    let value = arguments[1] == "toml" ? try DocumentReader.toml(input) : try DocumentReader.yaml(input)
    DocumentReader.write(JSONWriter().bytes(value) + [UInt8(ascii: "\n")])
    exit(0)
} catch {
    DocumentReader.fail("\(error)", status: 1)
}
