import Glibc

// Entry point. `run` is parsed by hand and dispatched before ArgumentParser is touched: it sits
// in the start path of every workload. Everything else goes through ArgumentParser.
//
// argv is read directly: `CommandLine.arguments` builds its array through a generic `map`,
// whose runtime metadata work is a measurable share of `run`'s start-up.
var arguments: [String] = []
arguments.reserveCapacity(Int(CommandLine.argc))
for index in 1..<Int(CommandLine.argc) {
    arguments.append(String(cString: CommandLine.unsafeArgv[index]!))
}
let rest = LeadingGlobals.peel(arguments[...])
if rest.first == "run" {
    exit(RunCommand.main(rest.dropFirst()))
}
exit(runParsedCommand(Array(rest)))
