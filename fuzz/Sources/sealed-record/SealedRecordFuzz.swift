// The store's sealed values and `run`'s `launch/` index: Sealing.open over a row's box, a
// `launch/NAME` file as LaunchIndex.read reads it (header, record, AES-GCM box), `launch/.synced`
// and the SQLite header's stamp. The first input byte picks which.
import FuzzSupport
import Glibc
import Namespaces

@testable import SecretStore

/// The store's key in these runs: the seeds' store is made with it.
let masterKey: [UInt8] = (0..<32).map { UInt8($0) &* 13 &+ 1 }
let location = StoreLocation(root: scratchDirectory + "/store", keyFile: scratchDirectory + "/store/master.key", stateDirectory: scratchDirectory + "/state")
let index = LaunchIndex(location)

@_cdecl("LLVMFuzzerInitialize")
public func initializeSealedRecord(_ argc: UnsafeMutablePointer<Int32>, _ argv: UnsafeMutablePointer<UnsafeMutablePointer<UnsafeMutablePointer<CChar>?>?>) -> Int32 {
    makeDirectory(location.root)
    makeDirectory(index.directory)
    writeSeedsIfAsked(realStoreSeeds)
    return 0
}

@_cdecl("LLVMFuzzerTestOneInput")
public func fuzzSealedRecord(_ data: UnsafePointer<UInt8>?, _ size: Int) -> Int32 {
    var input = FuzzInput(data, size)
    switch input.byte() % 5 {
    case 0: checkSealedValue(&input)
    case 1: checkIndexFile(&input)
    case 2: checkSynced(input.rest())
    case 3: checkDatabaseHeader(input.rest())
    default: checkRoundTrip(&input)
    }
    return 0
}

/// A row's value (version, ID and name, each NUL-terminated, then the box) as SecretStore opens it.
func checkSealedValue(_ input: inout FuzzInput) {
    let version = Int64(bitPattern: input.uint64())
    let id = input.string(until: 0)
    let name = input.string(until: 0)
    let box = input.rest()
    let data = Sealing.associatedData(id: id, name: name, version: version)
    guard let value = try? box.withUnsafeBytes({ raw throws(StoreError) in try Sealing.open(raw, key: masterKey, associatedData: data, name: name) })
    else { return }
    require(value.count == box.count - 28, "a box of \(box.count) bytes opened to \(value.count)")
    // The same value sealed again opens again; under any other record, it does not.
    let resealed = try! Sealing.seal(value, key: masterKey, associatedData: data)
    require(AESGCM.open(resealed, key: masterKey, associatedData: data) == value, "a resealed value does not open")
    let other = Sealing.associatedData(id: id, name: name, version: version &+ 1)
    require(AESGCM.open(box, key: masterKey, associatedData: other) == nil, "a box opened under another version")
}

/// `launch/NAME` (the name, NUL, the file's bytes) read as `run` reads it.
func checkIndexFile(_ input: inout FuzzInput) {
    let name = input.string(until: 0)
    let bytes = input.rest()
    let isName = SecretRules.isValidName(name) && !SecretID.isWellFormed(name)
    if isName { writeFile(index.directory + "/" + name, bytes) }
    var found: (SecretRecord, [UInt8])?
    let read = index.read(name, key: masterKey) { found = ($0, $1) }
    if isName { unlink(index.directory + "/" + name) }
    require(read == (found != nil), "read's answer and its callback disagree")
    guard let (record, value) = found else { return }
    require(isName, "read vouched for a name it must leave to SQLite: \(name.debugDescription)")
    require(record.name == name && SecretID.isWellFormed(record.id), "record \(record) for \(name.debugDescription)")
    require(value.count == bytes.count - LaunchIndex.headerSize - 28, "value of \(value.count) bytes from a \(bytes.count)-byte file")
    let encoded = bytes[LaunchIndex.headerSize...].withUnsafeBytes { LaunchIndex.encode(record, sealed: $0) }
    require(encoded == bytes, "a file read does not encode back to itself")
}

/// `launch/.synced`: "COUNTER TOKEN\n".
func checkSynced(_ bytes: [UInt8]) {
    writeFile(index.directory + "/" + LaunchIndex.syncedName, bytes)
    guard let stamp = index.syncedStamp() else { return }
    writeFile(index.directory + "/" + LaunchIndex.syncedName, Array("\(stamp.counter) \(stamp.token)\n".utf8))
    require(index.syncedStamp() == stamp, "stamp \(stamp) does not read back")
}

/// The SQLite header's change counter and application ID.
func checkDatabaseHeader(_ bytes: [UInt8]) {
    writeFile(location.databasePath, bytes)
    guard let stamp = LaunchIndex.stamp(ofDatabase: location.databasePath) else { return }
    require(bytes.count >= 72, "a stamp from \(bytes.count) bytes")
    require(stamp.counter == LaunchIndex.bigEndian(bytes, at: 24) && stamp.token == LaunchIndex.bigEndian(bytes, at: 68), "stamp misread")
}

/// Any record and value, sealed and indexed as create does it, reads back the same.
func checkRoundTrip(_ input: inout FuzzInput) {
    let id = String(decoding: (0..<SecretID.length).map { _ in idCharacter(input.byte()) }, as: UTF8.self)
    let (version, created, updated) = (Int64(bitPattern: input.uint64()), Int64(bitPattern: input.uint64()), Int64(bitPattern: input.uint64()))
    var name = String(decoding: input.field(until: 0).prefix(SecretRules.maxNameLength).map(nameCharacter), as: UTF8.self)
    if !SecretRules.isValidName(name) || SecretID.isWellFormed(name) { name = "db_pw" }
    var value = input.rest()
    if value.isEmpty { value = [0] }
    let record = SecretRecord(id: id, name: name, version: version, createdAt: created, updatedAt: updated, labels: [])
    let sealed = try! Sealing.seal(value, key: masterKey, associatedData: Sealing.associatedData(id: id, name: name, version: version))
    writeFile(index.directory + "/" + name, sealed.withUnsafeBytes { LaunchIndex.encode(record, sealed: $0) })
    var found: (SecretRecord, [UInt8])?
    _ = index.read(name, key: masterKey) { found = ($0, $1) }
    unlink(index.directory + "/" + name)
    require(found?.0 == record && found?.1 == value, "\(record) with \(value.count) bytes reads back as \(String(describing: found?.0))")
}

func idCharacter(_ byte: UInt8) -> UInt8 {
    let alphabet = Array("0123456789abcdefghijklmnopqrstuvwxyz".utf8)
    return alphabet[Int(byte) % alphabet.count]
}

func nameCharacter(_ byte: UInt8) -> UInt8 {
    let alphabet = Array("abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789-_.".utf8)
    return alphabet[Int(byte) % alphabet.count]
}

/// A real store made with the real code under `masterKey`: its launch files, its `synced`, its
/// database's first page, and its rows' boxes (read back through the index).
func realStoreSeeds() -> [(name: String, bytes: [UInt8])] {
    let root = scratchDirectory + "/seed-store"
    let seedLocation = StoreLocation(root: root, keyFile: root + "/master.key", stateDirectory: scratchDirectory + "/seed-state")
    makeDirectory(root)
    writeFile(seedLocation.keyFile, masterKey)
    chmod(seedLocation.keyFile, 0o400)
    let values: [(String, [UInt8])] = [
        ("db_pw", Array("correct horse battery staple\n".utf8)), ("api.token", Array("tok_0123456789abcdef".utf8)),
        ("tls-key", Array("-----BEGIN PRIVATE KEY-----\nMIIBVwIBADANBgkqhkiG9w0BAQEFAASCAUEwggE9AgEAAkEA\n-----END PRIVATE KEY-----\n".utf8)),
        ("one", [0x7A]),
    ]
    var seeds: [(name: String, bytes: [UInt8])] = []
    do {
        let store = try SecretStore.openForWriting(seedLocation)
        for (name, value) in values { _ = try store.create(name: name, value: value, labels: [.init(key: "env", value: "prod")]) }
    } catch {
        report("seed store: \(error)")
        exit(1)
    }
    let seedIndex = LaunchIndex(seedLocation)
    for (name, _) in values {
        guard let file = try? Files.read(seedIndex.directory + "/" + name, limit: 1 << 20) else { continue }
        seeds.append(("index-\(name)", [1] + Array(name.utf8) + [0] + file))
        // The row's box as the database holds it, with the record it is bound to.
        let record = LaunchIndex.record(in: file, name: name)
        var box: [UInt8] = [0]
        withUnsafeBytes(of: record.version.littleEndian) { box.append(contentsOf: $0) }
        box += Array(record.id.utf8) + [0] + Array(name.utf8) + [0] + file[LaunchIndex.headerSize...]
        seeds.append(("box-\(name)", box))
    }
    if let synced = try? Files.read(seedIndex.directory + "/" + LaunchIndex.syncedName, limit: 64) { seeds.append(("synced", [2] + synced)) }
    if let database = try? Files.read(seedLocation.databasePath, limit: 1 << 20) { seeds.append(("database-header", [3] + database.prefix(100))) }
    seeds.append(("round-trip", [4] + Array(repeating: 0x41, count: 49) + Array("db_pw\0value".utf8)))
    return seeds
}
