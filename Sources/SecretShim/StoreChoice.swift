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
    /// the same leading global (`LeadingGlobals`), which beats the environment, then the
    /// configuration file (`ConfigFile`), then the defaults; checked to be root's alone
    /// (`StoreLocation.trusted`). A `StoreError` or a `CommandFailure` (a malformed `--store`,
    /// or a configuration file that is malformed or not to be trusted).
    static func location(
        root: String? = nil, keyFile: String? = nil, stateDirectory: String? = nil, store: String? = nil,
        caCertificate: String? = nil, certificate: String? = nil, key: String? = nil
    ) throws -> StoreLocation {
        let file = try ConfigFile.current()
        var location = StoreLocation(
            root: given(root ?? LeadingGlobals.root, "SECRETSHIM_ROOT", file["root"]) ?? StoreLocation.defaultRoot(),
            keyFile: given(keyFile ?? LeadingGlobals.keyFile, "SECRETSHIM_KEY_FILE", file["key_file"]) ?? credentialKeyFile())
        if let state = given(stateDirectory, "SECRETSHIM_STATE_DIR", file["state_dir"]) { location.stateDirectory = state }
        let storeURL = given(store ?? LeadingGlobals.store, "SECRETSHIM_STORE", file["store"])
        do {
            location.remote = try remote(
                store: storeURL,
                caCertificate: given(caCertificate ?? LeadingGlobals.etcdCACert, "SECRETSHIM_ETCD_CACERT", file["etcd_cacert"]),
                certificate: given(certificate ?? LeadingGlobals.etcdCert, "SECRETSHIM_ETCD_CERT", file["etcd_cert"]),
                key: given(key ?? LeadingGlobals.etcdKey, "SECRETSHIM_ETCD_KEY", file["etcd_key"]))
        } catch {
            // A store named by the configuration file is that file's error.
            guard let path = file.path, storeURL == file["store"] else { throw error }
            throw CommandFailure.usage("config \(path)", "\(error.what): \(error.why)")
        }
        return try location.trusted()
    }

    /// The key as a systemd credential: `$CREDENTIALS_DIRECTORY/secretshim.key` when systemd
    /// gave the unit one (`LoadCredentialEncrypted=secretshim.key:...`, sealed with
    /// `systemd-creds encrypt --with-key=host|tpm2`; systemd.exec(5) "Credentials"), so that the
    /// key lives decrypted only in the unit's own non-swappable credentials folder. Used after
    /// the flag, the environment and the configuration file, before `<root>/master.key`.
    static func credentialKeyFile() -> String? {
        guard let folder = System.environment("CREDENTIALS_DIRECTORY"), !folder.isEmpty else { return nil }
        let path = folder + "/secretshim.key"
        return Files.exists(path) ? path : nil
    }

    /// SPEC.md's precedence for one setting: the flag, then the environment variable, then the
    /// configuration file (`ConfigFile`); nil leaves the default. An empty flag or variable
    /// counts as not given.
    static func given(_ flag: String?, _ variable: String, _ file: String?) -> String? {
        if let flag, !flag.isEmpty { return flag }
        if let value = System.environment(variable), !value.isEmpty { return value }
        return file
    }

    static func configuration(_ remote: RemoteStore) throws(EtcdConfiguration.Invalid) -> EtcdConfiguration {
        func given(_ path: String) -> String? { path.isEmpty ? nil : path }
        return try EtcdConfiguration.parse(
            remote.url, caCertificate: given(remote.caCertificate), certificate: given(remote.certificate), key: given(remote.key))
    }

    /// The store from its settings, each already chosen by `given`.
    static func remote(store: String?, caCertificate: String?, certificate: String?, key: String?) throws(CommandFailure) -> RemoteStore {
        let url = store ?? ""
        guard !url.isEmpty, url != "local" else { return RemoteStore() }
        let remote = RemoteStore(url: url, caCertificate: caCertificate ?? "", certificate: certificate ?? "", key: key ?? "")
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
