import Launcher
import Testing

/// A variable's value is found by its name, on bytes; the last one wins.
@Suite struct EnvironmentValueTests {
    @Test func environmentValues() {
        let environment = ["PATH=/usr/bin", "PATHX=no", "A=1", "A=2=3", "ü=x", "B="]
        #expect(Environment.value(of: "PATH", in: environment) == "/usr/bin")
        #expect(Environment.value(of: "A", in: environment) == "2=3")  // the last one wins
        #expect(Environment.value(of: "ü", in: environment) == "x")
        #expect(Environment.value(of: "B", in: environment) == "")
        #expect(Environment.value(of: "C", in: environment) == nil)
    }
}

/// `run` refuses a secret whose value some environment variable already holds.
@Suite struct EnvironmentLeakTests {
    @Test func findsTheVariableHoldingTheValue() {
        let secret = Array("hunter2\n".utf8)
        let longName = String(repeating: "N", count: 300)
        #expect(Environment.leakingVariable(of: secret, in: ["A=1", "PW=hunter2"]) == "PW")
        #expect(Environment.leakingVariable(of: secret, in: ["PW=hunter2\n"]) == "PW")
        #expect(Environment.leakingVariable(of: secret, in: ["\(longName)=hunter2"]) == longName)
        #expect(Environment.leakingVariable(of: secret, in: ["X=a=hunter2", "Y=hunter2"]) == "Y")
        #expect(Environment.leakingVariable(of: secret, in: ["PW=hunter22", "PW=hunter", "hunter2", "=hunter2x"]) == nil)
        #expect(Environment.leakingVariable(of: Array("\n".utf8), in: ["E=", "F=\n"]) == nil)
        #expect(Environment.leakingVariable(of: Array("ü=é".utf8), in: ["K=ü=é"]) == "K")
    }
}

/// A secret of 8 bytes or more is found inside a value or an argument, anywhere in it; a
/// shorter one only whole.
@Suite struct EnvironmentContainmentTests {
    @Test func aLongSecretIsFoundInsideAValue() {
        let secret = Array("s3cr3t-pw\n".utf8)  // 9 bytes once its newline is trimmed
        #expect(Environment.leakingVariable(of: secret, in: ["DB=postgres://u:s3cr3t-pw@h/db"]) == "DB")
        #expect(Environment.leakingVariable(of: secret, in: ["A=s3cr3t-pwX", "B=Xs3cr3t-pw"]) == "A")
        #expect(Environment.leakingVariable(of: secret, in: ["B=xxs3cr3t-pw"]) == "B")  // at the very end
        #expect(Environment.leakingVariable(of: secret, in: ["C=s3cr3t-p", "D=ss3cr3t-p w", "s3cr3t-pw"]) == nil)
        #expect(Environment.leakingVariable(of: Array("short".utf8), in: ["E=shorter", "F=a short"]) == nil)
        #expect(Environment.leakingArgument(of: secret, in: ["redis-server", "--requirepass=s3cr3t-pw"]) == 1)
        #expect(Environment.leakingArgument(of: secret, in: ["s3cr3t-p", "3cr3t-pw"]) == nil)
        #expect(Environment.leakingArgument(of: Array("short".utf8), in: ["x", "short"]) == 1)
    }
}

/// `--env` and `env=VAR` replace a variable by its name: the bytes before the first '=', as
/// the kernel and getenv read them (the byte-level class of bugs fuzz/ found in the parsers).
@Suite struct EnvironmentSetTests {
    @Test func aVariableIsReplacedByItsName() {
        var environment = ["PATH=/bin", "X=\u{301}old", "XY=1", "NOEQUALS"]
        Environment.set("X=new", in: &environment)
        #expect(environment == ["PATH=/bin", "XY=1", "NOEQUALS", "X=new"])
        Environment.set("NOEQUALS", in: &environment)
        Environment.set("PATH=/usr/bin", in: &environment)
        #expect(environment == ["XY=1", "X=new", "NOEQUALS", "PATH=/usr/bin"])
    }
}
