@testable import SecretShim
import Testing

/// Docker's `--format` templates, table-driven against what Docker's documentation shows for
/// the same templates (docs/reference/commandline/secret_ls.md, secret_inspect.md), and every
/// malformed template refused in one line.
@Suite struct TemplateTests {
    static let secret = TemplateValue.map([
        "CreatedAt": .string("5 minutes ago"), "ID": .string("77af4d6b9913"), "Labels": .string("env=dev,tier=db"),
        "Name": .string("secret-1"), "UpdatedAt": .string("5 minutes ago"),
    ])
    static let other = TemplateValue.map([
        "CreatedAt": .string("About an hour ago"), "ID": .string("l668r9l4ky3m"), "Labels": .string(""),
        "Name": .string("secret-2"), "UpdatedAt": .string("About an hour ago"),
    ])
    /// `secret inspect`'s item: Docker's swarm.Secret, times as time.Time.
    static let inspected = TemplateValue.map([
        "ID": .string("eo7jnzguqgtpdah3cm5srfb97"), "Version": .map(["Index": .number("17")]),
        "CreatedAt": .time(1_490_343_309_735_271_783), "UpdatedAt": .time(1_490_343_309_735_271_783),
        "Spec": .map(["Name": .string("my_secret"), "Labels": .map(["env": .string("dev"), "rev": .string("20170324")])]),
    ])

    @Test(arguments: [
        // secret_ls.md: "{{.ID}}: {{.Name}}"
        ("{{.ID}}: {{.Name}}", [secret, other], "77af4d6b9913: secret-1\nl668r9l4ky3m: secret-2\n"),
        // secret_ls.md: "table {{.ID}}\t{{.Name}}\t{{.CreatedAt}}" (typed as backslash-t)
        ("table {{.ID}}\\t{{.Name}}\\t{{.CreatedAt}}", [secret, other],
         "ID             NAME       CREATED\n77af4d6b9913   secret-1   5 minutes ago\nl668r9l4ky3m   secret-2   About an hour ago\n"),
        ("table {{.Name}}\t{{.Labels}}", [secret], "NAME       LABELS\nsecret-1   env=dev,tier=db\n"),
        ("{{json .}}", [secret],
         #"{"CreatedAt":"5 minutes ago","ID":"77af4d6b9913","Labels":"env=dev,tier=db","Name":"secret-1","UpdatedAt":"5 minutes ago"}"# + "\n"),
        ("{{.Name | upper}} {{lower .ID}} {{title \"hello world\"}}", [secret], "SECRET-1 77af4d6b9913 Hello World\n"),
        ("{{split .Labels \",\"}}", [secret], "[env=dev tier=db]\n"),
        ("{{- .Name -}}  ", [secret], "secret-1\n"),
        ("{{.}}", [TemplateValue.string("x")], "x\n"),
        ("{{println .Name}}", [secret], "secret-1\n\n"),
        // secret_inspect.md: --format='{{.Spec.Name}}'
        ("{{.Spec.Name}}", [inspected], "my_secret\n"),
        ("{{.Version.Index}} {{.CreatedAt}}", [inspected], "17 2017-03-24 08:15:09.735271783 +0000 UTC\n"),
        ("{{json .CreatedAt}} {{json .Spec.Labels}}", [inspected], #""2017-03-24T08:15:09.735271783Z" {"env":"dev","rev":"20170324"}"# + "\n"),
        ("{{.Spec.Labels}}", [inspected], "map[env:dev rev:20170324]\n"),
        ("{{join .Secrets \",\"}}", [TemplateValue.map(["Secrets": .list([.string("a"), .string("b")])])], "a,b\n"),
        ("table {{.Name}}\t{{join .Secrets \",\"}}", [TemplateValue.map(["Name": .string("web"), "Secrets": .list([.string("a"), .string("b")])])],
         "NAME      SECRETS\nweb       a,b\n"),
    ] as [(String, [TemplateValue], String)])
    func docsTemplatesPrintWhatDockerPrints(_ format: String, _ items: [TemplateValue], _ expected: String) throws {
        let headers = SecretLs.headers
        #expect(try Template(format).output(items, headers: headers) == expected)
    }

    @Test(arguments: [
        ("{{.Name", "unclosed action"),
        ("{{}}", "empty action"),
        ("{{range .Labels}}{{.}}{{end}}", "'range' is not supported"),
        ("{{if .Name}}x{{end}}", "'if' is not supported"),
        ("{{$x := .Name}}", "'$' is not supported"),
        // Go's parentheses, which Docker's docs use (join (split ...)): not supported.
        ("{{join (split .Labels \",\") \";\"}}", "'(' is not supported"),
        ("{{nope .Name}}", "function \"nope\" not defined"),
        ("{{.Name \"x\"}}", "takes no arguments"),
        ("{{.Name | .ID}}", "nothing can be piped"),
        ("{{| upper}}", "missing command before '|'"),
        ("{{.Name |}}", "missing command after '|'"),
        ("{{\"abc}}", "unterminated string"),
        ("{{\"\\q\"}}", "unknown escape"),
        ("{{.Name..ID}}", "bad field"),
        ("{{.Name\u{1b}[2J}}", "unexpected"),
    ])
    func malformedTemplatesAreRefused(_ format: String, _ fragment: String) {
        let error = #expect(throws: Template.Invalid.self) { try Template(format) }
        #expect(error?.description.hasPrefix("template: ") == true)
        #expect(error?.description.contains(fragment) == true, "\(String(describing: error))")
    }

    @Test(arguments: [
        ("{{.Nope}}", "can't evaluate field Nope"),
        ("{{.Name.First}}", "can't evaluate field First"),
        ("{{json}}", "wrong number of args for json: want 1 got 0"),
        ("{{upper .Labels .Name}}", "wrong number of args for upper"),
        ("{{join .Name \",\"}}", "join wants a list"),
    ])
    func fieldsAndArgumentsTheItemLacksAreErrors(_ format: String, _ fragment: String) throws {
        let error = #expect(throws: Template.Invalid.self) { try Template(format).output([Self.secret], headers: [:]) }
        #expect(error?.description.contains(fragment) == true, "\(String(describing: error))")
    }

    @Test func prettyIsDockersLayout() {
        #expect(TemplateValue.goTime(1_478_724_296_108_386_178) == "2016-11-09 20:44:56.108386178 +0000 UTC")
        #expect(TemplateValue.goTime(1_478_724_296_000_000_000) == "2016-11-09 20:44:56 +0000 UTC")
    }
}
