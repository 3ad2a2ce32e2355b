import Foundation
import Testing

/// The examples of the README, run for real: redis-server with redis-cli, nginx with curl, and
/// the rotation of a PostgreSQL password and an nginx certificate with `update`.
@Suite(.enabled(if: Shim.isRoot, "the examples mount a tmpfs and need root"), .serialized)
struct ExamplesTests {
    @Test(arguments: ["redis", "nginx-tls", "rotation"])
    func exampleWorks(name: String) {
        let script = Shim.packageRoot.appendingPathComponent("examples/\(name)/run.sh").path
        let result = shell("SECRETSHIM='\(Shim.binary)' '\(script)' 2>&1")
        #expect(result.status == 0, "\(result.output)")
        #expect(result.output.contains("\(name) example: OK"), "\(result.output)")
    }
}
