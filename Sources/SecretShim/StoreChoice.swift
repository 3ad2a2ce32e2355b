import EtcdStore
import Namespaces
import SecretStore

/// Which store a command uses (SPEC.md "Several nodes"): `--store` beats `SECRETSHIM_STORE`;
/// `local` (or nothing) is the root's own database, `etcd://` and `etcd+insecure://` a store on
/// etcd, whose client TLS files come from `--etcd-cacert/--etcd-cert/--etcd-key` or
/// `SECRETSHIM_ETCD_CACERT/_CERT/_KEY`. A malformed URL is a usage error (exit 2).
enum StoreChoice {
    static func remote(store: String?, caCertificate: String?, certificate: String?, key: String?) throws(CommandFailure) -> RemoteStore? {
        func given(_ flag: String?, _ variable: String) -> String? {
            if let flag, !flag.isEmpty { return flag }
            guard let value = System.environment(variable), !value.isEmpty else { return nil }
            return value
        }
        guard let url = given(store, "SECRETSHIM_STORE"), url != "local" else { return nil }
        let configuration: EtcdConfiguration
        do {
            configuration = try EtcdConfiguration.parse(
                url, caCertificate: given(caCertificate, "SECRETSHIM_ETCD_CACERT"),
                certificate: given(certificate, "SECRETSHIM_ETCD_CERT"), key: given(key, "SECRETSHIM_ETCD_KEY"))
        } catch {
            throw .usage("store", error.description)
        }
        return RemoteStore(url: url) { (location) throws(StoreError) -> any SecretSource in
            try EtcdSecretStore(configuration, location: location)
        }
    }
}
