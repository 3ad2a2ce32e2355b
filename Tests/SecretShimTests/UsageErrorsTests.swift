import Foundation
import Testing

/// Usage errors say which command they belong to and point at that command's own help, in one
/// line with the documented exit status; `help COMMAND` shows that command's help.
@Suite struct UsageErrorsTests {
    /// The arguments, the command the error names, and its exit status (2; `run` 125 as
    /// `docker run`; `runtime` 1 as runc).
    static let unknownOptions: [([String], String, Int32)] = [
        (["secret", "create", "--bogus", "x", "-"], "secret create", 2),
        (["secret", "ls", "--bogus"], "secret ls", 2),
        (["secret", "list", "--bogus"], "secret ls", 2),
        (["secret", "inspect", "--bogus", "x"], "secret inspect", 2),
        (["secret", "rm", "--bogus", "x"], "secret rm", 2),
        (["secret", "remove", "--bogus", "x"], "secret rm", 2),
        (["secret", "export", "--bogus", "x", "-o", "/nonexistent"], "secret export", 2),
        (["secret", "--bogus"], "secret", 2),
        (["ps", "--bogus"], "ps", 2),
        (["scan", "--bogus", "/nonexistent"], "scan", 2),
        (["info", "--bogus"], "info", 2),
        (["grant", "--bogus", "x"], "grant", 2),
        (["--root", "/nonexistent", "secret", "ls", "--bogus"], "secret ls", 2),
        (["run", "--bogus", "--", "true"], "run", 125),
        (["run", "--secret", "x", "--bogus=1", "true"], "run", 125),
    ]

    @Test(arguments: unknownOptions)
    func anUnknownOptionPointsAtItsCommandsHelp(arguments: [String], command: String, status: Int32) {
        let shim = Shim()
        defer { shim.cleanUp() }
        let result = shim(arguments)
        #expect(result.status == status, "\(arguments): \(result.stderr)")
        #expect(result.stdout.isEmpty)
        expectOneLineError(result, contains: "secretshim: \(command): unknown option '--bogus'; see 'secretshim \(command) --help'")
    }

    @Test func theTopLevelAndOtherUsageErrorsPointAtTheirHelpToo() {
        let shim = Shim()
        defer { shim.cleanUp() }
        let cases: [([String], String)] = [
            (["--bogus"], "secretshim: usage: unknown option '--bogus'; see 'secretshim --help'"),
            (["frobnicate"], "secretshim: usage: unexpected argument 'frobnicate'; see 'secretshim --help'"),
            (["secret", "frobnicate"], "secretshim: secret: unexpected argument 'frobnicate'; see 'secretshim secret --help'"),
            (["secret", "create", "onlyname"], "secretshim: secret create: missing expected argument '<file>'; see 'secretshim secret create --help'"),
            (["ps", "--format"], "see 'secretshim ps --help'"),
            // Any other --format is a template, as Docker's ("xml" prints "xml" per line).
            (["ps", "--format", "{{.ID"], "secretshim: ps: template: unclosed action (no '}}'); see 'secretshim ps --help'"),
            (["secret", "inspect"], "see 'secretshim secret inspect --help'"),
        ]
        for (arguments, message) in cases {
            let result = shim(arguments)
            #expect(result.status == 2, "\(arguments)")
            expectOneLineError(result, contains: message)
        }
        let run = shim(["run", "--secret"])
        #expect(run.status == 125)
        expectOneLineError(run, contains: "secretshim: run: option '--secret' needs a value; see 'secretshim run --help'")
    }

    /// An option's bytes are the user's: a line break or an escape sequence in it is shown
    /// escaped, on the one line, never cut there or sent to the terminal.
    @Test func controlBytesInAnUnknownOptionAreEscaped() {
        let shim = Shim()
        defer { shim.cleanUp() }
        for (arguments, status) in [(["secret", "ls", "--bo\ngus\u{1b}[31m"], Int32(2)), (["run", "--bo\ngus\u{1b}[31m", "true"], 125)] {
            let result = shim(arguments)
            #expect(result.status == status)
            expectOneLineError(result, contains: #"unknown option '--bo\ngus\x1b[31m'; see 'secretshim "#)
            #expect(!result.stderr.contains("\u{1b}"))
        }
    }

    /// `runtime`'s own options start with `--secretshim-`; an unknown one is refused before runc
    /// runs (here `/bin/true`, which would succeed), in one line pointing at the runtime's help.
    @Test func anUnknownRuntimeOptionPointsAtTheRuntimesHelp() {
        let shim = Shim()
        defer { shim.cleanUp() }
        for arguments in [["--secretshim-bogus", "x", "create", "c1"], ["--secretshim-grnat=db", "create", "c1"], ["--root", "/r", "--secretshim-bogus", "state", "c1"]] {
            let result = shim(["runtime"] + arguments, env: ["SECRETSHIM_RUNTIME": "/bin/true"])
            #expect(result.status == 1, "\(arguments)")
            expectOneLineError(result, contains: "secretshim: runtime: unknown option '--secretshim-")
            expectOneLineError(result, contains: "; see 'secretshim runtime --help'")
        }
        let missing = shim(["runtime", "--secretshim-grant"], env: ["SECRETSHIM_RUNTIME": "/bin/true"])
        #expect(missing.status == 1)
        expectOneLineError(missing, contains: "option '--secretshim-grant' needs a value; see 'secretshim runtime --help'")
        // runc's own flags are still runc's.
        #expect(shim(["runtime", "--debug", "state", "x"], env: ["SECRETSHIM_RUNTIME": "/bin/true"]).status == 0)
    }

    /// `help run` and `help runtime` show those commands' own help (both are parsed by hand),
    /// as `run --help` and `runtime --help` do; `help` of the others stays ArgumentParser's.
    @Test func helpOfACommandIsThatCommandsHelp() throws {
        let shim = Shim()
        defer { shim.cleanUp() }
        let run = shim(["help", "run"])
        #expect(run.status == 0)
        #expect(run.stdout.hasPrefix("Usage: secretshim run [OPTIONS] [--] COMMAND [ARG...]"), "\(run.stdout)")
        #expect(run.stdout == shim(["run", "--help"]).stdout)
        #expect(run.stdout == shim(["--root", "/nonexistent", "help", "run"]).stdout)

        let runtime = shim(["help", "runtime"])
        #expect(runtime.status == 0)
        #expect(runtime.stdout.hasPrefix("Usage: secretshim runtime [OPTIONS]"), "\(runtime.stdout)")
        #expect(runtime.stdout.contains("--secretshim-grant SPEC"))
        for arguments in [["runtime", "--help"], ["runtime", "-h"], ["runtime", "--secretshim-root", "/r", "--help"]] {
            let result = shim(arguments, env: ["SECRETSHIM_RUNTIME": "/bin/false"])
            #expect(result.status == 0 && result.stdout == runtime.stdout, "\(arguments): \(result.stderr)")
        }
        // Through the `secretshim-runtime` link, the same.
        let link = shim.directory.appendingPathComponent("secretshim-runtime").path
        try FileManager.default.createSymbolicLink(atPath: link, withDestinationPath: Shim.binary)
        #expect(shim(["--help"], executable: link).stdout == runtime.stdout)

        let ls = shim(["help", "secret", "ls"])
        #expect(ls.status == 0 && ls.stdout.contains("USAGE: secretshim secret ls"), "\(ls.stdout)")
        let top = shim(["help"])
        #expect(top.status == 0 && top.stdout.contains("SUBCOMMANDS") && top.stdout.contains("'secretshim runtime --help'"))
    }
}
