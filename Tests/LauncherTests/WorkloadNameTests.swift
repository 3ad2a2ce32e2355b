import Launcher
import Testing

/// `ps` and `secret rm` name a workload after its command when `--name` is not given.
@Suite struct WorkloadNameTests {
    @Test(arguments: [
        ("/usr/bin/redis-server", "redis-server"), ("nginx", "nginx"), ("/usr/bin/", "bin"), ("./a b", "ab"),
        ("", "workload"), ("/", "workload"), ("ünïcode", "ncode"), ("python3.11", "python3.11"), ("x/$%", "workload"),
    ])
    func namedAfterTheCommand(command: String, expected: String) {
        var plan = LaunchPlan()
        plan.command = [command]
        #expect(plan.workloadName == expected)
    }
}
