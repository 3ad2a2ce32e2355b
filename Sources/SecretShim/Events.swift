import ArgumentParser
import EtcdStore
import Glibc
import Launcher
import Namespaces
import OrderedCollections
import SecretStore

/// `secretshim events`: the audit log (`EventLog`), as `docker events` shows Docker's: secrets
/// created, removed and refused; workloads granted secrets (run, a container's create, update),
/// revoked (update, the workload's end) and refused. Past events are printed and the command
/// ends, unless `--follow`.
struct EventsCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "events",
        abstract: "Show the audit log: secrets created, removed, granted, revoked and refused.",
        discussion: """
            Times as Docker takes them: RFC 3339 (2026-12-01T10:00:00Z, 2026-12-01), Unix seconds
            (1764583200, 1764583200.5), or a duration before now (10m, 1h30m). Filters: type=secret|workload|store,
            action=create|remove|grant|revoke|refuse|backup|restore|rotate, name=NAME (the secret's or the workload's);
            one key given twice matches either value, different keys must all match.
            """)

    @OptionGroup var globals: GlobalOptions

    @Option(help: ArgumentHelp("Show events from this time on.", valueName: "time")) var since: String?
    @Option(help: ArgumentHelp("Show events up to this time (with --follow: stop then).", valueName: "time")) var until: String?
    @Option(name: .customLong("filter"), help: ArgumentHelp("Filter: type=, action=, name= (repeatable).", valueName: "key=value"))
    var filters: [String] = []
    @Option(help: ArgumentHelp("json, or a Go template as Docker's ('{{.Action}} {{.Actor.Attributes.name}}', '{{json .}}').", valueName: "format"))
    var format: String?
    @Flag(help: "Keep printing new events as they are written.") var follow = false

    static let types = ["secret", "workload", "store"]
    static let actions = ["create", "remove", "grant", "revoke", "refuse", "backup", "restore", "rotate"]

    func validate() throws {
        if let since { _ = try Self.time(since, "--since") }
        if let until { _ = try Self.time(until, "--until") }
        _ = try Self.parsedFilters(filters)
        if let format, format != "json" {
            do { _ = try Template(format) } catch { throw ValidationError(error.description) }
        }
    }

    func run() throws {
        let location = try globals.location
        let now = System.nowNanoseconds()
        let from = try since.map { try Self.time($0, "--since", now: now) }
        let to = try until.map { try Self.time($0, "--until", now: now) }
        let filter = try Self.parsedFilters(filters)
        let template = try format.flatMap { $0 == "json" ? nil : try Template($0) }
        // Workloads that ended since anyone last looked get their `revoke` first.
        _ = try? Audit.leases(location).liveLeases()
        let log = EventLog.of(location)
        func show(_ event: AuditEvent) throws {
            if let from, event.timeNano < from { return }
            if let to, event.timeNano > to { return }
            guard Self.matches(event, filter) else { return }
            Output.out(try Self.render(event, format: format, template: template) + "\n")
        }
        if location.isRemote {
            // Every node's events, as their agents shipped them to etcd, in one order.
            let store: EtcdSecretStore
            do {
                guard let opened = try location.openForReading() as? EtcdSecretStore else {
                    throw CommandFailure(what: "events", why: "not an etcd store", exitCode: 1)
                }
                store = opened
            } catch let failure as CommandFailure {
                throw failure
            } catch {
                throw CommandFailure.failed("events", error)
            }
            defer { store.close() }
            var last: String?
            repeat {
                let batch: [(key: String, line: [UInt8])]
                do { batch = try store.events(after: last) } catch { throw CommandFailure.failed("events", error) }
                for item in batch {
                    last = item.key
                    if let event = AuditEvent.parse(item.line[...]) { try show(event) }
                }
                guard follow, to.map({ System.nowNanoseconds() <= $0 }) ?? true else { return }
                Self.unblockStopSignals()
                usleep(500_000)
            } while true
        }
        for event in log.read() { try show(event) }
        guard follow else { return }
        try Self.follow(log, until: to, show) { _ = try? Audit.leases(location).liveLeases() }
    }

    /// It runs until interrupted (`System.unblock`).
    static func unblockStopSignals() { System.unblock([SIGINT, SIGTERM, SIGHUP]) }

    /// Polls the log for new whole lines, following a rotation (the old file drained first).
    /// `everySecond`: what else it does while it waits (the revokes of workloads that ended).
    static func follow(_ log: EventLog, until: Int64?, _ show: (AuditEvent) throws -> Void, everySecond: () -> Void) throws {
        var rounds = 0
        unblockStopSignals()
        let path = log.directory + "/" + EventLog.fileName
        var file = try? FileDescriptor.open(path, O_RDONLY | O_NOFOLLOW | O_NONBLOCK)
        var offset = Int((try? file?.status().st_size) ?? 0)
        var pending: [UInt8] = []
        while until.map({ System.nowNanoseconds() <= $0 }) ?? true {
            if let current = file {
                while let chunk = try? current.read(upTo: 1 << 16, at: offset), !chunk.isEmpty {
                    offset += chunk.count
                    pending += chunk
                }
                if let last = pending.lastIndex(of: UInt8(ascii: "\n")) {
                    for event in EventLog.events(in: pending[...last]) { try show(event) }
                    pending.removeSubrange(...last)
                }
            }
            // Rotated (or made since): the name leads to another file now.
            let named = try? FileDescriptor.open(path, O_RDONLY | O_NOFOLLOW | O_NONBLOCK)
            if let named {
                let a = try? named.status(), b = try? file?.status()
                if a?.st_ino != b?.st_ino || a?.st_dev != b?.st_dev {
                    file?.close()
                    file = named
                    offset = 0
                    pending = []
                } else {
                    named.close()
                }
            }
            rounds += 1
            if rounds % 10 == 0 { everySecond() }
            usleep(100_000)
        }
        file?.close()
    }

    /// Docker's default line: `TIME TYPE ACTION ID (key=value, ...)`; json: the log's line;
    /// else the template, over Docker's field names.
    static func render(_ event: AuditEvent, format: String?, template: Template?) throws -> String {
        if format == "json" { return String(decoding: event.line.dropLast(), as: UTF8.self) }
        if let template {
            do { return try template.output([item(event)], headers: [:]).trimmingSuffixNewline() } catch {
                throw CommandFailure.usage("events", error.description)
            }
        }
        let attributes = event.keys.indices.map { "\(event.keys[$0])=\(event.values[$0])" }.joined(separator: ", ")
        return Output.escapingControlBytes(
            "\(Formats.rfc3339(nanoseconds: event.timeNano)) \(event.type) \(event.action) \(event.id) (\(attributes))")
    }

    static func item(_ event: AuditEvent) -> TemplateValue {
        // Every attribute any event has, empty where this one has none: a template naming one
        // (`.Actor.Attributes.secrets`) works on every event, as Docker's prints missing keys.
        var attributes: OrderedDictionary<String, TemplateValue> = [:]
        for key in ["name", "node", "pid", "reason", "secretIDs", "secrets", "uid"] { attributes[key] = .string("") }
        for index in event.keys.indices { attributes[event.keys[index]] = .string(event.values[index]) }
        return .map([
            "Type": .string(event.type), "Action": .string(event.action),
            "Actor": .map(["ID": .string(event.id), "Attributes": .map(attributes)]),
            "Scope": .string("local"), "Time": .number(String(event.timeNano / 1_000_000_000)),
            "TimeNano": .number(String(event.timeNano)),
        ])
    }

    /// Filters by key; each value already checked.
    static func parsedFilters(_ filters: [String]) throws -> [String: [String]] {
        var parsed: [String: [String]] = [:]
        for filter in filters {
            guard let equals = filter.firstIndex(of: "=") else {
                throw ValidationError("invalid filter '\(filter)': must be key=value (type, action, name)")
            }
            let key = String(filter[..<equals]).lowercased(), value = String(filter[filter.index(after: equals)...])
            switch key {
            case "type" where types.contains(value), "action" where actions.contains(value), "name" where !value.isEmpty:
                parsed[key, default: []].append(value)
            case "type": throw ValidationError("invalid filter 'type=\(value)': secret, workload or store")
            case "action": throw ValidationError("invalid filter 'action=\(value)': \(actions.joined(separator: ", "))")
            case "name": throw ValidationError("invalid filter 'name=': give a name")
            default: throw ValidationError("invalid filter '\(key)': use type, action or name")
            }
        }
        return parsed
    }

    static func matches(_ event: AuditEvent, _ filter: [String: [String]]) -> Bool {
        if let types = filter["type"], !types.contains(event.type) { return false }
        if let actions = filter["action"], !actions.contains(event.action) { return false }
        if let names = filter["name"] {
            let name = event.attribute("name")
            let secrets = event.attribute("secrets")?.split(separator: ",").map(String.init) ?? []
            guard names.contains(where: { $0 == name || $0 == event.id || secrets.contains($0) }) else { return false }
        }
        return true
    }

    /// Docker's timestamps (its api/types/time.GetTimestamp): RFC 3339 with or without a
    /// fraction and zone, a date, Unix seconds with an optional fraction, or a Go duration
    /// (`10m`, `1h30m`, `500ms`) before `now`. In nanoseconds since the epoch.
    static func time(_ text: String, _ flag: String, now: Int64 = System.nowNanoseconds()) throws -> Int64 {
        let invalid = ValidationError("invalid \(flag) '\(text)': use RFC 3339 (2026-12-01T10:00:00Z), Unix seconds, or a duration such as 10m")
        if let nanoseconds = unixSeconds(text) { return nanoseconds }
        if let duration = goDuration(text) {
            let (since, overflow) = now.subtractingReportingOverflow(duration)
            if !overflow { return since }
        }
        if let nanoseconds = rfc3339(text) { return nanoseconds }
        throw invalid
    }

    static func unixSeconds(_ text: String) -> Int64? {
        let parts = text.split(separator: ".", maxSplits: 1, omittingEmptySubsequences: false)
        guard let whole = parts.first, !whole.isEmpty, whole.count <= 12, whole.allSatisfy(\.isASCIIDigit), let seconds = Int64(whole) else { return nil }
        // Up to 2262, as Docker's (Go's) nanosecond times: beyond, refused, not overflowed.
        guard seconds <= Int64.max / 1_000_000_000 - 1 else { return nil }
        var nanoseconds = seconds * 1_000_000_000
        if parts.count == 2 {
            let fraction = parts[1]
            guard !fraction.isEmpty, fraction.count <= 9, fraction.allSatisfy(\.isASCIIDigit) else { return nil }
            nanoseconds += Int64(fraction + String(repeating: "0", count: 9 - fraction.count))!
        }
        return nanoseconds
    }

    static func goDuration(_ text: String) -> Int64? {
        let units: [(String, Int64)] = [("ns", 1), ("us", 1_000), ("µs", 1_000), ("ms", 1_000_000), ("s", 1_000_000_000), ("m", 60_000_000_000), ("h", 3_600_000_000_000)]
        var rest = Substring(text), total: Int64 = 0
        guard !rest.isEmpty else { return nil }
        while !rest.isEmpty {
            let digits = rest.prefix { $0.isASCIIDigit }
            guard !digits.isEmpty, digits.count <= 12, let number = Int64(digits) else { return nil }
            rest = rest.dropFirst(digits.count)
            guard let unit = units.filter({ rest.hasPrefix($0.0) }).max(by: { $0.0.count < $1.0.count }) else { return nil }
            rest = rest.dropFirst(unit.0.count)
            let (product, overflow) = number.multipliedReportingOverflow(by: unit.1)
            guard !overflow else { return nil }
            let (sum, sumOverflow) = total.addingReportingOverflow(product)
            guard !sumOverflow else { return nil }
            total = sum
        }
        return total
    }

    /// `YYYY-MM-DD`, or `YYYY-MM-DDTHH:MM[:SS[.fraction]]` with `Z`, `±HH:MM` or no zone (UTC).
    static func rfc3339(_ text: String) -> Int64? {
        let bytes = Array(text.utf8)
        func number(_ range: Range<Int>) -> Int32? {
            guard range.upperBound <= bytes.count, bytes[range].allSatisfy({ $0 >= 0x30 && $0 <= 0x39 }) else { return nil }
            return Int32(String(decoding: bytes[range], as: UTF8.self))
        }
        guard bytes.count >= 10, bytes[4] == UInt8(ascii: "-"), bytes[7] == UInt8(ascii: "-"),
            let year = number(0..<4), let month = number(5..<7), let day = number(8..<10), (1...12).contains(month), (1...31).contains(day)
        else { return nil }
        var parts = tm()
        parts.tm_year = year - 1900
        parts.tm_mon = month - 1
        parts.tm_mday = day
        var index = 10
        var fraction: Int64 = 0
        var offset: Int64 = 0
        if index < bytes.count {
            guard bytes[index] == UInt8(ascii: "T"), let hour = number(11..<13), bytes.count >= 16, bytes[13] == UInt8(ascii: ":"),
                let minute = number(14..<16), hour < 24, minute < 60
            else { return nil }
            parts.tm_hour = hour
            parts.tm_min = minute
            index = 16
            if index < bytes.count, bytes[index] == UInt8(ascii: ":") {
                guard let second = number(17..<19), second < 61 else { return nil }
                parts.tm_sec = second
                index = 19
                if index < bytes.count, bytes[index] == UInt8(ascii: ".") {
                    var end = index + 1
                    while end < bytes.count, bytes[end] >= 0x30, bytes[end] <= 0x39 { end += 1 }
                    let digits = bytes[(index + 1)..<end]
                    guard !digits.isEmpty, digits.count <= 9 else { return nil }
                    fraction = Int64(String(decoding: digits, as: UTF8.self) + String(repeating: "0", count: 9 - digits.count))!
                    index = end
                }
            }
            if index < bytes.count {
                if bytes[index] == UInt8(ascii: "Z") && index == bytes.count - 1 {
                    index += 1
                } else if bytes[index] == UInt8(ascii: "+") || bytes[index] == UInt8(ascii: "-"), bytes.count == index + 6,
                    let hours = number((index + 1)..<(index + 3)), bytes[index + 3] == UInt8(ascii: ":"),
                    let minutes = number((index + 4)..<(index + 6)), hours < 24, minutes < 60
                {
                    offset = (Int64(hours) * 3600 + Int64(minutes) * 60) * (bytes[index] == UInt8(ascii: "+") ? 1 : -1)
                    index = bytes.count
                } else {
                    return nil
                }
            }
        }
        guard index == bytes.count, (1678...2261).contains(year), parts.tm_sec < 60 else { return nil }
        let (wantedYear, wantedMonth, wantedDay) = (parts.tm_year, parts.tm_mon, parts.tm_mday)
        let seconds = Int64(timegm(&parts)) - offset
        // timegm normalizes February 31 into March: such a date is no date.
        guard parts.tm_year == wantedYear, parts.tm_mon == wantedMonth, parts.tm_mday == wantedDay else { return nil }
        return seconds * 1_000_000_000 + fraction
    }
}

extension Character {
    fileprivate var isASCIIDigit: Bool { isASCII && isNumber }
}

extension String {
    fileprivate func trimmingSuffixNewline() -> String { hasSuffix("\n") ? String(dropLast()) : self }
}
