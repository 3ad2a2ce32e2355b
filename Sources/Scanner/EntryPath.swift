/// An archive entry's path as a tar extractor would place it: empty and `.` components
/// dropped, `..` taking one back (never above the root), no leading `/`. So that
/// `run//secrets/a`, `./run/./secrets/b` and `x/../run/secrets/c` are all under run/secrets.
enum EntryPath {
    static func normalized(_ raw: String) -> String {
        var components: [Substring] = []
        for component in raw.split(separator: "/", omittingEmptySubsequences: true) {
            if component == "." { continue }
            if component == ".." {
                if !components.isEmpty { components.removeLast() }
                continue
            }
            components.append(component)
        }
        return components.joined(separator: "/")
    }

    /// A file (not a folder) below run/secrets/ of the scanned root.
    static func isUnderRunSecrets(_ normalized: String) -> Bool {
        normalized.hasPrefix("run/secrets/") && normalized.utf8.count > "run/secrets/".utf8.count
    }
}
