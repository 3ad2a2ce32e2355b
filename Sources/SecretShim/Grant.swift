import ArgumentParser
import ContainerRuntime
import Launcher
import Namespaces
import SecretStore

/// `secretshim grant [--expires D] SPEC...`: the operator's signed request for the runtime
/// wrapper (see `GrantRequest`), printed on one line for `SECRETSHIM_SECRETS` or the
/// `org.secretshim.secrets` annotation.
struct GrantCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "grant",
        abstract: "Print a signed request for secrets, for a container started through secretshim-runtime.",
        discussion: """
            Each SPEC is run's --secret grammar (NAME or source=NAME,target=T,uid=U,gid=G,mode=M;
            a field in double quotes may hold commas, as with Docker: db,"target=a,b").
            The request is signed with a key derived from the master key and bound to each
            secret's current ID: it is refused once altered, past --expires, or after the secret
            was removed and created again. It is a bearer token: keep it out of images.
              docker run --runtime secretshim -e SECRETSHIM_SECRETS="$(secretshim grant --expires 1h db_pw,uid=999,mode=0400)" IMAGE
            """)

    @OptionGroup var globals: GlobalOptions

    @Option(help: ArgumentHelp("How long the request is good for: 90s, 10m, 1h30m, 7d (default: no expiry).", valueName: "duration"))
    var expires: String?

    @Argument(help: "Grants, in run's --secret grammar.") var specs: [String] = []

    func run() throws {
        let what = "grant"
        guard !specs.isEmpty else { throw CommandFailure.usage(what, "give at least one SPEC") }
        var expiry: Int64?
        if let expires {
            guard let seconds = GrantRequest.parseDuration(expires) else {
                throw CommandFailure.usage(what, "invalid duration '\(expires)': use e.g. 90s, 10m, 1h30m, 7d")
            }
            let (sum, overflow) = (System.nowNanoseconds() / 1_000_000_000).addingReportingOverflow(seconds)
            guard !overflow else { throw CommandFailure.usage(what, "invalid duration '\(expires)': too long") }
            expiry = sum
        }
        var grants: [SecretGrant] = []
        for spec in specs {
            do { grants.append(try SecretGrant.parse(spec, secretsDirectory: "/run/secrets")) } catch {
                throw CommandFailure.usage(what, "\(error)")
            }
        }
        do { try SecretGrant.checkTargets(grants) } catch { throw CommandFailure.usage(what, "\(error)") }
        do {
            let location = try globals.location
            let store = try location.openForReading()
            var entries: [GrantRequest.Entry] = []
            for (spec, grant) in zip(specs, grants) {
                entries.append(GrantRequest.Entry(id: try store.find(grant.source).id, spec: spec))
            }
            var key = try MasterKey.load(location.keyFile, createIfMissing: false)
            defer { wipe(&key) }
            Output.out(try GrantRequest(entries: entries, expires: expiry).signed(masterKey: key) + "\n")
        } catch {
            throw CommandFailure.failed(what, error)
        }
    }
}
