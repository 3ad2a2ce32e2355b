// An OCI `config.json` as the runtime wrapper reads and rewrites it (JSONValue, ContainerConfig),
// and as `run --bundle` reads it (OCIBundle, the same JSONValue read into its fields).
import FuzzSupport
import JSON
import Launcher
import Namespaces

@testable import ContainerRuntime

@_cdecl("LLVMFuzzerTestOneInput")
public func fuzzOCIConfig(_ data: UnsafePointer<UInt8>?, _ size: Int) -> Int32 {
    var input = FuzzInput(data, size)
    let bytes = input.rest()
    checkBundle(bytes)
    guard let document = try? JSONValue.parse(bytes) else { return 0 }
    // Written compactly and read again, the document is the same, and its text a fixed point.
    let text = document.serialized()
    let again = try? JSONValue.parse(text)
    require(again == document, "serialized document reads back differently: \(String(decoding: text, as: UTF8.self).debugDescription)")
    require(again?.serialized() == text, "serialization is not a fixed point")
    _ = document.repeatedKey

    var config = ContainerConfig(document)
    // The cheap look at the raw bytes never misses a request the parse would find.
    if !ContainerConfig.mightRequestSecrets(bytes) {
        require(config.requestedSpecs == nil, "a request passed unparsed: \(config.requestedSpecs!.debugDescription)")
    }
    if let specs = config.requestedSpecs { _ = try? ContainerConfig.grants(specs) }
    _ = config.strayGrantFields
    _ = config.sharedPropagation()
    _ = config.sharedPropagation(aboveSecretsAnd: ["/etc/x.conf", "/"])
    let mappings = config.idMappings
    for id: UInt32 in [0, 1, 999, 65_534, UInt32.max - 1, UInt32.max] {
        _ = mappings.uid.hostID(for: id)
        _ = mappings.gid.hostID(for: id)
    }

    // What create does to it: the request variable out, the secrets mount in, still JSON.
    // (runc refuses a config that is no object: create changes nothing in one.)
    guard case .object = document else { return 0 }
    let hadAnnotation = document.field("annotations")?[ContainerConfig.annotation]?.stringValue
    config.removeRequestVariable()
    let prefix = ContainerConfig.environmentVariable + "="
    // On bytes, as runc hands the environment to the kernel.
    require(!config.environment.contains { $0.hasUTF8Prefix(prefix) }, "the request variable survives its removal")
    require(config.requestedSpecs == hadAnnotation, "removing the variable changed the annotation's request")
    config.addSecretsMount(source: "/run/secretshim/containers/fuzz")
    guard case .object(let last)? = config.document.field("mounts")?.arrayValue?.last else {
        require(false, "the secrets mount is not the last mount")
        return 0
    }
    require(last.first?.value == .string(ContainerConfig.secretsDirectory), "the last mount is not at /run/secrets")
    let rewritten = config.document.serialized()
    require((try? JSONValue.parse(rewritten)) == config.document, "the rewritten config does not read back")
    if document.repeatedKey == nil {
        require(config.document.repeatedKey == nil, "rewriting repeated a key")
    }
    return 0
}

/// `run --bundle DIR`: the same bytes as DIR/config.json.
func checkBundle(_ bytes: [UInt8]) {
    let bundle = scratchDirectory + "/bundle"
    makeDirectory(bundle)
    writeFile(bundle + "/config.json", bytes)
    var plan = LaunchPlan()
    guard (try? OCIBundle.apply(bundle, to: &plan)) != nil else { return }
    require(plan.root != nil && !plan.command.isEmpty, "a bundle without a root or command accepted")
    for mount in plan.root?.mounts ?? [] {
        require(mount.destination.hasUTF8Prefix("/"), "a relative mount destination accepted: \(mount.destination.debugDescription)")
    }
}
