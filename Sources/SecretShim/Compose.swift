import ArgumentParser
import ContainerRuntime
import Glibc
import JSON
import Namespaces
import SecretStore

/// `secretshim compose [-f FILE]... [-p NAME] [--engine docker|podman] COMMAND [ARG...]`
/// (SPEC.md "compose"): the real Compose, run on a rewritten copy of the project's files in
/// which secrets come from the store through the runtime wrapper (`ComposeProject` says what
/// changes), instead of bind mounts of host files.
struct ComposeCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "compose",
        abstract: "Run Compose (docker-compose, docker compose or podman-compose) with secrets from the store.",
        discussion: """
            Top-level secrets with file: or environment: are imported into the store as
            PROJECT_NAME (name: if given) by up, run and create: replaced when their content
            changed and no workload holds them, refused while one does. external: true names a
            secret already in the store. Each service's secrets (short or long syntax, with
            uid, gid and mode) reach it on a private tmpfs through the runtime wrapper, which
            the engine must know as --runtime (default 'secretshim': dockerd's runtimes, or
            containers.conf's [engine.runtimes] for Podman). Compose runs on a rewritten copy of
            the files, owner-only under the state dir and removed when it ends; 'compose config'
            prints that copy. Every other command and argument is Compose's.
            """)

    enum Engine: String, ExpressibleByArgument, CaseIterable {
        case docker, podman
    }

    @OptionGroup var globals: GlobalOptions

    @Option(name: [.customShort("f"), .customLong("file")], help: ArgumentHelp("A Compose file (repeatable; default: compose.yaml, compose.yml, docker-compose.yaml or docker-compose.yml here).", valueName: "file"))
    var files: [String] = []

    @Option(name: [.customShort("p"), .customLong("project-name")], help: ArgumentHelp("The project's name (env COMPOSE_PROJECT_NAME; default: the directory's name).", valueName: "name"))
    var projectName: String?

    @Option(help: ArgumentHelp("docker (docker-compose, or docker compose) or podman (podman-compose); default: docker if it is installed.", valueName: "engine"))
    var engine: Engine?

    @Option(help: ArgumentHelp("The engine's name for secretshim-runtime.", valueName: "name"))
    var runtime: String = "secretshim"

    @Argument(parsing: .captureForPassthrough, help: ArgumentHelp("Compose's command and its arguments.", valueName: "command"))
    var command: [String] = []

    /// The label of the secrets a project imported, Docker's (`docker stack deploy` labels its
    /// secrets with the stack's namespace likewise); only those are ever replaced.
    static let projectLabel = "com.docker.compose.project"

    /// The Compose commands that create containers: the ones that import the project's secrets.
    static let importing: Set<String> = ["up", "run", "create"]
    /// The names Compose looks for, in its order.
    static let defaultFiles = ["compose.yaml", "compose.yml", "docker-compose.yaml", "docker-compose.yml"]
    /// A Compose file is a few kilobytes.
    static let maximumFileSize = 1 << 20

    func run() throws {
        let what = "compose"
        guard let verb = command.first, !verb.hasUTF8Prefix("-") else {
            throw CommandFailure.usage(what, "give Compose's command (up, down, ps, logs, config, ...)")
        }
        guard !runtime.isEmpty, !runtime.utf8.contains(where: { $0 <= 0x20 || $0 == 0x7F }) else {
            throw CommandFailure.usage(what, "--runtime must be a name without spaces")
        }
        let paths = try Self.composeFiles(files)
        let directory = Files.parent(of: paths[0])
        var documents: [JSONValue] = []
        for path in paths { documents.append(try Self.read(path)) }
        let project: ComposeProject
        let grants: [ComposeProject.ServiceGrants]
        do {
            let name = try ComposeProject.projectName(
                explicit: projectName, environment: System.environment("COMPOSE_PROJECT_NAME"), documents: documents, directory: directory)
            project = try ComposeProject(name: name, documents: documents)
            grants = try project.grants()
        } catch {
            throw CommandFailure.usage(what, "\(error)")
        }
        let chosen = try engine ?? Self.defaultEngine()
        // The rewrite's own refusals (a service that sets the request or another runtime)
        // before anything is imported.
        for index in documents.indices {
            do {
                _ = try project.rewritten(
                    index, requests: Dictionary(uniqueKeysWithValues: grants.map { ($0.service, "") }), runtime: chosen == .docker ? runtime : nil)
            } catch {
                throw CommandFailure.usage(what, "\(error)")
            }
        }
        let location = try globals.location
        let requests = try Self.signedRequests(
            project, grants: grants, location: location, importing: Self.importing.contains(verb), directory: directory, notice: verb == "config")

        // The rewritten files' folder, owner-only, of this invocation alone.
        let folder = location.stateDirectory + "/compose/\(project.name)-\(getpid())"
        var requestFiles: [String: String]?
        if chosen == .podman {
            requestFiles = [:]
            for (index, grant) in grants.enumerated() { requestFiles![grant.service] = folder + "/request-\(index + 1).env" }
        }
        var files: [(path: String, bytes: [UInt8])] = []
        for index in documents.indices {
            do {
                let document = ComposeProject.absolutized(
                    try project.rewritten(index, requests: requests, runtime: chosen == .docker ? runtime : nil, requestFiles: requestFiles),
                    directory: directory)
                // JSON is YAML: every Compose reads it as it reads YAML.
                files.append((folder + "/compose-\(index + 1).yaml", JSONWriter(indent: 2).bytes(document) + [UInt8(ascii: "\n")]))
            } catch {
                throw CommandFailure.usage(what, "\(error)")
            }
        }
        if verb == "config" && command.count == 1 {
            for file in files { Output.out(String(decoding: file.bytes, as: UTF8.self)) }
            return
        }
        for (service, path) in requestFiles ?? [:] {
            files.append((path, Array("\(ContainerConfig.environmentVariable)=\(requests[service] ?? "")\n".utf8)))
        }
        let composeFiles = files.prefix(documents.count).map(\.path)
        throw ExitStatus(code: try Self.runCompose(
            chosen, files: files, composeFiles: composeFiles, folder: folder, project: project.name, directory: directory, runtime: runtime,
            arguments: command, location: location))
    }

    /// `-f` as given (relative to here), else the first default name that exists here.
    static func composeFiles(_ given: [String]) throws(CommandFailure) -> [String] {
        let here = (try? Files.currentDirectory()) ?? "/"
        func absolute(_ path: String) -> String { path.hasUTF8Prefix("/") ? path : here + "/" + path }
        if !given.isEmpty { return given.map(absolute) }
        for name in defaultFiles where Files.exists(here + "/" + name) { return [here + "/" + name] }
        throw CommandFailure.usage("compose", "no \(defaultFiles.joined(separator: ", ")) in \(here): give -f FILE")
    }

    /// A Compose file as JSON, read by `secretshim-documents yaml` from a descriptor this
    /// process opened (a FIFO or a device is refused before anything reads it).
    static func read(_ path: String) throws(CommandFailure) -> JSONValue {
        let what = "compose \(path)"
        let fd: FileDescriptor
        do { fd = try FileDescriptor.open(path, O_RDONLY | O_NONBLOCK) } catch { throw CommandFailure(what: what, why: error.description, exitCode: 1) }
        defer { fd.close() }
        guard let st = try? fd.status(path: path), st.st_mode & S_IFMT == S_IFREG else {
            throw CommandFailure(what: what, why: "not a regular file", exitCode: 1)
        }
        guard st.st_size <= maximumFileSize else { throw CommandFailure(what: what, why: "over 1 MiB: not a Compose file", exitCode: 1) }
        return try Documents.read(.yaml, from: fd, what: what, limit: 16 << 20)
    }

    static func defaultEngine() throws(CommandFailure) -> Engine {
        let path = System.environment("PATH")
        if Exec.resolve("docker-compose", searchPath: path) != nil || Exec.resolve("docker", searchPath: path) != nil { return .docker }
        if Exec.resolve("podman-compose", searchPath: path) != nil { return .podman }
        throw CommandFailure(what: "compose", why: "neither docker-compose, docker nor podman-compose is installed", exitCode: 1)
    }

    /// Each granted service's signed request (`GrantRequest`, as `secretshim grant` signs it,
    /// without expiry: a service Compose restarts keeps its request). When `importing`, the
    /// project's secrets are brought into the store first, all checked before any is written,
    /// so a refusal changes nothing. Otherwise a request names the secrets as the store holds
    /// them; one not imported yet leaves the request unsigned (said when `notice`).
    static func signedRequests(
        _ project: ComposeProject, grants: [ComposeProject.ServiceGrants], location: StoreLocation, importing: Bool,
        directory: String, notice: Bool
    ) throws(CommandFailure) -> [String: String] {
        let what = "compose"
        guard !grants.isEmpty else { return [:] }
        func unsigned(_ why: String) -> [String: String] {
            if notice { Output.notice(what, "\(why): the services are shown unsigned ('compose up' imports the secrets and signs)") }
            return Dictionary(uniqueKeysWithValues: grants.map { ($0.service, "unsigned: " + $0.specs.joined(separator: ";")) })
        }
        do {
            let store: any SecretSource
            var key: [UInt8]
            if importing {
                store = try location.openForWriting()
                // One import of a project at a time: replacing is a remove and a create, and two
                // concurrent `up`s would interleave them.
                let lock = try projectLock(project.name, location: location)
                defer { lock.close() }
                try importSecrets(project, grants: grants, store: store, location: location, directory: directory)
                key = try MasterKey.load(location.keyFile, createIfMissing: false)
            } else {
                // down, ps, logs ... never fail for the store: their requests are not used.
                do {
                    store = try location.openForReading()
                    key = try MasterKey.load(location.keyFile, createIfMissing: false)
                } catch {
                    return unsigned("\(error)")
                }
            }
            defer { store.close(); wipe(&key) }
            var requests: [String: String] = [:]
            for grant in grants {
                var entries: [GrantRequest.Entry] = []
                var missing: String?
                for (spec, source) in zip(grant.specs, grant.sources) {
                    if let record = try Self.record(source, in: store) {
                        entries.append(GrantRequest.Entry(id: record.id, spec: spec))
                    } else {
                        missing = source
                    }
                }
                if let missing {
                    requests[grant.service] = unsigned("secret '\(missing)' is not in the store yet")[grant.service]
                } else {
                    requests[grant.service] = try GrantRequest(entries: entries, expires: nil).signed(masterKey: key)
                }
            }
            return requests
        } catch let failure as CommandFailure {
            throw failure
        } catch {
            throw CommandFailure.failed(what, error)
        }
    }

    /// The referenced secrets: external ones must exist; `file:` and `environment:` ones are
    /// created, or replaced when their content changed and no workload holds them.
    static func importSecrets(
        _ project: ComposeProject, grants: [ComposeProject.ServiceGrants], store: any SecretSource, location: StoreLocation,
        directory: String
    ) throws {
        let what = "compose"
        let used = grants.flatMap(\.sources)
        let leases = Audit.leases(location)
        let live = (try? leases.liveLeases()) ?? []
        var plan: [(definition: ComposeProject.SecretDefinition, value: [UInt8], replacing: SecretRecord?)] = []
        defer { for index in plan.indices { wipe(&plan[index].value) } }
        let definitions = project.secrets.values.sorted(by: { $0.key < $1.key }).filter { used.contains($0.storeName) }
        // Two definitions of one store name would import one and then fail on the other (a
        // fresh-eyes finding): refused before anything is written.
        for (index, definition) in definitions.enumerated() {
            if let other = definitions[..<index].first(where: { $0.storeName == definition.storeName }), other.source != .external || definition.source != .external {
                throw CommandFailure(what: what, why: "secrets '\(other.key)' and '\(definition.key)' are both named '\(definition.storeName)'", exitCode: 1)
            }
        }
        for definition in definitions {
            let existing = try Self.record(definition.storeName, in: store)
            var value: [UInt8]
            switch definition.source {
            case .external:
                guard existing != nil else {
                    throw CommandFailure(what: what, why: "external secret '\(definition.storeName)' is not in the store: create it with 'secretshim secret create'", exitCode: 1)
                }
                continue
            case .file(let path):
                value = try readSecretFile(path.hasUTF8Prefix("/") ? path : directory + "/" + path, key: definition.key)
            case .environment(let variable):
                guard let text = System.environment(variable), !text.isEmpty else {
                    throw CommandFailure(what: what, why: "secret '\(definition.key)': environment variable \(variable) is not set", exitCode: 1)
                }
                value = Array(text.utf8)
            }
            do {
                try SecretRules.validateName(definition.storeName)
                try SecretRules.validateSize(value.count)
            } catch {
                wipe(&value)
                throw CommandFailure(what: what, why: "secret '\(definition.key)': \(error)", exitCode: 1)
            }
            if let existing {
                var stored = try store.value(of: existing)
                let same = stored == value
                wipe(&stored)
                if same {
                    wipe(&value)
                    continue
                }
                // Only this project's own imports are replaced: a `name:` could otherwise name
                // any secret of the store and overwrite it (a fresh-eyes finding).
                guard existing.labels.contains(SecretRecord.Label(key: projectLabel, value: project.name)) else {
                    wipe(&value)
                    throw CommandFailure(
                        what: what,
                        why: "secret '\(existing.name)' exists with other content and was not imported by project '\(project.name)' (label \(projectLabel)): refusing to replace it; remove it, or name it with external: true",
                        exitCode: 1)
                }
                if let holder = live.first(where: { $0.holds(secretID: existing.id, name: existing.name) }) {
                    wipe(&value)
                    throw CommandFailure(
                        what: what,
                        why: "secret '\(existing.name)' changed, but \(holder.name) (pid \(holder.pid)) holds it: stop the project first ('secretshim compose down')",
                        exitCode: 1)
                }
            }
            plan.append((definition, value, existing))
        }
        for index in plan.indices {
            let (definition, _, replacing) = plan[index]
            if let replacing {
                try store.remove(replacing, leases: leases)
                Audit.removed(replacing, location)
            }
            let record = try store.create(
                name: definition.storeName, value: plan[index].value, labels: [SecretRecord.Label(key: projectLabel, value: project.name)])
            Audit.created(record, location)
            Output.notice(what, "\(replacing == nil ? "imported" : "replaced") secret \(definition.storeName)")
        }
    }

    /// An exclusive lock on `STATE_DIR/compose/PROJECT.lock` (flock), held while a project's
    /// secrets are imported.
    static func projectLock(_ project: String, location: StoreLocation) throws -> FileDescriptor {
        let folder = location.stateDirectory + "/compose"
        try Files.makeDirectories(folder, mode: 0o700)
        let fd = try FileDescriptor.open(folder + "/\(project).lock", O_RDWR | O_CREAT | O_NOFOLLOW, mode: 0o600)
        do { try sys("flock", folder) { flock(fd.rawValue, LOCK_EX) } } catch {
            fd.close()
            throw error
        }
        return fd
    }

    /// The secret named `name`, nil if there is none.
    static func record(_ name: String, in store: any SecretSource) throws(StoreError) -> SecretRecord? {
        do { return try store.find(name) } catch {
            if case .notFound = error { return nil }
            throw error
        }
    }

    /// A secret's file: a regular file (a FIFO would block), under the size limit.
    static func readSecretFile(_ path: String, key: String) throws -> [UInt8] {
        let what = "compose"
        do {
            let fd = try FileDescriptor.open(path, O_RDONLY | O_NONBLOCK)
            defer { fd.close() }
            guard try fd.status(path: path).st_mode & S_IFMT == S_IFREG else {
                throw CommandFailure(what: what, why: "secret '\(key)': \(path) is not a regular file", exitCode: 1)
            }
            return try fd.readAll(limit: SecretRules.maxSize, path: path)
        } catch let error as SysError where error.errno == EFBIG {
            throw CommandFailure(what: what, why: "secret '\(key)': \(StoreError.invalidSize(SecretRules.maxSize))", exitCode: 1)
        } catch let failure as CommandFailure {
            throw failure
        } catch {
            throw CommandFailure(what: what, why: "secret '\(key)': \(error)", exitCode: 1)
        }
    }

    /// The folders of earlier runs whose process is gone (a `kill -9` leaves its rewritten files
    /// and requests behind), and one of a process that had this pid: removed.
    static func sweepFolders(_ compose: String) {
        for name in Files.list(compose) {
            guard let dash = name.lastIndex(of: "-"), let pid = pid_t(name[name.index(after: dash)...]) else { continue }
            guard pid == getpid() || (kill(pid, 0) != 0 && errno == ESRCH) else { continue }
            let folder = compose + "/" + name
            for file in Files.list(folder) { try? Files.remove(folder + "/" + file) }
            _ = folder.withCString { rmdir($0) }
        }
    }

    /// Writes the rewritten files, owner-only, in a folder of their own under the state dir,
    /// runs Compose on them (signals forwarded), removes them, and returns Compose's status.
    static func runCompose(
        _ engine: Engine, files: [(path: String, bytes: [UInt8])], composeFiles: [String], folder: String, project: String,
        directory: String, runtime: String, arguments: [String], location: StoreLocation
    ) throws(CommandFailure) -> Int32 {
        let what = "compose"
        var paths: [String] = []
        do {
            try Files.makeDirectories(location.stateDirectory + "/compose", mode: 0o700)
            sweepFolders(location.stateDirectory + "/compose")
            try Files.makeDirectory(folder, mode: 0o700)
            for (path, bytes) in files {
                guard try Files.createExclusively(path, bytes, mode: 0o600) else { throw SysError("create", path, errno: EEXIST) }
                paths.append(path)
            }
        } catch {
            for path in paths { try? Files.remove(path) }
            _ = folder.withCString { rmdir($0) }
            throw CommandFailure(what: what, why: "cannot write the rewritten Compose file: \(error)", exitCode: 1)
        }
        defer {
            for path in paths { try? Files.remove(path) }
            _ = folder.withCString { rmdir($0) }
        }
        let searchPath = System.environment("PATH")
        var argv: [String]
        switch engine {
        case .docker:
            // Debian's docker-compose 1.29, else the compose plugin of docker.
            if let program = Exec.resolve("docker-compose", searchPath: searchPath) {
                argv = [program]
            } else if let docker = Exec.resolve("docker", searchPath: searchPath) {
                argv = [docker, "compose"]
            } else {
                throw CommandFailure(what: what, why: "neither docker-compose nor docker is installed", exitCode: 1)
            }
            argv += composeFiles.flatMap { ["-f", $0] } + ["-p", project, "--project-directory", directory]
        case .podman:
            guard let program = Exec.resolve("podman-compose", searchPath: searchPath) else {
                throw CommandFailure(what: what, why: "podman-compose is not installed", exitCode: 1)
            }
            // podman-compose 1.0.3 knows no `runtime:` key: the runtime is a global flag of each
            // podman it runs.
            argv = [program] + composeFiles.flatMap { ["-f", $0] } + ["-p", project, "--podman-args", "--runtime \(runtime)"]
        }
        argv += arguments
        let child: pid_t
        do { child = try ChildProcess.fork() } catch { throw CommandFailure(what: what, why: error.description, exitCode: 1) }
        if child == 0 {
            let failure = Exec.execute(argv, environment: ChildProcess.environment(), searchPath: nil)
            Output.error(what, failure.description)
            _exit(failure.exitCode)
        }
        return ChildProcess.supervise(child)
    }
}
