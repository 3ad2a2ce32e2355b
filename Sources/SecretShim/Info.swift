import ArgumentParser
import Glibc
import Namespaces
import SecretStore

/// `secretshim info`: where the store, key and state live, and which of `run`'s guarantees
/// this kernel can keep (as `docker info` shows the engine's and kernel's features).
struct InfoCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "info", abstract: "Show the configuration and what the kernel offers for isolation.")

    @OptionGroup var globals: GlobalOptions

    @Option(help: ArgumentHelp("Output format: table or json.", valueName: "format"))
    var format: String = "table"

    func run() throws {
        guard format == "table" || format == "json" else {
            throw CommandFailure.usage("info", "unknown format '\(format)': use table or json")
        }
        let location = try globals.location
        let landlock = Landlock.abi
        let noswap = KernelFeatures.tmpfsNoSwap
        let facts: [(key: String, json: String, text: String)] = [
            ("Root", Formats.json(location.root), location.root),
            ("KeyFile", Formats.json(location.keyFile), location.keyFile),
            ("StateDir", Formats.json(location.stateDirectory), location.stateDirectory),
            ("Rootless", System.effectiveUserID == 0 ? "false" : "true", System.effectiveUserID == 0 ? "no" : "yes (a user namespace maps only you)"),
            ("Landlock", String(landlock),
             landlock > 0 ? "ABI \(landlock): each workload gets its own domain (no workload can open another's /proc/PID/root, mem or environ)"
                : "not offered by this kernel: workloads of one uid are not kept apart"),
            ("TmpfsNoswap", noswap.map { $0 ? "true" : "false" } ?? "null",
             noswap.map { $0 ? "yes: secrets never reach swap" : "no (Linux 6.4+): a secret could reach swap" } ?? "unknown (needs root)"),
            ("UserNamespaces", KernelFeatures.userNamespaces ? "true" : "false",
             KernelFeatures.userNamespaces ? "yes: ordinary users run rootless" : "no: only root can run"),
            ("MoveMountBeneath", KernelFeatures.moveMountBeneath ? "true" : "false",
             KernelFeatures.moveMountBeneath ? "yes (Linux 6.5+)" : "no"),
        ]
        if format == "json" {
            Output.out("{" + facts.map { "\"\($0.key)\":\($0.json)" }.joined(separator: ",") + "}\n")
        } else {
            for fact in facts { Output.out("\(fact.key): \(fact.text)\n") }
        }
    }
}
