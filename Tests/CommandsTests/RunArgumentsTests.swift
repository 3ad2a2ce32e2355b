@testable import SecretShim
import Launcher
import Testing

/// `run`'s hand-written parser, driven by its option table (`RunOption.all`): every option in
/// both forms, `--` and the end of the options, and the error lines a user sees.
@Suite struct RunArgumentsTests {
    func parse(_ arguments: [String]) throws(RunArguments.Invalid) -> RunArguments {
        try RunArguments.parse(arguments[...])
    }

    /// What an option set, as text, to compare with what the test expects.
    static func effect(of option: String, in parsed: RunArguments) -> String {
        let plan = parsed.plan
        switch option {
        case "--secret": return plan.grants.map { "\($0.source)->\($0.target)" }.joined(separator: ",")
        case "--secrets-dir": return plan.secretsDirectory
        case "--tmpfs-size": return plan.tmpfsSize.map { String($0) } ?? "nil"
        case "--name": return plan.name ?? "nil"
        case "--env", "-e": return plan.extraEnvironment.joined(separator: ",")
        case "--user", "-u": return plan.hardening.user ?? "nil"
        case "--cap-drop": return plan.hardening.capDrop.joined(separator: ",")
        case "--cap-add": return plan.hardening.capAdd.joined(separator: ",")
        case "--seccomp":
            switch plan.hardening.seccomp {
            case .default: return "default"
            case .unconfined: return "unconfined"
            case .profile(let path): return "profile " + path
            }
        case "--rootfs": return plan.root?.path ?? "nil"
        case "--bundle": return parsed.bundle ?? "nil"
        case "--root": return parsed.root ?? "nil"
        case "--config": return LeadingGlobals.config ?? "nil"
        case "--key-file": return parsed.keyFile ?? "nil"
        case "--allow-env-leak": return String(plan.allowEnvironmentLeak)
        case "--no-new-privileges": return String(plan.hardening.noNewPrivileges)
        case "--privileged": return String(plan.hardening.privileged)
        case "--help", "-h": return String(parsed.showHelp)
        default: return "(no such option)"
        }
    }

    /// Each option that takes a value, a value, and what it sets.
    static let valued: [(String, String, String)] = [
        ("--secret", "db", "db->db"),
        ("--secrets-dir", "/run/s//", "/run/s"),
        ("--tmpfs-size", "2m", "2097152"),
        ("--name", "web.1", "web.1"),
        ("--env", "A=b=c", "A=b=c"),
        ("-e", "A=", "A="),
        ("--user", "1000:1000", "1000:1000"),
        ("-u", "nobody", "nobody"),
        ("--cap-drop", "ALL", "ALL"),
        ("--cap-add", "NET_ADMIN", "NET_ADMIN"),
        ("--seccomp", "unconfined", "unconfined"),
        ("--seccomp", "/p.json", "profile /p.json"),
        ("--rootfs", "/srv/root", "/srv/root"),
        ("--bundle", "b", "b"),
        ("--root", "/r", "/r"),
        ("--key-file", "/k", "/k"),
        ("--config", "/etc/secretshim/other.toml", "/etc/secretshim/other.toml"),
    ]

    @Test(arguments: valued)
    func anOptionTakesItsValueInBothForms(option: String, value: String, expected: String) throws {
        var arguments = [option, value]
        if option == "--bundle" { arguments += ["--"] } else { arguments += ["--", "true"] }
        let separate = try parse(arguments)
        #expect(Self.effect(of: option, in: separate) == expected)
        // `-e=X` is no short form (as before): only long options take `=`.
        guard option.hasPrefix("--") else { return }
        let joined = try parse(["\(option)=\(value)"] + arguments.dropFirst(2))
        #expect(Self.effect(of: option, in: joined) == expected)
    }

    @Test(arguments: ["--allow-env-leak", "--no-new-privileges", "--privileged", "--help", "-h"])
    func aFlagSetsItsSwitchAndTakesNoValue(flag: String) throws {
        #expect(Self.effect(of: flag, in: try parse(["true"])) == "false")
        #expect(Self.effect(of: flag, in: try parse([flag, "true"])) == "true")
        guard flag.hasPrefix("--") else { return }
        #expect(throws: RunArguments.Invalid.self) { try parse(["\(flag)=1", "true"]) }
        do { _ = try parse(["\(flag)=1", "true"]) } catch {
            #expect(error.description == "option '\(flag)' takes no value; see 'secretshim run --help'")
        }
    }

    /// Every option in the table has its case above, so a new option comes with its test.
    @Test func everyOptionInTheTableIsTested() {
        let tested = Set(Self.valued.map(\.0) + ["--allow-env-leak", "--no-new-privileges", "--privileged", "--help", "-h"])
        for option in RunOption.all {
            #expect(tested.contains(option.name), "\(option.name) has no test")
            if let short = option.short { #expect(tested.contains(short), "\(short) has no test") }
        }
    }

    @Test func repeatableOptionsAddAndOthersKeepTheirLastValue() throws {
        let parsed = try parse([
            "--secret", "a", "--secret", "b", "-e", "A=1", "--env", "B=2", "--cap-add", "X", "--cap-add", "Y",
            "--cap-drop", "P", "--cap-drop", "Q", "--name", "one", "--name", "two", "--", "true",
        ])
        #expect(Self.effect(of: "--secret", in: parsed) == "a->a,b->b")
        #expect(parsed.plan.extraEnvironment == ["A=1", "B=2"])
        #expect(parsed.plan.hardening.capAdd == ["X", "Y"] && parsed.plan.hardening.capDrop == ["P", "Q"])
        #expect(parsed.plan.name == "two")
        for option in RunOption.all {
            let says = option.help.contains("(repeatable)")
            #expect(says == option.repeatable, "\(option.name): the help and the table disagree on repeating")
        }
    }

    /// Grants are read under the final secrets dir, whatever the order of the flags.
    @Test func secretsAreGrantedUnderTheSecretsDirGivenAfterThem() throws {
        let parsed = try parse(["--secret", "source=a,target=/s/x", "--secrets-dir", "/s", "true"])
        #expect(Self.effect(of: "--secret", in: parsed) == "a->x")
    }

    @Test(arguments: [
        (["--", "--name", "x"], ["--name", "x"], "nil"),
        (["--name", "n", "--", "--", "a"], ["--", "a"], "n"),
        (["--name", "n", "true", "--name", "x"], ["true", "--name", "x"], "n"),
        (["-", "a"], ["-", "a"], "nil"),
    ])
    func optionsEndAtDoubleDashOrTheFirstNonOption(arguments: [String], command: [String], name: String) throws {
        let parsed = try parse(arguments)
        #expect(parsed.plan.command == command)
        #expect(Self.effect(of: "--name", in: parsed) == name)
    }

    /// The error lines as `run` prints them after `secretshim: run: `.
    @Test(arguments: [
        (["--bogus", "--", "true"], "unknown option '--bogus'; see 'secretshim run --help'"),
        (["--bogus=1", "true"], "unknown option '--bogus'; see 'secretshim run --help'"),
        (["-e=A=1", "true"], "unknown option '-e=A=1'; see 'secretshim run --help'"),
        (["--secret"], "option '--secret' needs a value; see 'secretshim run --help'"),
        (["--name"], "option '--name' needs a value; see 'secretshim run --help'"),
        (["--name", "-x", "true"], "invalid name '-x': only [a-zA-Z0-9][a-zA-Z0-9_.-] allowed"),
        (["--env", "1A=b", "true"], "invalid --env '1A': expected VAR=VALUE"),
        (["--secrets-dir", "/a/../b", "true"], "--secrets-dir must be an absolute path other than / without '..': /a/../b"),
        (["--tmpfs-size", "0", "true"], "invalid --tmpfs-size '0': expected bytes (optionally with k, m or g), at most 1 TiB"),
        (["--seccomp=", "true"], "--seccomp needs default, unconfined or a profile file"),
        (["--rootfs", "r", "true"], "--rootfs must be an absolute path: r"),
        (["--bundle="], "--bundle needs a directory"),
        (["--bundle", "b", "--rootfs", "/r"], "--rootfs and --bundle cannot be combined"),
        (["--name", "x"], "no command given (secretshim run [OPTIONS] [--] COMMAND [ARG...])"),
        ([], "no command given (secretshim run [OPTIONS] [--] COMMAND [ARG...])"),
    ])
    func usageErrorsSayWhatIsWrong(arguments: [String], message: String) {
        do {
            _ = try parse(arguments)
            Issue.record("\(arguments) parsed")
        } catch {
            #expect(error.description == message)
        }
    }

    @Test func helpIsMadeFromTheTableAndReadsAsBefore() {
        #expect(RunArguments.help == Self.helpAsItWas)
        for option in RunOption.all where !option.help.isEmpty {
            #expect(RunArguments.help.contains("  " + option.synopsis + " "))
        }
    }

    static let helpAsItWas = """
        Usage: secretshim run [OPTIONS] [--] COMMAND [ARG...]

        Run COMMAND with secrets on a private, read-only tmpfs at /run/secrets.

        Options:
          --secret SPEC          Grant a secret: NAME, or source=NAME[,target=PATH][,uid=N][,gid=N]
                                 [,mode=OCTAL][,env=VAR] (repeatable); as Docker, a field in
                                 double quotes may hold commas, "" a quote: '"target=a,b"'
          --secrets-dir DIR      Where the secrets tmpfs is mounted (default /run/secrets)
          --tmpfs-size BYTES     Size of the tmpfs (default: enough for the secrets, at least 1 MiB)
          --name NAME            Name of the workload, for 'ps' and 'secret rm'
          -e, --env K=V          Add K=V to the environment (repeatable)
          --allow-env-leak       Start even if an environment variable holds a secret's value
          -u, --user UID[:GID]   Run as this user (names from the root's /etc/passwd, /etc/group)
          --cap-drop CAP|ALL     Drop a capability from Docker's default set (repeatable)
          --cap-add CAP|ALL      Add a capability (repeatable)
          --no-new-privileges    Set no_new_privs: setuid binaries and file caps grant nothing
          --seccomp PROFILE      default, unconfined, or a Docker/OCI JSON profile
          --privileged           All capabilities and no seccomp filter
          --rootfs DIR           Run in DIR as the root filesystem (pivot_root; fresh /proc, minimal /dev)
          --bundle DIR           Run an OCI bundle (DIR/config.json); a COMMAND replaces its args
          --config FILE          Configuration file (env SECRETSHIM_CONFIG)
          --root DIR             Store root (env SECRETSHIM_ROOT)
          --key-file PATH        Master key file (env SECRETSHIM_KEY_FILE)

        Exit status: the workload's own; 125 shim error; 126 not executable; 127 not found.

        """
}
