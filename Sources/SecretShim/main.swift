import Glibc

// Entry point. `run` is parsed by hand and dispatched before ArgumentParser is touched: it sits
// in the start path of every workload. Everything else goes through ArgumentParser.
let arguments = CommandLine.arguments.dropFirst()
let rest = LeadingGlobals.peel(arguments)
if rest.first == "run" {
    exit(RunCommand.main(rest.dropFirst()))
}
exit(runParsedCommand(Array(rest)))
