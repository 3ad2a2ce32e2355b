import Foundation
import Testing

/// `secretshim podman-driver`, as Podman's `shell` secret driver, against the real podman:
/// `podman secret create/ls/rm` and `podman run --secret` with values kept sealed in
/// secretshim's store, none in Podman's storage or in ours.
@Suite(.enabled(if: Shim.isRoot && Engines.havePodman, "needs root and podman"), .serialized)
struct PodmanDriverTests {
    @Test func podmanSecretsAreKeptSealedInTheStore() throws {
        let shim = Shim()
        defer { shim.cleanUp() }
        let podman = try PrivatePodman(shim: shim)
        defer { podman.stop() }
        let conf = shim.directory.appendingPathComponent("containers.conf").path
        try """
            [secrets]
            driver = "shell"
            [secrets.opts]
            list = "\(Shim.binary) podman-driver list"
            lookup = "\(Shim.binary) podman-driver lookup"
            store = "\(Shim.binary) podman-driver store"
            delete = "\(Shim.binary) podman-driver delete"

            """.write(toFile: conf, atomically: true, encoding: .utf8)
        // Podman passes its environment on to the driver: the store is chosen there.
        let withDriver = "CONTAINERS_CONF='\(conf)' SECRETSHIM_ROOT='\(shim.root)' SECRETSHIM_STATE_DIR='\(shim.state)' \(podman.command)"
        #expect(podman.podman("import \(try Engines.busyboxTar(in: shim.directory)) bb").status == 0)

        let value = "podman-driver-\(UUID().uuidString)"
        let created = shell("printf %s '\(value)' | \(withDriver) secret create pw -")
        #expect(created.status == 0, "\(created.output)")
        let id = created.output.lastLine
        #expect(id.count == 25, "\(created.output)")
        let listed = shell("\(withDriver) secret ls --format '{{.Name}} {{.Driver}}'")
        #expect(listed.output.contains("pw shell"), "\(listed.output)")
        #expect(shim(["secret", "ls", "--format", "json"]).stdout.contains("podman-\(id)"))
        #expect(shim(["podman-driver", "list"]).stdout == id + "\n")

        let ran = shell("\(withDriver) run --rm --network none \(podman.ulimits) --secret pw bb cat /run/secrets/pw")
        #expect(ran.status == 0 && ran.output == value, "\(ran.output)")
        // Neither Podman's storage, run root and temporary folder nor secretshim's store holds
        // the value in the clear or base64-encoded (Podman's file driver keeps it so in secretsdata.json).
        let encoded = Data(value.utf8).base64EncodedString()
        let folders = ["podman/root", "podman/tmp"].map { shim.directory.appendingPathComponent($0).path } + [podman.runRoot, shim.root]
        for folder in folders {
            #expect(shell("test -d '\(folder)'").status == 0, "\(folder) is not there to search")
            for form in [value, encoded] {
                #expect(shell("grep -rFqa '\(form)' '\(folder)'").status == 1, "the value is readable under \(folder)")
            }
        }

        // Bad input from whoever runs the driver: one line, the documented exit status.
        for (secretID, fragment) in [("", "SECRET_ID is not set"), ("../x", "is not a Podman secret ID"), (String(repeating: "a", count: 58), "is not a Podman secret ID")] {
            let result = shim(["podman-driver", "lookup"], env: ["SECRET_ID": secretID])
            #expect(result.status == 2, "\(secretID): \(result.stderr)")
            expectOneLineError(result, contains: fragment)
        }
        let missing = shim(["podman-driver", "delete"], env: ["SECRET_ID": "0123456789abcdef012345678"])
        #expect(missing.status == 1)
        expectOneLineError(missing, contains: "no such secret")
        let empty = shim(["podman-driver", "store"], stdin: Data(), env: ["SECRET_ID": "0123456789abcdef012345678"])
        #expect(empty.status == 1)
        expectOneLineError(empty, contains: "must be larger than 0")

        #expect(shell("\(withDriver) secret rm pw").status == 0)
        #expect(!shim(["secret", "ls"]).stdout.contains("podman-\(id)"))
    }
}
