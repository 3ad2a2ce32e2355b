import Glibc
import Namespaces
import JSON

/// Writing to the standard streams without Foundation, and the formats the commands share:
/// RFC 3339 times, Docker's human ages, JSON, padded tables.
enum Output {
    static func out(_ text: String) {
        writeAll(STDOUT_FILENO, text)
    }

    static func err(_ text: String) {
        writeAll(STDERR_FILENO, text)
    }

    /// Best effort: a closed or full stream loses the text, as with any tool's output.
    private static func writeAll(_ fd: Int32, _ text: String) {
        var text = text
        text.withUTF8 { buffer in try? FileDescriptor(rawValue: fd).writeAll(UnsafeRawBufferPointer(buffer)) }
    }

    /// The one shape of every error: `secretshim: <what>: <why>`, one line, its control bytes
    /// escaped (`\n`, `\t`, `\x1b`, as Go's %q shows them): a name or spec holding a newline
    /// or an escape sequence can neither split the line nor drive the terminal.
    static func error(_ what: String, _ why: String) {
        err(escapingControlBytes("secretshim: \(what): \(why)") + "\n")
    }

    /// A line that is not an error, in the same shape and on stderr (stdout is the command's
    /// output, e.g. an ID that a script reads).
    static func notice(_ what: String, _ text: String) {
        error(what, text)
    }

    /// Also the C1 controls (U+0080-U+009F: U+009B is a CSI to a terminal that honours them)
    /// and the bidirectional overrides and isolates (U+202A-U+202E, U+2066-U+2069), which can
    /// make a name read as another (CVE-2021-42574, "Trojan Source"), written `\u202e`.
    /// The characters `escapingControlBytes` escapes: C0 and C1 controls, DEL, and the
    /// bidirectional overrides and isolates.
    static func isSpecial(_ scalar: Unicode.Scalar) -> Bool {
        scalar.value < 0x20 || (0x7F...0x9F).contains(scalar.value) || (0x202A...0x202E).contains(scalar.value)
            || (0x2066...0x2069).contains(scalar.value)
    }

    static func escapingControlBytes(_ text: String) -> String {
        guard text.unicodeScalars.contains(where: isSpecial) else { return text }
        let hex = Array("0123456789abcdef")
        var out = ""
        for scalar in text.unicodeScalars {
            switch scalar.value {
            case 0x0A: out += "\\n"
            case 0x0D: out += "\\r"
            case 0x09: out += "\\t"
            case 0..<0x20, 0x7F: out += "\\x" + String(hex[Int(scalar.value >> 4)]) + String(hex[Int(scalar.value & 0xF)])
            case _ where isSpecial(scalar):
                out += "\\u" + (0..<4).reversed().map { String(hex[Int((scalar.value >> (4 * UInt32($0))) & 0xF)]) }.joined()
            default: out.unicodeScalars.append(scalar)
            }
        }
        return out
    }
}

enum Formats {
    /// Go's RFC3339Nano in UTC: `2016-11-09T20:44:56.108386178Z`, trailing zeros of the
    /// fraction dropped (as Docker prints `CreatedAt`).
    static func rfc3339(nanoseconds: Int64) -> String {
        var seconds = time_t(nanoseconds / 1_000_000_000)
        var fraction = nanoseconds % 1_000_000_000
        if fraction < 0 {
            fraction += 1_000_000_000
            seconds -= 1
        }
        var parts = tm()
        gmtime_r(&seconds, &parts)
        func pad(_ n: Int32, _ width: Int) -> String {
            let text = String(n)
            return String(repeating: "0", count: max(0, width - text.count)) + text
        }
        var text = "\(pad(parts.tm_year + 1900, 4))-\(pad(parts.tm_mon + 1, 2))-\(pad(parts.tm_mday, 2))"
        text += "T\(pad(parts.tm_hour, 2)):\(pad(parts.tm_min, 2)):\(pad(parts.tm_sec, 2))"
        if fraction > 0 {
            var digits = String(fraction)
            digits = String(repeating: "0", count: 9 - digits.count) + digits
            while digits.hasSuffix("0") { digits.removeLast() }
            text += "." + digits
        }
        return text + "Z"
    }

    /// Docker's `units.HumanDuration`: "Less than a second", "About a minute", "3 hours", ...
    static func humanDuration(nanoseconds: Int64) -> String {
        let seconds = nanoseconds / 1_000_000_000
        let minutes = nanoseconds / 60_000_000_000
        let hours = Int64((Double(nanoseconds) / 3_600_000_000_000 + 0.5).rounded(.down))
        switch true {
        case seconds < 1: return "Less than a second"
        case seconds == 1: return "1 second"
        case seconds < 60: return "\(seconds) seconds"
        case minutes == 1: return "About a minute"
        case minutes < 60: return "\(minutes) minutes"
        case hours == 1: return "About an hour"
        case hours < 48: return "\(hours) hours"
        case hours < 24 * 7 * 2: return "\(hours / 24) days"
        case hours < 24 * 30 * 2: return "\(hours / 24 / 7) weeks"
        case hours < 24 * 365 * 2: return "\(hours / 24 / 30) months"
        default: return "\(hours / 24 / 365) years"
        }
    }

    static func age(since nanoseconds: Int64, now: Int64) -> String {
        humanDuration(nanoseconds: max(0, now - nanoseconds)) + " ago"
    }

    /// The commands' JSON text: Docker's keys, compact (one object a line) or indented as
    /// Docker's `inspect` (4 spaces), strings with every short escape of RFC 8259 (\b and \f too).
    static func json(_ value: JSONValue, indent: Int = 0) -> String {
        JSONWriter(escaping: .short, indent: indent).text(value)
    }

    /// A JSON string literal, escaped as `json` escapes it.
    static func json(_ text: String) -> String {
        JSONWriter(escaping: .short).quoted(text)
    }

    /// Columns padded as Docker's tabwriter does (min width 10, padding 3); the last unpadded.
    /// Cells may come from another node (an etcd writer can put anything in a workload's
    /// name): control bytes are escaped, so no cell moves the cursor or retitles a terminal.
    static func table(_ rows: [[String]]) -> String {
        // Rows may differ in length (a template's value holding a tab): a row's last cell is
        // never padded, as with Docker's tabwriter.
        guard let columns = rows.map(\.count).max() else { return "" }
        let rows = rows.map { $0.map(Output.escapingControlBytes) }
        var widths = [Int](repeating: 0, count: columns)
        for row in rows {
            for (index, cell) in row.enumerated() where index < row.count - 1 { widths[index] = max(widths[index], cell.count) }
        }
        var text = ""
        for row in rows {
            var line = ""
            for (index, cell) in row.enumerated() {
                if index == row.count - 1 {
                    line += cell
                } else {
                    line += cell + String(repeating: " ", count: max(10, widths[index] + 3) - cell.count)
                }
            }
            text += line + "\n"
        }
        return text
    }
}
