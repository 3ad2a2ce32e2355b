// `--secret SPEC` (run, grant, --secretshim-grant) and the `;`-separated specs a container's
// config asks for: SecretGrant.parse, ContainerConfig.grants, SecretGrant.checkTargets.
import ContainerRuntime
import FuzzSupport
import Namespaces
import SecretStore

@testable import Launcher

/// Secrets dirs a grant's absolute target is judged against: `run`'s default, one given with a
/// trailing slash, and a deeper one.
let secretsDirectories = ["/run/secrets", "/srv/app secrets/", "/a"]

@_cdecl("LLVMFuzzerTestOneInput")
public func fuzzSecretSpec(_ data: UnsafePointer<UInt8>?, _ size: Int) -> Int32 {
    var input = FuzzInput(data, size)
    let secretsDirectory = secretsDirectories[Int(input.byte()) % secretsDirectories.count]
    let text = String(decoding: input.rest(), as: UTF8.self)
    if let grant = try? SecretGrant.parse(text, secretsDirectory: secretsDirectory) {
        check(grant, secretsDirectory: secretsDirectory, spec: text)
    }
    if let grants = try? ContainerConfig.grants(text) {
        for grant in grants { check(grant, secretsDirectory: ContainerConfig.secretsDirectory, spec: text) }
        var targets = Set<String>()
        for grant in grants { require(targets.insert(grant.target).inserted, "two grants at \(grant.target) in \(text.debugDescription)") }
    }
    return 0
}

/// What every accepted grant must be, and that its canonical spelling reads back the same.
func check(_ grant: SecretGrant, secretsDirectory: String, spec: String) {
    let context = "\(spec.debugDescription) -> \(grant)"
    require(SecretRules.isValidName(grant.source), "invalid source accepted: \(context)")
    require(grant.mode <= 0o777, "mode above 0777: \(context)")
    require(grant.uid != UInt32.max && grant.gid != UInt32.max, "uid or gid -1: \(context)")
    if let variable = grant.environmentVariable {
        require(SecretGrant.isEnvironmentName(variable), "invalid env name: \(context)")
        require(variable != "BASH_ENV" && variable != "ENV" && !variable.hasPrefix("LD_"), "refused env name accepted: \(context)")
    }
    // The target is the path under the secrets dir: relative, clean, each component a name;
    // or, outside the secrets dir, "/" and such a path, never under the secrets dir itself.
    // On bytes, as the kernel will read it.
    let base = secretsDirectory.hasUTF8Suffix("/") ? secretsDirectory : secretsDirectory + "/"
    require(!grant.target.isEmpty, "empty target: \(context)")
    let path: Substring
    if grant.isOutside {
        require(!grant.target.hasUTF8Prefix(base) && grant.target.utf8.count < 4096, "outside target under the secrets dir, or too long: \(context)")
        path = grant.target.dropFirst()
    } else {
        path = grant.target[...]
    }
    for component in path.utf8.split(separator: UInt8(ascii: "/"), omittingEmptySubsequences: false) {
        require(!component.isEmpty && !component.elementsEqual(".".utf8) && !component.elementsEqual("..".utf8), "target not normalized: \(context)")
        require(component.count <= 255, "target component over 255 bytes: \(context)")
    }
    // Written back out, relative and then absolute, it parses to the same grant.
    var canonical = "source=\(grant.source),target=\(grant.target),uid=\(grant.uid),gid=\(grant.gid),mode=0\(String(grant.mode, radix: 8))"
    if let variable = grant.environmentVariable { canonical += ",env=\(variable)" }
    let again = try? SecretGrant.parse(canonical, secretsDirectory: secretsDirectory)
    require(again == grant, "\(canonical.debugDescription) reads back as \(String(describing: again)): \(context)")
    // A relative one written absolute, under the secrets dir, too.
    guard !grant.isOutside else { return }
    let absolute = "src=\(grant.source),TARGET=\(base)\(grant.target),Mode=\(String(grant.mode, radix: 8)),uid=\(grant.uid),gid=\(grant.gid)"
        + (grant.environmentVariable.map { ",env=\($0)" } ?? "")
    let fromAbsolute = try? SecretGrant.parse(absolute, secretsDirectory: secretsDirectory)
    require(fromAbsolute == grant, "\(absolute.debugDescription) reads back as \(String(describing: fromAbsolute)): \(context)")
    // A grant alone never collides with itself.
    require((try? SecretGrant.checkTargets([grant])) != nil, "a single grant fails checkTargets: \(context)")
}
