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

/// The one choke point for libc and kernel calls (swift-system's `valueOrErrno`): -1 becomes a
/// `SysError` carrying the operation, the path and errno, and EINTR is retried here so no
/// caller has to. The operation and the path are built only on failure: a call that succeeds
/// allocates nothing for its error. `retryOnInterrupt: false` for close(2), which on Linux
/// releases the descriptor even when it reports EINTR (closing again could close another).
@discardableResult
@inline(__always)
public func sys<T: FixedWidthInteger>(
    _ operation: @autoclosure () -> String, _ path: @autoclosure () -> String? = nil,
    retryOnInterrupt: Bool = true, _ call: () -> T
) throws(SysError) -> T {
    while true {
        let result = call()
        if result != -1 { return result }
        let code = Glibc.errno
        if code == EINTR && retryOnInterrupt { continue }
        throw SysError(operation(), path(), errno: code)
    }
}

/// `sys` for the calls that return a pointer, NULL with errno on failure (realpath, getcwd,
/// fdopendir).
@inline(__always)
public func sys<T>(
    _ operation: @autoclosure () -> String, _ path: @autoclosure () -> String? = nil,
    _ call: () -> UnsafeMutablePointer<T>?
) throws(SysError) -> UnsafeMutablePointer<T> {
    while true {
        if let result = call() { return result }
        let code = Glibc.errno
        if code == EINTR { continue }
        throw SysError(operation(), path(), errno: code)
    }
}

/// `sys` for the C functions that return an opaque handle, NULL with errno on failure.
@inline(__always)
public func sys(
    _ operation: @autoclosure () -> String, _ path: @autoclosure () -> String? = nil,
    _ call: () -> OpaquePointer?
) throws(SysError) -> OpaquePointer {
    while true {
        if let result = call() { return result }
        let code = Glibc.errno
        if code == EINTR { continue }
        throw SysError(operation(), path(), errno: code)
    }
}
