import Launcher
import Namespaces
import Testing

/// Capability names in the kernel's spelling are resolved by built-in kernel numbers (on `run`'s
/// path, without libcap's tables); libcap must agree (a lowercase name takes libcap's lookup).
/// Docker's default set, and every capability libcap names that this process still holds (all
/// of them, as root outside a container).
@Suite struct CapabilityNumberTests {
    static var names: [String] {
        var names = Hardening.dockerDefaultCapabilities
        for name in Capabilities.allNames where !names.contains(name) { names.append(name) }
        return names
    }

    @Test(arguments: names)
    func builtInNumbersAreLibcapsOwn(name: String) {
        let libcap = Capabilities.number(name.lowercased())
        #expect(libcap != nil)
        #expect(Capabilities.number(name) == libcap)
    }
}
