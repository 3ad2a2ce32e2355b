import Glibc
import Namespaces

extension Scanner {
    /// Where a folder lies relative to the scanned root, for entries under run/secrets.
    private enum Place { case root, `var`, run, secrets, elsewhere }

    private struct Frame {
        let fd: FileDescriptor
        let listing: DirectoryListing
        var next = 0
        /// The length of the folder's own shown path.
        let pathLength: Int
        let place: Place
    }

    /// Walks a folder by descriptor: each child opened relative to its parent (`openat`), so
    /// no path is resolved twice, none is limited by PATH_MAX, and a rename under the walk
    /// cannot lead it outside. Symbolic links are not followed. Iterative: a tree
    /// thousands of folders deep needs no stack, only a descriptor per level.
    func walk(_ root: String) {
        var rootPath = Array(root.utf8)
        while rootPath.count > 1 && rootPath.last == UInt8(ascii: "/") { rootPath.removeLast() }
        if rootPath == [UInt8(ascii: "/")] { rootPath = [] }
        var path = rootPath
        var stack: [Frame] = []
        func shown() -> [UInt8] { path }
        func enter(_ fd: FileDescriptor, place: Place) {
            do {
                stack.append(Frame(fd: fd, listing: try DirectoryListing(reading: fd, path: nil), pathLength: path.count, place: place))
            } catch {
                fd.close()
                unreadable("\(redacted(shown())): \(error.reason)")
            }
        }
        do {
            enter(try FileDescriptor.open(root, O_RDONLY | O_DIRECTORY), place: .root)
        } catch {
            return unreadable("\(redacted(Array(root.utf8))): \(error.reason)")
        }
        while !stack.isEmpty {
            let top = stack.count - 1
            path.removeSubrange(stack[top].pathLength...)
            guard stack[top].next < stack[top].listing.count else {
                stack[top].fd.close()
                stack.removeLast()
                continue
            }
            let index = stack[top].next
            stack[top].next += 1
            let frame = stack[top]
            let name = frame.listing.name(index)
            path.append(UInt8(ascii: "/"))
            path.append(contentsOf: name)
            noteName(name, shown: shown())
            let place: Place
            switch frame.place {
            // run/secrets, or var/run/secrets (an older layout's /run links to /var/run).
            case .root: place = name.elementsEqual("run".utf8) ? .run : name.elementsEqual("var".utf8) ? .var : .elsewhere
            case .var: place = name.elementsEqual("run".utf8) ? .run : .elsewhere
            case .run: place = name.elementsEqual("secrets".utf8) ? .secrets : .elsewhere
            case .secrets: place = .secrets
            case .elsewhere: place = .elsewhere
            }
            var kind = frame.listing.kind(index)
            // The entry's status, where its type was unknown or its size is needed (or kept
            // for a skip's warning).
            var status: stat?
            if kind == .unknown || (frame.place == .secrets && kind != .directory) {
                do {
                    let st = try frame.listing.withName(index) { name throws(SysError) in try frame.fd.status(at: name, path: nil) }
                    status = st
                    switch st.st_mode & S_IFMT {
                    case S_IFDIR: kind = .directory
                    case S_IFREG: kind = .regular
                    case S_IFLNK: kind = .symbolicLink
                    default: kind = .other
                    }
                } catch {
                    unreadable("\(redacted(shown())): \(error.reason)")
                    continue
                }
            }
            if frame.place == .secrets && kind != .directory {
                found(Finding(path: redacted(shown()), kind: status?.st_size == 0 ? .secretsStub : .secretsEntry))
            }
            switch kind {
            case .directory:
                do {
                    let child = try frame.listing.withName(index) { name throws(SysError) in try frame.fd.openDirectory(at: name, path: nil) }
                    for value in child.attributeValues() { noteAttribute(value, shown: shown()) }
                    enter(child, place: place)
                } catch {
                    unreadable("\(redacted(shown())): \(error.reason)")
                }
            case .regular:
                do {
                    let (fd, st) = try frame.listing.withName(index) { name throws(SysError) in try frame.fd.openRegularFile(at: name, path: nil) }
                    guard let fd else {
                        if st.st_mode & S_IFMT != S_IFLNK { skip(shown(), mode: st.st_mode) }
                        continue
                    }
                    defer { fd.close() }
                    for value in fd.attributeValues() { noteAttribute(value, shown: shown()) }
                    scanFile(fd, shown: shown())
                } catch {
                    unreadable("\(redacted(shown())): \(error.reason)")
                }
            case .symbolicLink:
                // A link's target is a name on the tree too (`ln -s /etc/VALUE link`).
                if let target = try? frame.listing.withName(index, { name throws(SysError) in try frame.fd.linkTarget(at: name, path: nil) }) {
                    noteName(target, shown: shown())
                }
            case .other, .unknown:
                if let status {
                    skip(shown(), mode: status.st_mode)
                    continue
                }
                do {
                    let st = try frame.listing.withName(index) { name throws(SysError) in try frame.fd.status(at: name, path: nil) }
                    skip(shown(), mode: st.st_mode)
                } catch {
                    unreadable("\(redacted(shown())): \(error.reason)")
                }
            }
        }
    }
}
