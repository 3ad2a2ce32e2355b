// `secretshim run`'s hand-written command line. RunArguments.swift, RunOptions.swift and LeadingGlobals.swift are
// the executable's own files, linked here (the executable target itself cannot be imported).
import FuzzSupport
import Launcher
import Namespaces
import SecretStore

@_cdecl("LLVMFuzzerTestOneInput")
public func fuzzRunArguments(_ data: UnsafePointer<UInt8>?, _ size: Int) -> Int32 {
    var input = FuzzInput(data, size)
    let arguments = input.arguments()
    for argument in arguments {
        let (flag, inline) = LeadingGlobals.splitFlag(argument)
        if let inline { require(flag + "=" + inline == argument, "splitFlag(\(argument.debugDescription)) loses bytes") }
    }
    guard let parsed = try? RunArguments.parse(arguments[...]) else { return 0 }
    let context = arguments.debugDescription
    let plan = parsed.plan
    // The workload's command is what follows the options, untouched.
    require(arguments.suffix(plan.command.count).elementsEqual(plan.command), "command is not the arguments' tail: \(context)")
    require(!plan.command.isEmpty || parsed.showHelp || parsed.bundle != nil, "no command accepted: \(context)")
    require(!(parsed.bundle != nil && plan.root != nil), "--rootfs with --bundle accepted: \(context)")
    // The secrets dir is absolute, not the root, and clean at its end: on bytes, as the kernel
    // will read it.
    let directory = plan.secretsDirectory
    require(directory.hasUTF8Prefix("/") && !directory.hasUTF8Suffix("/"), "secrets dir \(directory.debugDescription): \(context)")
    require(!Files.components(directory).isEmpty, "secrets dir is the root: \(context)")
    require(!Files.components(directory).contains(".."), "secrets dir with '..': \(context)")
    if let size = plan.tmpfsSize {
        require(size > 0 && size <= 1 << 40, "tmpfs size \(size): \(context)")
        require((try? RunArguments.parseSize(String(size))) == size, "tmpfs size \(size) does not read back: \(context)")
    }
    if let name = plan.name { require(LaunchPlan.isValidWorkloadName(name), "invalid name accepted: \(context)") }
    for variable in plan.extraEnvironment {
        let key = variable.split(separator: "=", maxSplits: 1, omittingEmptySubsequences: false)[0]
        require(variable.contains("=") && SecretGrant.isEnvironmentName(String(key)), "invalid --env accepted: \(context)")
    }
    // Each grant is what its spec says under the final secrets dir, and no two collide.
    require((try? SecretGrant.checkTargets(plan.grants)) != nil, "colliding grants accepted: \(context)")
    for grant in plan.grants {
        require(SecretRules.isValidName(grant.source), "grant \(grant): \(context)")
        if grant.isOutside {
            let base = plan.secretsDirectory.hasUTF8Suffix("/") ? plan.secretsDirectory : plan.secretsDirectory + "/"
            require(!grant.target.hasUTF8Prefix(base), "an outside target under the secrets dir: \(context)")
        }
    }
    // The same command line parses the same way twice (no state kept between parses).
    let again = try? RunArguments.parse(arguments[...])
    require(again?.plan.grants == plan.grants && again?.plan.command == plan.command, "second parse differs: \(context)")
    return 0
}
