import Glibc
import Namespaces

// Before anything holds a value or the key: no crash report (System.resetFatalSignals).
System.resetFatalSignals()

// Entry point. `run` and `runtime` are parsed by hand and dispatched before ArgumentParser is touched: it sits
// in the start path of every workload. Everything else goes through ArgumentParser.
//
// argv is read directly: `CommandLine.arguments` builds its array through a generic `map`,
// whose runtime metadata work is a measurable share of `run`'s start-up.
var arguments: [String] = []
arguments.reserveCapacity(Int(CommandLine.argc))
for index in 1..<Int(CommandLine.argc) {
    arguments.append(String(cString: CommandLine.unsafeArgv[index]!))
}
// Linked as `secretshim-runtime`, every argument is runc's (its `--root` is runc's state dir).
let invokedAs = String(cString: CommandLine.unsafeArgv[0]!)
// Every command that may load the key or a value leaves no core dump. `run` makes itself
// non-dumpable later (a rootless run must first write its own uid_map), and neither `run` nor
// `runtime` lowers the core limit, which the workload and runc would inherit through exec.
if invokedAs == "secretshim-runtime" || invokedAs.hasUTF8Suffix("/secretshim-runtime") {
    System.setDumpable(false)
    exit(RuntimeCommand.main(arguments))
}
let rest = LeadingGlobals.peel(arguments[...])
// `help run` and `help runtime` show those commands' own help: ArgumentParser, which answers
// `help` for the others, knows neither (both are parsed by hand).
if rest.first == "help" && rest.count >= 2 {
    let topic = rest[rest.startIndex + 1]
    if topic == "run" || topic == "runtime" {
        Output.out(topic == "run" ? RunArguments.help : RuntimeCommand.help)
        exit(0)
    }
}
if rest.first == "runtime" {
    System.setDumpable(false)
    exit(RuntimeCommand.main(Array(rest.dropFirst())))
}
if rest.first == "run" {
    exit(RunCommand.main(rest.dropFirst()))
}
System.forbidCoreDumps()
exit(runParsedCommand(Array(rest)))
