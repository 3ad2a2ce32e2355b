import Launcher
import Namespaces
import Testing

/// Docker's default capabilities are resolved by built-in kernel numbers on `run`'s path; libcap
/// must agree (a lowercase name takes libcap's lookup).
@Suite struct DefaultCapabilityNumberTests {
    @Test(arguments: Hardening.dockerDefaultCapabilities)
    func builtInNumbersAreLibcapsOwn(name: String) {
        let libcap = Capabilities.number(name.lowercased())
        #expect(libcap != nil)
        #expect(Capabilities.number(name) == libcap)
    }
}
