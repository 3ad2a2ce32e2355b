import Glibc
import Launcher
import SecretStore

/// `secretshim run`: parse, launch, and only come back to report why the workload did not start.
enum RunCommand {
    static func main(_ arguments: ArraySlice<String>) -> Int32 {
        var parsed: RunArguments
        do {
            parsed = try RunArguments.parse(arguments)
        } catch {
            Output.error("run", error.description)
            return 125
        }
        if let bundle = parsed.bundle, !parsed.showHelp {
            do { try OCIBundle.apply(bundle, to: &parsed.plan) } catch {
                Output.error("run", error.description)
                return 125
            }
        }
        if parsed.showHelp {
            Output.out(RunArguments.help)
            return 0
        }
        let location: StoreLocation
        do {
            location = try StoreChoice.location(root: parsed.root, keyFile: parsed.keyFile)
        } catch {
            Output.error("run", (error as? CommandFailure)?.line ?? "\(error)")
            return 125
        }
        let failure = Launcher.launch(parsed.plan, location: location)
        if failure.isRefusal { Audit.refusedWorkload(location, name: parsed.plan.workloadName, reason: failure.description) }
        Output.error("run", failure.description)
        return failure.exitCode
    }
}
