import ArgumentParser
import Glibc
import JSON
import Namespaces
import SecretStore

/// `secretshim info`: where the store, key and state live, and which of `run`'s guarantees
/// this kernel can keep (as `docker info` shows the engine's and kernel's features).
struct InfoCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "info", abstract: "Show the configuration and what the kernel offers for isolation.")

    @OptionGroup var globals: GlobalOptions

    @OptionGroup var output: FormatOption

    func run() throws {
        let location = try globals.location
        let config = try ConfigFile.current()
        let node = StoreChoice.given(nil, "SECRETSHIM_NODE", config["node"]) ?? NodeCommand.hostName()
        let landlock = Landlock.abi
        let noswap = KernelFeatures.tmpfsNoSwap
        var facts: [(key: String, json: JSONValue, text: String)] = [
            ("Config", config.path.map(JSONValue.string) ?? .null, config.path ?? "none (\(ConfigFile.chosenPath().path) does not exist)"),
            ("Store", .string(location.isRemote ? location.remote.url : "local"), location.isRemote ? location.remote.url : "local (\(location.databasePath))"),
            ("Root", .string(location.root), location.root),
            ("Node", .string(node), node),
            ("KeyFile", .string(location.keyFile), location.keyFile),
            ("StateDir", .string(location.stateDirectory), location.stateDirectory),
            ("Rootless", .bool(System.effectiveUserID != 0), System.effectiveUserID == 0 ? "no" : "yes (a user namespace maps only you)"),
            ("Landlock", .integer(landlock),
             landlock > 0 ? "ABI \(landlock): each workload gets its own domain (no workload can open another's /proc/PID/root, mem or environ)"
                : "not offered by this kernel: workloads of one uid are not kept apart"),
            ("TmpfsNoswap", noswap.map { JSONValue.bool($0) } ?? JSONValue.null,
             noswap.map { $0 ? "yes: secrets never reach swap" : "no (Linux 6.4+): a secret could reach swap" } ?? "unknown (needs root)"),
            ("UserNamespaces", .bool(KernelFeatures.userNamespaces),
             KernelFeatures.userNamespaces ? "yes: ordinary users run rootless" : "no: only root can run"),
            ("MoveMountBeneath", .bool(KernelFeatures.moveMountBeneath),
             KernelFeatures.moveMountBeneath ? "yes (Linux 6.5+)" : "no"),
        ]
        if location.isRemote {
            for (key, path) in [("EtcdCACert", location.remote.caCertificate), ("EtcdCert", location.remote.certificate), ("EtcdKey", location.remote.key)] {
                facts.insert((key, path.isEmpty ? .null : .string(path), path.isEmpty ? "none" : path), at: 3)
            }
        }
        var object = JSONObject()
        for fact in facts { object.members[fact.key] = fact.json }
        if let text = try output.rendered([TemplateValue(.object(object))], headers: [:], what: "info") {
            Output.out(text)
        } else if output.format == .json {
            Output.out(Formats.json(.object(object)) + "\n")
        } else {
            for fact in facts { Output.out("\(fact.key): \(Output.escapingControlBytes(fact.text))\n") }
        }
    }
}
