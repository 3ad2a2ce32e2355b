import CLinux
import Glibc
import Namespaces
import SecretStore

/// The `run` sequence, in bubblewrap's order: secrets read and checked first; then a private
/// mount namespace, a fresh tmpfs, files written through descriptors, remounted read-only; a
/// lease; the buffers wiped; exec.
public enum Launcher {
    /// Never returns on success: the process becomes the workload.
    public static func launch(_ plan: LaunchPlan, location: StoreLocation) -> LaunchError {
        // While it holds plaintext, the shim cannot be ptraced or have /proc/PID/mem read by
        // other processes of the same user, nor dump core. exec restores the default.
        cl_prctl_set_dumpable(0)
        do {
            let hardening: Hardening.Resolved
            do { hardening = try plan.hardening.resolve() } catch { throw LaunchError.hardening(error.description) }

            var secrets = try readSecrets(plan.grants, location: location)
            defer { for index in secrets.indices { wipe(&secrets[index].value) } }

            var environment = Environment.inherited()
            for entry in plan.extraEnvironment { Environment.set(entry, in: &environment) }
            if !plan.allowEnvironmentLeak {
                for secret in secrets {
                    if let variable = Environment.leakingVariable(of: secret.value, in: environment) {
                        throw LaunchError.environmentLeak(variable: variable, secret: secret.record.name)
                    }
                }
            }
            for grant in plan.grants {
                if let variable = grant.environmentVariable {
                    Environment.set("\(variable)=\(plan.secretsDirectory)/\(grant.target)", in: &environment)
                }
            }

            if !plan.grants.isEmpty || plan.tmpfsSize != nil {
                try stage(secrets, plan: plan)
            }
            recordLease(plan, secrets: secrets, stateDirectory: location.stateDirectory)
            for index in secrets.indices { wipe(&secrets[index].value) }

            // Last before exec: the files are written as root; the workload gets only what it is granted.
            do { try hardening.apply() } catch { throw LaunchError.hardening("\(error)") }
            return .exec(Exec.execute(plan.command, environment: environment, searchPath: Environment.value(of: "PATH", in: environment)))
        } catch let error as LaunchError {
            return error
        } catch let error as StoreError {
            return .store(error)
        } catch let error as SysError {
            return .system(error)
        } catch {
            return .system(SysError("\(error)", errno: EIO))
        }
    }

    struct GrantedSecret {
        let grant: SecretGrant
        let record: SecretRecord
        var value: [UInt8]
    }

    static func readSecrets(_ grants: [SecretGrant], location: StoreLocation) throws -> [GrantedSecret] {
        guard !grants.isEmpty else { return [] }
        var sources: [String] = []
        for grant in grants { sources.append(grant.source) }
        let found = try SecretStore.openForReading(location).read(sources)
        var secrets: [GrantedSecret] = []
        secrets.reserveCapacity(grants.count)
        for (grant, secret) in zip(grants, found) {
            secrets.append(GrantedSecret(grant: grant, record: secret.record, value: secret.value))
        }
        return secrets
    }

    /// Mounts the private tmpfs and writes the files; where unshare is not permitted (an
    /// unprivileged container), writes into the tmpfs the engine already mounted there.
    static func stage(_ secrets: [GrantedSecret], plan: LaunchPlan) throws {
        let directory = plan.secretsDirectory
        let sizes = secrets.map(\.value.count)
        let needed = LaunchPlan.bytesNeeded(forSecretSizes: sizes)
        if let given = plan.tmpfsSize, given < needed {
            throw LaunchError.tmpfsTooSmall(needed: needed, given: given)
        }
        let ownTmpfs = try enterPrivateMountNamespace(orReuse: directory)
        if ownTmpfs {
            try Files.makeDirectories(directory, mode: 0o755)
            try Tmpfs.mount(at: directory, size: plan.tmpfsSize ?? LaunchPlan.tmpfsSize(forSecretSizes: sizes))
        }
        let writer = try SecretFileWriter.openMemoryBacked(directory)
        defer { writer.close() }
        for secret in secrets {
            let grant = secret.grant
            try writer.write(grant.target, secret.value, uid: grant.uid, gid: grant.gid, mode: mode_t(grant.mode), replace: !ownTmpfs)
        }
        if ownTmpfs {
            try Tmpfs.remountReadOnly(directory)
        }
    }

    static func heldSecrets(_ secrets: [GrantedSecret]) -> [Lease.Held] {
        var held: [Lease.Held] = []
        for secret in secrets { held.append(Lease.Held(id: secret.record.id, name: secret.record.name)) }
        return held
    }

    /// True once in a private mount namespace; false where unshare is not permitted but the
    /// secrets dir already is a memory-backed filesystem the engine gave us.
    static func enterPrivateMountNamespace(orReuse directory: String) throws -> Bool {
        let refusal: SysError
        do {
            try MountNamespace.enterPrivate()
            return true
        } catch {
            guard error.errno == EPERM || error.errno == ENOSYS else { throw error }
            refusal = error
        }
        guard let existing = try? SecretFileWriter.openMemoryBacked(directory) else {
            throw LaunchError.noIsolation(directory: directory, why: "unshare: \(refusal.reason)")
        }
        existing.close()
        return false
    }

    /// A lease that cannot be recorded (no writable state dir) does not stop the workload:
    /// it only means `secret rm` on this machine cannot see this holder, which we say.
    static func recordLease(_ plan: LaunchPlan, secrets: [GrantedSecret], stateDirectory: String) {
        let pid = System.processID
        guard let start = System.processStartTime(pid) else { return }
        let id = System.randomHex(6)
        let lease = Lease(
            workloadID: id, name: plan.workloadName, pid: pid, processStartTime: start,
            startedAt: System.nowNanoseconds(),
            secrets: heldSecrets(secrets))
        do {
            try LeaseBook(directory: stateDirectory).record(lease)
        } catch {
            let line = "secretshim: run: warning: lease not recorded: \(error)\n"
            _ = line.withCString { write(STDERR_FILENO, $0, strlen($0)) }
        }
    }
}
