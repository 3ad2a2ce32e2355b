import JSON
import SecretStore

/// A secret as an etcd store keeps it: `P/ids/ID` holds the record, `P/names/NAME` the record
/// and its sealed value (base64 of nonce || ciphertext || tag, as `Sealing` makes it, with the
/// ID, name and version as associated data). JSON, with Docker's field names:
/// `{"ID","Name","Version","CreatedAt","UpdatedAt","Labels":{K:V},"Sealed"}`; times in
/// nanoseconds since the epoch.
enum EtcdRecord {
    static func encode(_ record: SecretRecord, sealed: [UInt8]?) -> [UInt8] {
        var labels = JSONObject()
        for label in record.labels { labels.members[label.key] = .string(label.value) }
        var object: JSONObject = [
            "ID": .string(record.id), "Name": .string(record.name), "Version": .integer(record.version),
            "CreatedAt": .integer(record.createdAt), "UpdatedAt": .integer(record.updatedAt),
            "Labels": .object(labels),
        ]
        if let sealed { object.members["Sealed"] = .string(EtcdClient.base64(sealed)) }
        return JSONWriter().bytes(.object(object))
    }

    /// The record and, from a `P/names/` key, the sealed value; `.corrupt` naming the key for
    /// anything else (a value this store did not write), and for a record under another
    /// secret's key: anyone who can write to etcd could otherwise copy secret a's record under
    /// `names/b`, and a workload granted b would be given a's value, which still opens (the
    /// associated data binds a ciphertext to its record, not to the key it is kept under).
    static func decode(_ bytes: [UInt8], key: String, keys: EtcdKeys) throws(StoreError) -> (record: SecretRecord, sealed: [UInt8]?) {
        let corrupt = StoreError.corrupt("the etcd key \(key) does not hold a secret's record")
        guard let json = try? JSONValue.parse(bytes),
              let id = json["ID"]?.stringValue, SecretID.isWellFormed(id),
              let name = json["Name"]?.stringValue, SecretRules.isValidName(name),
              let version = json["Version"].flatMap(integer),
              let created = json["CreatedAt"].flatMap(integer),
              let updated = json["UpdatedAt"].flatMap(integer) else { throw corrupt }
        var labels: [SecretRecord.Label] = []
        if case .object(let object)? = json["Labels"] {
            for (labelKey, value) in object {
                guard let text = value.stringValue else { throw corrupt }
                labels.append(.init(key: labelKey, value: text))
            }
        }
        labels.sort { $0.key < $1.key }
        var sealed: [UInt8]?
        if let text = json["Sealed"]?.stringValue {
            guard let bytes = FileBytes.base64Decoded(text) else { throw corrupt }
            sealed = bytes
        }
        guard key.hasPrefix(keys.names) ? key == keys.name(name) : key == keys.id(id) else {
            throw .corrupt("the etcd key \(key) holds the record of secret '\(name)' (\(id)): it was copied there")
        }
        return (SecretRecord(id: id, name: name, version: version, createdAt: created, updatedAt: updated, labels: labels), sealed)
    }

    static func integer(_ value: JSONValue) -> Int64? {
        if case .number(let text) = value { return Int64(text) }
        return nil
    }
}

/// Who holds a secret, as `P/holders/ID/NODE/WORKLOAD` and `P/nodes/NODE/workloads/WORKLOAD`
/// say: `{"ID","Name","PID","StartedAt","Node","Secrets":[names],"SecretIDs":[ids]}`.
public struct EtcdWorkload: Sendable, Equatable {
    public let workloadID: String
    public let name: String
    public let pid: Int64
    public let startedAt: Int64
    public let node: String
    public let secrets: [Lease.Held]

    init(_ lease: Lease, node: String) {
        workloadID = lease.workloadID
        name = lease.name
        pid = Int64(lease.pid)
        startedAt = lease.startedAt
        self.node = node
        secrets = lease.secrets
    }

    init?(_ bytes: [UInt8]) {
        guard let json = try? JSONValue.parse(bytes),
              let id = json["ID"]?.stringValue, let name = json["Name"]?.stringValue,
              let pid = json["PID"].flatMap(EtcdRecord.integer), let started = json["StartedAt"].flatMap(EtcdRecord.integer),
              let node = json["Node"]?.stringValue,
              let names = json["Secrets"]?.arrayValue, let ids = json["SecretIDs"]?.arrayValue, names.count == ids.count
        else { return nil }
        var secrets: [Lease.Held] = []
        for (secretName, secretID) in zip(names, ids) {
            guard let secretName = secretName.stringValue, let secretID = secretID.stringValue else { return nil }
            secrets.append(Lease.Held(id: secretID, name: secretName))
        }
        workloadID = id
        self.name = name
        self.pid = pid
        startedAt = started
        self.node = node
        self.secrets = secrets
    }

    func encoded() -> [UInt8] {
        JSONWriter().bytes(.object([
            "ID": .string(workloadID), "Name": .string(name), "PID": .integer(pid), "StartedAt": .integer(startedAt),
            "Node": .string(node), "Secrets": .array(secrets.map { .string($0.name) }),
            "SecretIDs": .array(secrets.map { .string($0.id) }),
        ]))
    }

    /// How `secret rm` names it: `NAME (pid N) on node M`.
    public var described: String { "\(name) (pid \(pid)) on node \(node)" }
}
