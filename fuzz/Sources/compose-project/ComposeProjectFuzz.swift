// A Compose file as `secretshim compose` reads it (after secretshim-documents turned its YAML
// into JSON): the top-level secrets, each service's grants, the rewritten copy (ComposeProject).
import FuzzSupport
import JSON
import Launcher

@testable import ContainerRuntime

@_cdecl("LLVMFuzzerTestOneInput")
public func fuzzComposeProject(_ data: UnsafePointer<UInt8>?, _ size: Int) -> Int32 {
    var input = FuzzInput(data, size)
    let bytes = input.rest()
    guard let document = try? JSONValue.parse(bytes) else { return 0 }
    _ = try? ComposeProject.projectName(explicit: nil, environment: nil, documents: [document], directory: "/srv/Shop App")
    // Paths made absolute are absolute: a second pass changes nothing.
    let absolute = ComposeProject.absolutized(document, directory: "/srv/app")
    require(ComposeProject.absolutized(absolute, directory: "/srv/app") == absolute, "absolutized twice differs")
    guard let project = try? ComposeProject(name: "p", documents: [document]), let grants = try? project.grants() else { return 0 }
    for definition in project.secrets.values {
        require(!definition.storeName.isEmpty || definition.source == .external, "a secret without a store name: \(definition)")
    }
    // Every grant is one `run --secret` reads: inside /run/secrets, or (an absolute target
    // elsewhere, #21) a clean absolute path outside it.
    var requests: [String: String] = [:]
    var files: [String: String] = [:]
    for (index, grant) in grants.enumerated() {
        for spec in grant.specs {
            guard let parsed = try? SecretGrant.parse(spec, secretsDirectory: ContainerConfig.secretsDirectory) else {
                require(false, "grant \(spec.debugDescription) does not parse")
                return 0
            }
            let components = parsed.target.split(separator: "/")
            require(!components.contains("..") && !components.contains("."), "target not clean: \(spec.debugDescription)")
            if parsed.isOutside {
                let secrets = ContainerConfig.secretsDirectory
                require(parsed.target != "/" && parsed.target != secrets && !parsed.target.hasPrefix(secrets + "/"), "an outside target in the secrets dir: \(spec.debugDescription)")
            }
        }
        requests[grant.service] = "REQUEST-\(index)"
        files[grant.service] = "/state/request-\(index).env"
    }
    for requestFiles in [nil, files] as [[String: String]?] {
        guard let rewritten = try? project.rewritten(0, requests: requests, runtime: requestFiles == nil ? "secretshim" : nil, requestFiles: requestFiles)
        else { continue }
        // Nothing of Swarm's secrets is left for Compose to bind-mount, and each granted
        // service carries its own request.
        require(rewritten["secrets"] == nil && rewritten["version"] == nil, "secrets: or version: left in the rewritten file")
        guard case .object(let services)? = rewritten["services"] else { continue }
        for (name, service) in services {
            require(service["secrets"] == nil, "service \(name.debugDescription) keeps secrets:")
            guard let request = requests[name] else { continue }
            let carried = requestFiles == nil
                ? JSONWriter().text(service["environment"] ?? .null).contains(request)
                : JSONWriter().text(service["env_file"] ?? .null).contains(files[name]!)
            require(carried, "service \(name.debugDescription) lost its request")
        }
    }
    return 0
}
