import Namespaces
import Testing

/// CLinux's arguments.c stands in for the Swift runtime's argv lookup in the static build (it
/// says why; the binary-level tests run that build with arguments). Here, in whichever lookup
/// this test binary got: what `CommandLine` reports must be this process's own command line, as
/// the kernel has it.
@Suite struct CommandLineTests {
    @Test func argumentsAreThisProcesssCommandLine() throws {
        let cmdline = try Files.read("/proc/self/cmdline", limit: 1 << 20)
        var kernels: [String] = []
        var current: [UInt8] = []
        for byte in cmdline {
            if byte == 0 {
                kernels.append(String(decoding: current, as: UTF8.self))
                current.removeAll()
            } else {
                current.append(byte)
            }
        }
        #expect(!kernels.isEmpty)
        #expect(CommandLine.arguments == kernels)
        #expect(Int(CommandLine.argc) == kernels.count)
        #expect(CommandLine.unsafeArgv[kernels.count] == nil)
    }
}
