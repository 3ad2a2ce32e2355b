import Foundation
import Testing

/// Docker's `--format` habits through the binary: `secret ls` and `ps` templates (`table`
/// included), `secret inspect -f` and `--pretty`, `info --format`; a template error is one line
/// and exit 2, and prints nothing else.
@Suite(.serialized)
struct FormatTests {
    @Test func templatesAsDockerUsersScriptThem() throws {
        let shim = Shim()
        defer { shim.cleanUp() }
        let id = shim.create("db_pw", "value-1", labels: ["env=dev"])
        shim.create("tls.key", "value-2")

        #expect(shim(["secret", "ls", "--format", "{{.ID}}: {{.Name}}"]).stdout == "\(id): db_pw\n" + shim(["secret", "ls", "--format", "{{.ID}}: {{.Name}}", "--filter", "name=tls"]).stdout)
        let table = shim(["secret", "ls", "--format", "table {{.Name}}\\t{{.Labels}}"]).stdout
        #expect(table == "NAME      LABELS\ndb_pw     env=dev\ntls.key   \n", "\(table)")
        let json = shim(["secret", "ls", "--format", "{{json .}}", "--filter", "name=db"]).stdout
        #expect(json.hasPrefix("{\"CreatedAt\":") && json.contains("\"ID\":\"\(id)\"") && json.contains("\"Labels\":\"env=dev\""), "\(json)")
        #expect(shim(["secret", "ls", "--format", "{{.Name | upper}}", "--filter", "name=tls"]).stdout == "TLS.KEY\n")

        let inspected = shim(["secret", "inspect", "-f", "{{.Spec.Name}} {{json .Spec.Labels}} {{.Version.Index}}", "db_pw", "tls.key"])
        #expect(inspected.stdout == "db_pw {\"env\":\"dev\"} 1\ntls.key {} 2\n", "\(inspected.stdout) \(inspected.stderr)")
        let created = shim(["secret", "inspect", "--format", "{{.CreatedAt}}", "db_pw"]).stdout
        #expect(created.hasSuffix(" +0000 UTC\n") && created.count > 20, "Go's time.Time, as Docker prints it: \(created)")
        let pretty = shim(["secret", "inspect", "--pretty", "db_pw"]).stdout
        #expect(pretty.hasPrefix("ID:              \(id)\nName:            db_pw\nLabels:\n - env=dev\nDriver:          \nCreated at:      "), "\(pretty)")
        #expect(!pretty.contains("value-1") && !inspected.stdout.contains("value-1"))

        #expect(shim(["info", "--format", "{{.Root}}"]).stdout == shim.root + "\n")

        // What a secret's labels hold reaches the terminal escaped, whatever the format.
        shim.create("hostile", "value-3", labels: ["k=\u{1b}[2J\u{1b}]0;pwn\u{07}"])
        for arguments in [
            ["secret", "ls", "--format", "{{.Labels}}", "--filter", "name=hostile"], ["secret", "ls", "--format", "{{.}}", "--filter", "name=hostile"],
            ["secret", "inspect", "-f", "{{.}}", "hostile"], ["secret", "inspect", "--pretty", "hostile"],
            ["secret", "ls", "--format", "table {{.Name}}\\t{{.Labels}}", "--filter", "name=hostile"],
        ] {
            let shown = shim(arguments).stdout
            #expect(!shown.contains("\u{1b}") && !shown.contains("\u{07}") && shown.contains("\\x1b[2J"), "\(arguments): \(shown.debugDescription)")
        }
        #expect(shim(["secret", "ls", "--format", "{{println .Name}}", "--filter", "name=hostile"]).stdout == "hostile\n\n")

        // ps while a workload runs; a field a workload lacks is an error once there is one.
        let env = "SECRETSHIM_ROOT='\(shim.root)' SECRETSHIM_STATE_DIR='\(shim.state)'"
        let ran = shell("""
            \(env) \(Shim.binary) run --name fmt-web --secret db_pw --secret tls.key -- sleep 3 &
            for i in $(seq 50); do \(env) \(Shim.binary) ps | grep -q fmt-web && break; sleep 0.1; done
            \(env) \(Shim.binary) ps --format 'table {{.Name}}\\t{{join .Secrets ","}}'
            \(env) \(Shim.binary) ps --format '{{.Name}} {{.PID}}'
            \(env) \(Shim.binary) ps --format '{{.Secret}}'; echo "status $?"
            wait
            """)
        #expect(ran.output.hasPrefix("NAME      SECRETS\nfmt-web   db_pw,tls.key\nfmt-web "), "\(ran.output)")
        #expect(ran.output.contains("secretshim: ps: template: can't evaluate field Secret") && ran.output.contains("status 2"), "\(ran.output)")
    }

    @Test func aTemplateErrorIsOneLineAndExitTwo() throws {
        let shim = Shim()
        defer { shim.cleanUp() }
        shim.create("db_pw", "value-1")
        for arguments in [
            ["secret", "ls", "--format", "{{.Nope}}"], ["secret", "ls", "--format", "{{range .Labels}}{{end}}"],
            ["secret", "ls", "--format", "{{.Name"], ["secret", "inspect", "-f", "{{.Spec.Nope}}", "db_pw"],
            ["secret", "inspect", "-f", "{{nope}}", "db_pw"], ["secret", "inspect", "--pretty", "-f", "{{.ID}}", "db_pw"],
            ["ps", "--format", "{{.Secret"], ["info", "--format", "{{.Rooot}}"], ["scan", "--format", "{{.Path}}", shim.root],
            ["secret", "ls", "--format", "{{.Name\u{1b}]0;x\u{07}}}"],
        ] {
            let result = shim(arguments)
            #expect(result.status == 2, "\(arguments): \(result.stderr)")
            #expect(result.stdout.isEmpty, "\(arguments): printed \(result.stdout)")
            expectOneLineError(result)
            #expect(!result.stderr.contains("\u{1b}"), "\(result.stderr)")
        }
    }
}
