import EtcdStore
import Namespaces
import SecretStore

/// Which store a command uses (SPEC.md "Several nodes"): `--store` beats `SECRETSHIM_STORE`;
/// `local` (or nothing) is the root's own database, `etcd://` and `etcd+insecure://` a store on
/// etcd, whose client TLS files come from `--etcd-cacert/--etcd-cert/--etcd-key` or
/// `SECRETSHIM_ETCD_CACERT/_CERT/_KEY`. A malformed URL is a usage error (exit 2).
enum StoreChoice {
    /// The store's location as every command resolves it, the hand-parsed ones (`run`,
    /// `runtime`, `update`'s fast path) and ArgumentParser's alike: each flag given here beats
    /// the same leading global (`LeadingGlobals`), which beats the environment and the defaults;
    /// checked to be root's alone (`StoreLocation.trusted`). A `StoreError` or a usage
    /// `CommandFailure` (a malformed `--store`).
    static func location(
        root: String? = nil, keyFile: String? = nil, stateDirectory: String? = nil, store: String? = nil,
        caCertificate: String? = nil, certificate: String? = nil, key: String? = nil
    ) throws -> StoreLocation {
        var location = StoreLocation.resolve(root: root ?? LeadingGlobals.root, keyFile: keyFile ?? LeadingGlobals.keyFile)
        if let stateDirectory { location.stateDirectory = stateDirectory }
        location.remote = try remote(
            store: store ?? LeadingGlobals.store, caCertificate: caCertificate ?? LeadingGlobals.etcdCACert,
            certificate: certificate ?? LeadingGlobals.etcdCert, key: key ?? LeadingGlobals.etcdKey)
        return try location.trusted()
    }

    static func configuration(_ remote: RemoteStore) throws(EtcdConfiguration.Invalid) -> EtcdConfiguration {
        func given(_ path: String) -> String? { path.isEmpty ? nil : path }
        return try EtcdConfiguration.parse(
            remote.url, caCertificate: given(remote.caCertificate), certificate: given(remote.certificate), key: given(remote.key))
    }

    static func remote(store: String?, caCertificate: String?, certificate: String?, key: String?) throws(CommandFailure) -> RemoteStore {
        func given(_ flag: String?, _ variable: String) -> String {
            if let flag, !flag.isEmpty { return flag }
            return System.environment(variable) ?? ""
        }
        let url = given(store, "SECRETSHIM_STORE")
        guard !url.isEmpty, url != "local" else { return RemoteStore() }
        let remote = RemoteStore(
            url: url, caCertificate: given(caCertificate, "SECRETSHIM_ETCD_CACERT"),
            certificate: given(certificate, "SECRETSHIM_ETCD_CERT"), key: given(key, "SECRETSHIM_ETCD_KEY"))
        do {
            _ = try configuration(remote)
        } catch {
            throw .usage("store", error.description)
        }
        StoreLocation.opener = { (location) throws(StoreError) -> any SecretSource in
            do {
                return try EtcdSecretStore(try configuration(location.remote), location: location)
            } catch let error as StoreError {
                throw error
            } catch {
                throw .corrupt("\(error)")
            }
        }
        return remote
    }
}
