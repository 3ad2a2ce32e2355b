import Glibc

/// A failed system call: what was attempted, on which path, and why (errno).
/// The one error type of this layer; its description is the `<why>` of a CLI error line.
public struct SysError: Error, CustomStringConvertible, Equatable {
    public let operation: String
    public let path: String?
    public let errno: Int32

    public init(_ operation: String, _ path: String? = nil, errno: Int32) {
        self.operation = operation
        self.path = path
        self.errno = errno
    }

    public var reason: String { String(cString: strerror(errno)) }

    public var description: String {
        if let path { return "\(operation) \(path): \(reason)" }
        return "\(operation): \(reason)"
    }
}

/// The one choke point for raw syscalls: -1 becomes a `SysError` carrying the operation and
/// path, and EINTR is retried here so no caller has to.
@discardableResult
@inline(__always)
public func sys<T: FixedWidthInteger>(
    _ operation: String, _ path: String? = nil, _ call: () -> T
) throws(SysError) -> T {
    while true {
        let result = call()
        if result != -1 { return result }
        let code = Glibc.errno
        if code == EINTR { continue }
        throw SysError(operation, path, errno: code)
    }
}
