/// An archive entry's path as a tar extractor would place it: empty and `.` components
/// dropped, `..` taking one back (never above the root), no leading `/`. So that
/// `run//secrets/a`, `./run/./secrets/b` and `x/../run/secrets/c` are all under run/secrets.
/// On bytes: a name need not be UTF-8, and a value in it must still be found.
enum EntryPath {
    static func normalized(_ raw: [UInt8]) -> [UInt8] {
        var components: [ArraySlice<UInt8>] = []
        for component in raw.split(separator: UInt8(ascii: "/"), omittingEmptySubsequences: true) {
            if component.elementsEqual(".".utf8) { continue }
            if component.elementsEqual("..".utf8) {
                if !components.isEmpty { components.removeLast() }
                continue
            }
            components.append(component)
        }
        return Array(components.joined(separator: [UInt8(ascii: "/")]))
    }

    /// A file (not a folder) below run/secrets/ of the scanned root, or var/run/secrets/ (an
    /// older layout's /run is a link to /var/run, and the secrets are then there).
    static func isUnderRunSecrets(_ normalized: [UInt8]) -> Bool {
        for prefix in [Array("run/secrets/".utf8), Array("var/run/secrets/".utf8)]
        where normalized.count > prefix.count && normalized.starts(with: prefix) {
            return true
        }
        return false
    }
}
