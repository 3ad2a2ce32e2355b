// The runtime wrapper's view of runc's command line: RuntimeCommandLine (global flags, command
// word, the container call) and peelSecretshimFlags.
import FuzzSupport
import Namespaces

@testable import ContainerRuntime

@_cdecl("LLVMFuzzerTestOneInput")
public func fuzzRuntimeCommandLine(_ data: UnsafePointer<UInt8>?, _ size: Int) -> Int32 {
    var input = FuzzInput(data, size)
    let arguments = input.arguments()
    let context = arguments.debugDescription
    checkPeel(arguments, context: context)

    // A flag is cut at its first '=' byte, as Go's flag package cuts it.
    for argument in arguments {
        guard let flag = RuntimeCommandLine.flag(argument) else {
            require(!argument.hasUTF8Prefix("-") || argument == "-", "\(argument.debugDescription) not read as a flag")
            continue
        }
        require(!flag.name.utf8.contains(UInt8(ascii: "=")), "flag \(argument.debugDescription) not cut at its '='")
        require(flag.name.utf8.count + (flag.value.map { $0.utf8.count + 1 } ?? 0) + (argument.hasUTF8Prefix("--") ? 2 : 1) == argument.utf8.count,
                "flag \(argument.debugDescription) loses bytes")
    }
    let line = RuntimeCommandLine(arguments)
    require(line.arguments == arguments, "arguments changed: \(context)")
    if let index = line.commandIndex {
        require(index < arguments.count && arguments[index] == line.command, "command word misplaced: \(context)")
        require(RuntimeCommandLine.flag(arguments[index]) == nil, "a flag taken as the command: \(context)")
    } else {
        require(line.command == nil, "a command without a place: \(context)")
    }
    guard let call = line.containerCall() else { return 0 }
    require(call.idIndex > line.commandIndex! && call.idIndex < arguments.count, "ID index \(call.idIndex): \(context)")
    require(arguments[call.idIndex] == call.id, "ID misplaced: \(context)")
    // The pid file the wrapper adds is read back by the runtime as such, before the same ID.
    let path = "/run/secretshim/containers/fuzz.pid"
    let changed = RuntimeCommandLine(line.addingPidFile(path, before: call))
    require(changed.command == line.command, "--pid-file added changes the command: \(context)")
    let changedCall = changed.containerCall()
    require(changedCall?.id == call.id, "--pid-file added changes the ID to \(String(describing: changedCall?.id)): \(context)")
    require(changedCall?.pidFile == path, "--pid-file added is not read back: \(context)")
    require(changedCall?.bundle == call.bundle && changedCall?.detach == call.detach, "--pid-file added changes the call: \(context)")
    return 0
}

/// secretshim's own flags come out whole, and nothing else does.
func checkPeel(_ arguments: [String], context: String) {
    guard let (flags, rest) = try? RuntimeCommandLine.peelSecretshimFlags(arguments) else { return }
    require(rest.count <= arguments.count, "peeling added arguments: \(context)")
    // What is left is the original in order, less what was taken.
    var remaining = rest[...]
    for argument in arguments where remaining.first == argument { remaining = remaining.dropFirst() }
    require(remaining.isEmpty, "peeling reordered or invented arguments: \(context)")
    let values = [flags.root, flags.stateDirectory, flags.keyFile].compactMap { $0 } + flags.grants
    for value in values {
        require(arguments.contains { $0 == value || $0.hasUTF8Suffix("=" + value) }, "value \(value.debugDescription) from nowhere: \(context)")
    }
    // Peeling again finds nothing more: runc never sees one of ours.
    guard let (again, restAgain) = try? RuntimeCommandLine.peelSecretshimFlags(rest) else {
        require(false, "peeled arguments fail to peel: \(context)")
        return
    }
    require(again == RuntimeCommandLine.SecretshimFlags() && restAgain == rest, "a secretshim flag survives peeling: \(context)")
}
