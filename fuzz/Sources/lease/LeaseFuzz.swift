// Lease files in the state dir (Lease.decode, what `secret rm` and `ps` read of every running
// workload, written by any `run`) and the names they are filed under (LeaseDirectory.pid).
import FuzzSupport
import Glibc

@testable import SecretStore

@_cdecl("LLVMFuzzerInitialize")
public func initializeLease(_ argc: UnsafeMutablePointer<Int32>, _ argv: UnsafeMutablePointer<UnsafeMutablePointer<UnsafeMutablePointer<CChar>?>?>) -> Int32 {
    writeSeedsIfAsked {
        let leases = [
            Lease(workloadID: "4194303", name: "redis-server", pid: 4_194_303, processStartTime: 123_456, startedAt: 1_795_000_000_123_456_789,
                  secrets: [.init(id: "es62ibgvpcp8gnq56m77m835d", name: "db_pw"), .init(id: "0123456789abcdefghijklmno", name: "tls.key")]),
            Lease(workloadID: "0a1b2c3d4e5f60718293a4b5c6d7e8f90a1b2c3d4e5f60718293a4b5c6d7e8f9", name: "0a1b2c3d4e5f", pid: 812,
                  processStartTime: 99, startedAt: 1, secrets: [], wants: ["db_pw", "es62ib"]),
            Lease(workloadID: "1", name: "init", pid: 1, processStartTime: .max, startedAt: .min, secrets: [.init(id: "a", name: "b")]),
        ]
        var seeds = leases.enumerated().map { (name: "lease-\($0.offset)", bytes: [0] + $0.element.encoded()) }
        seeds.append((name: "file-name", bytes: [1] + Array("4194303.lease".utf8)))
        return seeds
    }
    return 0
}

@_cdecl("LLVMFuzzerTestOneInput")
public func fuzzLease(_ data: UnsafePointer<UInt8>?, _ size: Int) -> Int32 {
    var input = FuzzInput(data, size)
    switch input.byte() % 3 {
    case 0: checkFile(input.rest())
    case 1: checkFileName(String(decoding: input.rest(), as: UTF8.self))
    default: checkRoundTrip(&input)
    }
    return 0
}

/// Whatever a lease file holds: a lease read from it is one its writer could have written.
func checkFile(_ bytes: [UInt8]) {
    guard let lease = Lease.decode(bytes) else { return }
    let context = String(decoding: bytes, as: UTF8.self).debugDescription
    require(Set(lease.secrets.map(\.id)).count == lease.secrets.count && Set(lease.wants).count == lease.wants.count, "duplicates kept: \(context)")
    require(!lease.holdsEverything, "a parsed lease holds everything: \(context)")
    // Every name, ID and reference as the writer's callers validate them: then it writes back the same.
    let values = [lease.workloadID, lease.name] + lease.secrets.flatMap { [$0.id, $0.name] } + lease.wants
    guard values.allSatisfy(isWritable) else { return }
    require(Lease.decode(lease.encoded()) == lease, "lease \(lease) does not read back: \(context)")
}

/// `<pid>.lease` names a pid; anything else names none.
func checkFileName(_ file: String) {
    guard let pid = LeaseDirectory.pid(named: file) else { return }
    require(pid > 0, "pid \(pid) from \(file.debugDescription)")
    require(LeaseDirectory.pid(named: LeaseDirectory.fileName(pid)) == pid, "pid \(pid) does not name its own file")
}

/// Leases as `run` and the runtime wrapper write them read back the same.
func checkRoundTrip(_ input: inout FuzzInput) {
    let pid = pid_t(bitPattern: UInt32(truncatingIfNeeded: input.uint64()))
    let start = input.uint64()
    let started = Int64(bitPattern: input.uint64())
    var fields: [String] = []
    while !input.bytes.isEmpty && fields.count < 64 {
        fields.append(String(decoding: input.field(until: 0).map(nameCharacter), as: UTF8.self))
    }
    guard fields.count >= 2, fields.allSatisfy({ !$0.isEmpty }) else { return }
    var held: [Lease.Held] = []
    var rest = fields.dropFirst(2)
    while rest.count >= 2 && rest.first != "." {
        held.append(.init(id: rest.first!, name: rest.dropFirst().first!))
        rest = rest.dropFirst(2)
    }
    let lease = Lease(workloadID: fields[0], name: fields[1], pid: pid, processStartTime: start, startedAt: started, secrets: held, wants: Array(rest))
    require(Lease.decode(lease.encoded()) == lease, "lease \(lease) does not read back")
}

/// What names, IDs and references are made of once validated: printable, no spaces.
func isWritable(_ value: String) -> Bool {
    !value.isEmpty && value.utf8.allSatisfy { $0 > 0x20 && $0 != 0x7F } && !value.contains("\u{FFFD}")
}

func nameCharacter(_ byte: UInt8) -> UInt8 {
    let alphabet = Array("abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789-_.".utf8)
    return alphabet[Int(byte) % alphabet.count]
}
