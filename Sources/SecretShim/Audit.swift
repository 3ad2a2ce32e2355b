import Launcher
import Namespaces
import SecretStore

/// The commands' entries in the audit log (`EventLog`, read by `secretshim events`): each
/// store change and refusal as it happens, named by IDs and names, never by value.
enum Audit {
    static func log(_ location: StoreLocation, _ event: AuditEvent) {
        EventLog.of(location).append(event)
    }

    static func created(_ record: SecretRecord, _ location: StoreLocation) {
        log(location, .secret("create", id: record.id, name: record.name))
    }

    static func removed(_ record: SecretRecord, _ location: StoreLocation) {
        log(location, .secret("remove", id: record.id, name: record.name))
    }

    /// A removal refused (the secret is in use): `reason` is the refusal's line.
    static func refusedRemoval(_ record: SecretRecord, _ location: StoreLocation, reason: String) {
        log(location, .secret("refuse", id: record.id, name: record.name, reason: reason))
    }

    /// A workload that did not start: `reason` is the refusal's line (an environment leak, a
    /// missing secret, no isolation), which names secrets but never holds a value.
    static func refusedWorkload(_ location: StoreLocation, id: String = "", name: String, reason: String) {
        log(location, AuditEvent(
            type: "workload", action: "refuse", id: id, keys: ["name", "reason", "uid"], values: [name, reason, String(System.userID)]))
    }

    /// A store operation (`backup`, `restore`, `rotate`) or its refusal (`refuse`), with its
    /// attributes (a file, a count, a reason; never a value), in key order.
    static func store(_ action: String, _ location: StoreLocation, _ attributes: [String: String]) {
        let keys = attributes.keys.sorted()
        log(location, AuditEvent(type: "store", action: action, id: "", keys: keys, values: keys.map { attributes[$0]! }))
    }

    /// The `ended` of a `LeaseBook` that commands open: finished workloads' `revoke`.
    static func leases(_ location: StoreLocation) -> LeaseBook {
        LeaseBook(directory: location.stateDirectory, ended: EventLog.revoking(location))
    }
}
