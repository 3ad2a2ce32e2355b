/// Where an etcd store keeps what, under its prefix P (default `/secretshim`):
///
/// | key | value | lease |
/// |---|---|---|
/// | `P/key-check` | the store's key check (`KeyCheck`), sealed under the master key | none |
/// | `P/names/NAME` | the record and its sealed value (`EtcdRecord`, JSON) | none |
/// | `P/ids/ID` | the record without the value: what `ls` and `inspect` read | none |
/// | `P/holders/ID/NODE/WORKLOAD` | a workload on NODE holds secret ID (`EtcdHolder`) | NODE's agent |
/// | `P/nodes/NODE/workloads/WORKLOAD` | a live workload on NODE, for `ps --all-nodes` | NODE's agent |
/// | `P/nodes/NODE/agent` | the lease ID of NODE's one agent (its claim of the name) | NODE's agent |
/// | `P/events/TIME/NODE/N` | one audit event (`secretshim events`), TIME 19 digits of ns | none (kept 30 days) |
///
/// A secret's two keys are written and removed together, in one transaction; a name or ID
/// exists once because a create compares both keys' `create_revision` with 0. Holders live
/// under the secret's ID, so `rm` can refuse "any key in `P/holders/ID/`" in the same
/// transaction that deletes it; a node's holders are attached to its agent's etcd lease and so
/// vanish when the agent stops renewing it (after its TTL).
struct EtcdKeys {
    let prefix: String

    var keyCheck: String { prefix + "/key-check" }
    /// Events sort by their key: by time across nodes, then by node.
    var events: String { prefix + "/events/" }
    func event(time: Int64, node: String, number: UInt64) -> String {
        let digits = String(max(0, time))
        return events + String(repeating: "0", count: max(0, 19 - digits.count)) + digits + "/" + node + "/" + String(number)
    }
    var names: String { prefix + "/names/" }
    var ids: String { prefix + "/ids/" }
    func name(_ name: String) -> String { names + name }
    func id(_ id: String) -> String { ids + id }
    func holders(of id: String) -> String { prefix + "/holders/" + id + "/" }
    func holder(of id: String, node: String, workload: String) -> String { holders(of: id) + node + "/" + workload }
    var nodes: String { prefix + "/nodes/" }
    func workloads(on node: String) -> String { nodes + node + "/workloads/" }
    func workload(_ workload: String, on node: String) -> String { workloads(on: node) + workload }
    func agent(of node: String) -> String { nodes + node + "/agent" }
}
