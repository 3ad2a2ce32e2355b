import Glibc
import Namespaces

// Before anything holds a value or the key: no crash report (System.resetFatalSignals).
System.resetFatalSignals()

// Entry point, and the one start-up trick: `run` (in every workload's start path) and `runtime`
// (in every container's) are parsed by hand and dispatched before ArgumentParser is touched, and
// so is an ordinary `update` (a rotation's); everything else goes through ArgumentParser. What `run` may cost before its exec is the budget
// in bench/budget, which ./bench/run measures (instructions, page faults, the ratio to the C
// reference): a change to this path is judged by those figures.
let arguments = Array(CommandLine.arguments.dropFirst())
// Linked as `secretshim-runtime`, every argument is runc's (its `--root` is runc's state dir).
let invokedAs = CommandLine.arguments[0]
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
// An ordinary `update` command line is read by hand too (`UpdateArguments` says why); anything
// else about it is ArgumentParser's.
if rest.first == "update", let status = UpdateCommand.fastPath(rest.dropFirst()) {
    exit(status)
}
exit(runParsedCommand(Array(rest)))
