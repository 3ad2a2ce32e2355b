// What an etcd store reads from etcd, which anyone with a client certificate can write
// (EtcdRecord.decode: a secret's record and sealed value; EtcdWorkload: a node's published
// workload; EtcdClient.keyValues: the gateway's answer), and the store URL a user types
// (EtcdConfiguration.parse).
import FuzzSupport
import Glibc
import JSON
import SecretStore

@testable import EtcdStore

let keys = EtcdKeys(prefix: "/secretshim")

@_cdecl("LLVMFuzzerInitialize")
public func initializeEtcdRecord(_ argc: UnsafeMutablePointer<Int32>, _ argv: UnsafeMutablePointer<UnsafeMutablePointer<UnsafeMutablePointer<CChar>?>?>) -> Int32 {
    writeSeedsIfAsked {
        // SecretRecord's initializer is the root package's own: the seeds are the encoder's
        // output for records decoded from hand-written JSON.
        let written = #"{"ID":"es62ibgvpcp8gnq56m77m835d","Name":"db_pw","Version":7,"CreatedAt":1795000000123456789,"UpdatedAt":1795000000123456789,"Labels":{"env":"prod","é":"\n"},"Sealed":"AAUKDxQZHiMoLTI3PEFGS1BVWl9kaW5zeH2Ch4yRlpugpaqvtLm+w8jN0tfc4eY="}"#
        let name = keys.name("db_pw"), id = keys.id("es62ibgvpcp8gnq56m77m835d")
        guard let (record, sealed) = try? EtcdRecord.decode(Array(written.utf8), key: name, keys: keys) else {
            report("fuzz: the seed record does not decode")
            abort()
        }
        let workload = EtcdWorkload(
            Lease(workloadID: "4194303", name: "redis-server", pid: 4_194_303, processStartTime: 1, startedAt: 1_795_000_000_123_456_789,
                  secrets: [.init(id: "es62ibgvpcp8gnq56m77m835d", name: "db_pw")]), node: "node-a")
        let answer = #"{"header":{"revision":"12"},"kvs":[{"key":"L3NlY3JldHNoaW0vaWRzL2E=","create_revision":"3","mod_revision":"4","version":"1","value":"e30=","lease":"7587"}],"count":"1"}"#
        return [
            (name: "record-with-value", bytes: [0] + Array(name.utf8) + [0] + EtcdRecord.encode(record, sealed: sealed)),
            (name: "record", bytes: [0] + Array(id.utf8) + [0] + EtcdRecord.encode(record, sealed: nil)),
            (name: "workload", bytes: [1] + workload.encoded()),
            (name: "url", bytes: [2] + Array("etcd://127.0.0.1:2379,[::1]:2381,etcd-2.example:2379/teams/a/".utf8)),
            (name: "url-insecure", bytes: [2] + Array("etcd+insecure://localhost:2379".utf8)),
            (name: "range-answer", bytes: [3] + Array(answer.utf8)),
        ]
    }
    return 0
}

@_cdecl("LLVMFuzzerTestOneInput")
public func fuzzEtcdRecord(_ data: UnsafePointer<UInt8>?, _ size: Int) -> Int32 {
    var input = FuzzInput(data, size)
    switch input.byte() % 4 {
    case 0: checkRecord(key: input.string(until: 0), input.rest())
    case 1: checkWorkload(input.rest())
    case 2: checkURL(String(decoding: input.rest(), as: UTF8.self))
    default: checkAnswer(input.rest())
    }
    return 0
}

/// A record is only ever taken from its own key, with a valid name and ID, and reads back the same.
func checkRecord(key: String, _ bytes: [UInt8]) {
    guard let (record, sealed) = try? EtcdRecord.decode(bytes, key: key, keys: keys) else { return }
    let context = String(decoding: bytes, as: UTF8.self).debugDescription
    require(SecretRules.isValidName(record.name) && SecretID.isWellFormed(record.id), "invalid name or ID accepted: \(context)")
    require(key == keys.name(record.name) || key == keys.id(record.id), "record of \(record.name) taken from \(key.debugDescription)")
    require(!(key.hasPrefix(keys.names) && key == keys.id(record.id)), "an ids key under names/")
    let again = try? EtcdRecord.decode(EtcdRecord.encode(record, sealed: sealed), key: key, keys: keys)
    require(again?.record == record && again?.sealed == sealed, "record does not read back: \(context)")
}

/// A published workload reads back the same.
func checkWorkload(_ bytes: [UInt8]) {
    guard let workload = EtcdWorkload(bytes) else { return }
    require(EtcdWorkload(workload.encoded()) == workload, "workload does not read back: \(String(decoding: bytes, as: UTF8.self).debugDescription)")
}

/// A store URL either parses into endpoints and a plain prefix, plain HTTP only to loopback,
/// or is refused; parsing its own text again gives the same.
func checkURL(_ text: String) {
    guard let configuration = try? EtcdConfiguration.parse(text) else { return }
    let context = text.debugDescription
    require(!configuration.endpoints.isEmpty, "no endpoint: \(context)")
    for endpoint in configuration.endpoints {
        require(endpoint.utf8.allSatisfy { $0 > 0x20 && $0 != 0x7F }, "control byte or space in \(endpoint.debugDescription)")
        if configuration.insecure {
            require(endpoint.hasPrefix("http://"), "insecure endpoint \(endpoint)")
            let hostPort = endpoint.dropFirst("http://".count)
            let host = hostPort.first == "[" ? hostPort.prefix { $0 != "]" } + "]" : hostPort.prefix { $0 != ":" }
            require(EtcdConfiguration.isLoopback(String(host)), "plain HTTP to \(endpoint): \(context)")
        } else {
            require(endpoint.hasPrefix("https://"), "TLS URL gave \(endpoint)")
        }
    }
    let prefix = configuration.prefix
    require(prefix.hasPrefix("/") && !prefix.hasSuffix("/") && !prefix.contains("//"), "prefix \(prefix.debugDescription) from \(context)")
    require(!prefix.split(separator: "/").contains { $0 == "." || $0 == ".." }, "dot part in prefix \(prefix.debugDescription)")
    require((try? EtcdConfiguration.parse(configuration.url)) == configuration, "does not parse the same twice: \(context)")
}

/// Whatever the gateway answers: keys are UTF-8 text, never a crash.
func checkAnswer(_ bytes: [UInt8]) {
    guard let json = try? JSONValue.parse(bytes), let found = try? EtcdClient.keyValues(json["kvs"]) else { return }
    for pair in found { require(String(validating: Array(pair.key.utf8), as: UTF8.self) != nil, "key is not UTF-8") }
}
