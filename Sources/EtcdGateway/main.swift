import EtcdStore
import Glibc
import Namespaces

// secretshim-etcd URL CACERT CERT KEY: the etcd client that secretshim starts for a store on
// etcd (`EtcdClient`), answering its requests on fd 3 until EOF. Not for direct use.
let arguments = CommandLine.arguments
guard arguments.count == 5,
      let configuration = try? EtcdConfiguration.parse(
          arguments[1], caCertificate: arguments[2].isEmpty ? nil : arguments[2],
          certificate: arguments[3].isEmpty ? nil : arguments[3], key: arguments[4].isEmpty ? nil : arguments[4])
else {
    let message = "secretshim-etcd: started by secretshim for a store on etcd, not by hand\n"
    _ = message.withCString { write(2, $0, strlen($0)) }
    exit(2)
}
// Nothing of a value passes here, but a core would hold etcd's answers: none.
var limit = rlimit(rlim_cur: 0, rlim_max: 0)
setrlimit(__rlimit_resource_t(RLIMIT_CORE.rawValue), &limit)
EtcdGateway.serve(FileDescriptor(rawValue: 3), configuration: configuration)
