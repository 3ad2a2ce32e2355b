import Foundation
import Testing

/// Attacks on the runtime wrapper's rule that a container gets secrets only when the operator
/// asked: a request the operator signed (`secretshim grant`), or the runtime's own
/// `--secretshim-grant` flags. Each attack is made for real, with the private engines of
/// Engines.swift or runc driven directly, and must fail in one line that the engine shows,
/// leaving nothing mounted, staged or leased; what did run is committed, saved and exported and
/// must scan clean.
@Suite(.serialized)
struct ContainerAttackTests {
    static let value = "attack-secret-value-3be81f"
    static let runcPresent = FileManager.default.fileExists(atPath: "/usr/sbin/runc")

    // MARK: - Helpers

    /// The refusal as the engine shows it: not started, exactly one line from secretshim,
    /// holding each of `fragments`, and never the secret's value.
    static func expectRefused(
        _ result: (status: Int32, output: String), _ fragments: [String], value: String = value,
        sourceLocation: SourceLocation = #_sourceLocation
    ) {
        #expect(result.status != 0, "not refused: \(result.output)", sourceLocation: sourceLocation)
        let lines = result.output.split(separator: "\n").filter { $0.contains("secretshim:") }
        #expect(lines.count == 1, "expected one line from secretshim, got: \(result.output)", sourceLocation: sourceLocation)
        for fragment in fragments {
            #expect(lines.first?.contains(fragment) ?? false, "expected '\(fragment)' in: \(result.output)", sourceLocation: sourceLocation)
        }
        #expect(!result.output.contains(value), "the secret's value was printed: \(result.output)", sourceLocation: sourceLocation)
    }

    static func expectNothingLeft(_ shim: Shim, _ what: String, sourceLocation: SourceLocation = #_sourceLocation) {
        let left = Engines.leftovers(shim)
        #expect(left.isEmpty, "\(what): left behind: \(left)", sourceLocation: sourceLocation)
    }

    static func expectScansClean(_ shim: Shim, _ archives: [String], sourceLocation: SourceLocation = #_sourceLocation) {
        for archive in archives {
            let scan = shim(["scan", archive])
            #expect(scan.status == 0, "\(archive): \(scan.stdout)\(scan.stderr)", sourceLocation: sourceLocation)
            #expect(!scan.stdout.contains(value) && !scan.stderr.contains(value), sourceLocation: sourceLocation)
        }
    }

    /// Undoes whatever a failing test left in the state dir, so the folder can go: each staged
    /// container deleted through the wrapper (which unmounts its tmpfs), then any mount left.
    static func sweep(_ shim: Shim) {
        let entries = (try? FileManager.default.contentsOfDirectory(atPath: shim.state + "/containers")) ?? []
        for id in Set(entries.compactMap { $0.split(separator: ".").first.map(String.init) }) {
            _ = shim(["runtime", "delete", "--force", id])
        }
        _ = shell("grep -F ' \(shim.state)/' /proc/self/mountinfo | awk '{print $5}' | sort -r | xargs -r -n1 umount -l")
    }

    static func base64url(_ data: Data) -> String {
        var text = data.base64EncodedString().replacingOccurrences(of: "+", with: "-").replacingOccurrences(of: "/", with: "_")
        while text.hasSuffix("=") { text.removeLast() }
        return text
    }

    static func unbase64url(_ text: Substring) -> Data? {
        var padded = text.replacingOccurrences(of: "-", with: "+").replacingOccurrences(of: "_", with: "/")
        while padded.utf8.count % 4 != 0 { padded += "=" }
        return Data(base64Encoded: padded)
    }

    /// The request with one character of its tag changed (in the middle: all six bits count).
    static func tampered(_ request: String) -> String {
        var characters = Array(request)
        guard let dot = characters.lastIndex(of: ".") else { return request + "A" }
        let index = dot + 1 + (characters.count - dot - 1) / 2
        characters[index] = characters[index] == "A" ? "B" : "A"
        return String(characters)
    }

    /// The request with its payload rewritten (`ssgrant1.<payload>.<tag>`) and the tag kept.
    static func rewritten(_ request: String, _ change: (String) -> String) -> String {
        let parts = request.dropFirst("ssgrant1.".count).split(separator: ".", omittingEmptySubsequences: false)
        guard parts.count == 2, let payload = unbase64url(parts[0]) else { return request }
        let changed = change(String(decoding: payload, as: UTF8.self))
        return "ssgrant1." + base64url(Data(changed.utf8)) + "." + parts[1]
    }

    /// One engine's way of running the signed-request scenario: its calls, the flags that
    /// carry a request (the first is used for the running container), its spellings of commit
    /// and rm, and how it prefixes a runtime's refusal.
    struct EngineCalls {
        let call: (String) -> (status: Int32, output: String)
        let run: String
        let carriers: [(String) -> String]
        let commit: String
        let remove: String
        let refusedBy: String
    }

    /// The operator's signed request honoured (and what ran scans clean); the same request
    /// tampered, rewritten to ask for more, stripped of its expiry, truncated, expired, or kept
    /// after its secret was removed and created again: refused, nothing left.
    static func signedRequestScenario(_ shim: Shim, _ engine: EngineCalls) throws {
        let request = try #require(shim.signed("pw,mode=0400"))
        let carry = engine.carriers[0]
        let running = engine.call("\(engine.run) -d \(carry(request)) bb sleep 300").output.lastLine
        #expect(Engines.eventually { engine.call("exec \(running) cat /run/secrets/pw").output == value })
        #expect(engine.call("exec \(running) stat -c %a /run/secrets/pw").output == "400\n")
        let saved = shim.directory.appendingPathComponent("signed-save.tar").path
        let exported = shim.directory.appendingPathComponent("signed-export.tar").path
        #expect(engine.call("\(engine.commit) \(running) signed-image").status == 0)
        #expect(engine.call("save -o \(saved) signed-image").status == 0)
        #expect(engine.call("export -o \(exported) \(running)").status == 0)
        expectScansClean(shim, [saved, exported])
        #expect(engine.call("\(engine.remove) \(running)").status == 0)
        #expect(Engines.eventually { Engines.leftovers(shim).isEmpty }, "after rm -f: \(Engines.leftovers(shim))")

        let expiring = try #require(shim.signed("pw", expires: "1h"))
        let moreLenient = rewritten(request) { (payload: String) -> String in
            payload.replacingOccurrences(of: "pw,mode=0400", with: "pw,mode=0444")
        }
        let neverExpiring = rewritten(expiring) { (payload: String) -> String in
            "expires 0\n" + payload.split(separator: "\n").dropFirst().joined(separator: "\n") + "\n"
        }
        let attacks: [(String, String, String)] = [
            ("tampered tag", tampered(request), "does not match"),
            ("payload asks for mode 0444", moreLenient, "does not match"),
            ("expiry removed", neverExpiring, "does not match"),
            ("truncated", String(request.dropLast(3)), "secretshim: "),
        ]
        for (what, attack, why) in attacks {
            #expect(attack != request)
            for (index, carrier) in engine.carriers.enumerated() {
                let result = engine.call("\(engine.run) --rm \(carrier(attack)) bb cat /run/secrets/pw")
                expectRefused(result, [engine.refusedBy, why])
                expectNothingLeft(shim, "\(what) (carrier \(index))")
            }
        }

        let shortLived = try #require(shim.signed("pw", expires: "1s"))
        sleep(2)
        let expired = engine.call("\(engine.run) --rm \(carry(shortLived)) bb cat /run/secrets/pw")
        expectRefused(expired, [engine.refusedBy, "expired"])
        expectNothingLeft(shim, "expired")

        // Removed and created again: a new ID, which the old request was not signed for.
        let old = try #require(shim.signed("pw"))
        #expect(shim(["secret", "rm", "pw"]).status == 0)
        let renewed = "renewed-value-not-for-old-requests"
        shim.create("pw", renewed)
        let stale = engine.call("\(engine.run) --rm \(carry(old)) bb cat /run/secrets/pw")
        expectRefused(stale, [engine.refusedBy, "another secret", "created again"], value: renewed)
        expectNothingLeft(shim, "re-created secret")
        #expect(shim(["secret", "rm", "pw"]).status == 0)
    }

    /// Builds `tag` from a Containerfile in a context of its own.
    static func build(
        _ engine: (String) -> (status: Int32, output: String), _ shim: Shim, tag: String, containerfile: String, flags: String = ""
    ) throws {
        let context = shim.directory.appendingPathComponent("context-\(tag)")
        try FileManager.default.createDirectory(at: context, withIntermediateDirectories: true)
        try containerfile.write(to: context.appendingPathComponent("Containerfile"), atomically: true, encoding: .utf8)
        let built = engine("build -q \(flags) -t \(tag) -f \(context.path)/Containerfile \(context.path)")
        try #require(built.status == 0, "build \(tag): \(built.output)")
    }

    /// A host folder bind-mounted onto itself and made shared: what a `:rshared` volume needs.
    static func sharedFolder(_ shim: Shim, _ name: String) throws -> String {
        let folder = shim.directory.appendingPathComponent(name).path
        try FileManager.default.createDirectory(atPath: folder, withIntermediateDirectories: true)
        let mounted = shell("mount --bind '\(folder)' '\(folder)' && mount --make-shared '\(folder)'")
        try #require(mounted.status == 0, "\(mounted.output)")
        return folder
    }

    /// Nothing in the shared folder and nothing mounted below it on the host.
    static func expectUntouched(_ folder: String, sourceLocation: SourceLocation = #_sourceLocation) {
        let entries = (try? FileManager.default.contentsOfDirectory(atPath: folder)) ?? ["(unreadable)"]
        #expect(entries.isEmpty, "written into the host's shared folder: \(entries)", sourceLocation: sourceLocation)
        let mounts = RuntimeTests.mounts().split(separator: "\n").filter { $0.contains(" \(folder)/") }
        #expect(mounts.isEmpty, "mounted below the host's shared folder: \(mounts)", sourceLocation: sourceLocation)
    }
}

// MARK: - Docker

extension ContainerAttackTests {
    @Suite(.enabled(if: Shim.isRoot && Engines.haveDocker, "needs root and docker.io"), .serialized)
    struct Docker {
        static let run = "run --runtime secretshim --network none"
        static let refusedBy = "OCI runtime create failed"

        /// Images that set the request themselves (`ENV`), unsigned or signed with another
        /// store's key, are refused, also through a runtime that grants on its own.
        @Test func anImagesOwnRequestIsRefused() throws {
            let shim = Shim()
            defer { shim.cleanUp() }
            shim.create("pw", value)
            let attacker = Shim()
            defer { attacker.cleanUp() }
            attacker.create("pw", "the-attackers-own-value")
            let foreign = try #require(attacker.signed("pw"))
            let dockerd = try PrivateDockerd(
                shim: shim, runtimes: [.init(name: "granting", path: nil, arguments: ["--secretshim-grant", "pw,mode=0400"])])
            defer {
                dockerd.stop()
                sweep(shim)
            }
            #expect(dockerd.docker("import \(try Engines.busyboxTar(in: shim.directory)) bb").status == 0)
            try build(dockerd.docker, shim, tag: "unsigned", containerfile: "FROM bb\nENV SECRETSHIM_SECRETS=pw\n")
            try build(dockerd.docker, shim, tag: "foreign", containerfile: "FROM bb\nENV SECRETSHIM_SECRETS=\(foreign)\n")

            let cases = [
                ("unsigned", "--runtime secretshim", "unsigned"),
                ("foreign", "--runtime secretshim", "does not match"),
                ("unsigned", "--runtime granting", "unsigned"),
            ]
            for (index, (image, runtime, why)) in cases.enumerated() {
                let name = "refused-\(index)"
                let result = dockerd.docker("run --name \(name) \(runtime) --network none \(image) sh -c 'cat /run/secrets/pw; env'")
                expectRefused(result, [Self.refusedBy, "secretshim: ", why])
                expectNothingLeft(shim, "\(image) through \(runtime)")
                // The refused container's root holds nothing either.
                let exported = shim.directory.appendingPathComponent("\(name).tar").path
                #expect(dockerd.docker("export -o \(exported) \(name)").status == 0)
                expectScansClean(shim, [exported])
            }
            #expect(shim(["secret", "rm", "pw"]).status == 0)
        }

        /// The operator's signed request works; altered (tag or payload), expired, or for a
        /// secret created again since, it is refused.
        @Test func onlyTheOperatorsSignedRequestIsHonoured() throws {
            let shim = Shim()
            defer { shim.cleanUp() }
            shim.create("pw", value)
            let dockerd = try PrivateDockerd(shim: shim)
            defer {
                dockerd.stop()
                sweep(shim)
            }
            #expect(dockerd.docker("import \(try Engines.busyboxTar(in: shim.directory)) bb").status == 0)
            try signedRequestScenario(shim, EngineCalls(
                call: dockerd.docker, run: Self.run, carriers: [{ "-e SECRETSHIM_SECRETS=\($0)" }],
                commit: "commit", remove: "rm -f", refusedBy: Self.refusedBy))
        }

        /// Grants given as the runtime's own flags (`runtimeArgs` in daemon.json): no request in
        /// the container at all. Through the wrapper script, and through the plain link with the
        /// store and state dir also given as flags.
        @Test func runtimeArgumentsGrantWithoutARequest() throws {
            let shim = Shim()
            defer { shim.cleanUp() }
            shim.create("pw", value)
            let link = shim.directory.appendingPathComponent("bin/secretshim-runtime").path
            let dockerd = try PrivateDockerd(shim: shim, runtimes: [
                .init(name: "granting", path: nil, arguments: ["--secretshim-grant", "pw,mode=0400"]),
                .init(name: "linked", path: link, arguments: [
                    "--secretshim-root", shim.root, "--secretshim-state-dir", shim.state, "--secretshim-grant", "pw,uid=1000,mode=0440",
                ]),
            ])
            defer {
                dockerd.stop()
                sweep(shim)
            }
            #expect(dockerd.docker("import \(try Engines.busyboxTar(in: shim.directory)) bb").status == 0)

            let granted = dockerd.docker(
                "run --rm --runtime granting --network none bb sh -c 'stat -c \"%a %u\" /run/secrets/pw; cat /run/secrets/pw; echo; env'")
            #expect(granted.status == 0, "\(granted.output)")
            #expect(granted.output.hasPrefix("400 0\n\(value)\n"), "\(granted.output)")
            #expect(!granted.output.contains("SECRETSHIM"), "\(granted.output)")
            #expect(Engines.eventually { Engines.leftovers(shim).isEmpty }, "after --rm: \(Engines.leftovers(shim))")
            let linked = dockerd.docker("run --rm --runtime linked --network none bb sh -c 'stat -c \"%a %u\" /run/secrets/pw'")
            #expect(linked.status == 0 && linked.output == "440 1000\n", "\(linked.output)")
            #expect(Engines.eventually { Engines.leftovers(shim).isEmpty }, "after --rm: \(Engines.leftovers(shim))")
            // The flags are the runtime's: a container on the plain runtime gets nothing.
            let plain = dockerd.docker("\(Self.run) --rm bb grep -c ' /run/secrets ' /proc/self/mountinfo")
            #expect(plain.output == "0\n", "\(plain.output)")

            for runtime in ["granting", "linked"] {
                let running = dockerd.docker("run -d --runtime \(runtime) --network none bb sleep 300").output.lastLine
                #expect(Engines.eventually { dockerd.docker("exec \(running) cat /run/secrets/pw").output == value })
                #expect(shim(["ps"]).stdout.contains(String(running.prefix(12))), "no lease for the running container")
                #expect(shim(["secret", "rm", "pw"]).status == 1, "a secret in use by a container was removed")
                let saved = shim.directory.appendingPathComponent("\(runtime)-save.tar").path
                let exported = shim.directory.appendingPathComponent("\(runtime)-export.tar").path
                #expect(dockerd.docker("commit \(running) \(runtime)-image").status == 0)
                #expect(dockerd.docker("save -o \(saved) \(runtime)-image").status == 0)
                #expect(dockerd.docker("export -o \(exported) \(running)").status == 0)
                expectScansClean(shim, [saved, exported])
                #expect(dockerd.docker("rm -f \(running)").status == 0)
                #expect(Engines.eventually { Engines.leftovers(shim).isEmpty }, "\(runtime) after rm -f: \(Engines.leftovers(shim))")
            }
            #expect(shim(["secret", "rm", "pw"]).status == 0)
        }

        /// A volume at /run (or /run/secrets) that is shared with the host: the secrets bind
        /// would propagate into the host's folder. Refused, and nothing appears there.
        @Test func aSharedRunIsRefused() throws {
            let shim = Shim()
            defer { shim.cleanUp() }
            shim.create("pw", value)
            let shared = try sharedFolder(shim, "shared-run")
            defer { _ = shell("umount -l '\(shared)'") }
            let dockerd = try PrivateDockerd(shim: shim)
            defer {
                dockerd.stop()
                sweep(shim)
            }
            #expect(dockerd.docker("import \(try Engines.busyboxTar(in: shim.directory)) bb").status == 0)
            let request = try #require(shim.signed("pw"))
            for volume in [
                "-v \(shared):/run:rshared", "-v \(shared):/run/:shared", "-v \(shared):/run/secrets:rshared",
                "--mount type=bind,source=\(shared),target=/run,bind-propagation=rshared",
            ] {
                let result = dockerd.docker("\(Self.run) --rm \(volume) -e SECRETSHIM_SECRETS=\(request) bb cat /run/secrets/pw")
                expectRefused(result, [Self.refusedBy, "propagate"])
                expectUntouched(shared)
                expectNothingLeft(shim, volume)
            }
            #expect(shim(["secret", "rm", "pw"]).status == 0)
        }
    }
}

// MARK: - Podman

extension ContainerAttackTests {
    @Suite(.enabled(if: Shim.isRoot && Engines.havePodman, "needs root and podman"), .serialized)
    struct Podman {
        static let refusedBy = "OCI runtime error"

        /// An image annotation (`podman build --annotation`), an image `ENV`, and an unsigned
        /// `--annotation` on the command line: all refused, also with the runtime's own grants.
        @Test func anImagesOwnRequestIsRefused() throws {
            let shim = Shim()
            defer { shim.cleanUp() }
            shim.create("pw", value)
            let podman = try PrivatePodman(shim: shim)
            defer {
                podman.stop()
                sweep(shim)
            }
            #expect(podman.podman("import \(try Engines.busyboxTar(in: shim.directory)) bb").status == 0)
            try build(podman.podman, shim, tag: "annotated", containerfile: "FROM bb\nENV HARMLESS=1\n",
                      flags: "--annotation org.secretshim.secrets=pw")
            let annotations = podman.podman("image inspect annotated --format '{{index .Annotations \"org.secretshim.secrets\"}}'")
            #expect(annotations.output == "pw\n", "the image does not carry the annotation: \(annotations.output)")
            try build(podman.podman, shim, tag: "unsigned", containerfile: "FROM bb\nENV SECRETSHIM_SECRETS=pw\n")

            let cases = [
                ("", "annotated"), ("", "unsigned"), ("", "--annotation org.secretshim.secrets=pw bb"),
                ("--runtime-flag secretshim-grant=pw ", "annotated"),
            ]
            for (index, (global, image)) in cases.enumerated() {
                let name = "refused-\(index)"
                let result = podman.podman("\(global)run --name \(name) --network none \(podman.ulimits) \(image) sh -c 'cat /run/secrets/pw; env'")
                expectRefused(result, [Self.refusedBy, "secretshim: ", "unsigned"])
                expectNothingLeft(shim, "\(global)\(image)")
                let exported = shim.directory.appendingPathComponent("\(name).tar").path
                if podman.podman("export -o \(exported) \(name)").status == 0 { expectScansClean(shim, [exported]) }
            }
            #expect(shim(["secret", "rm", "pw"]).status == 0)
        }

        @Test func onlyTheOperatorsSignedRequestIsHonoured() throws {
            let shim = Shim()
            defer { shim.cleanUp() }
            shim.create("pw", value)
            let podman = try PrivatePodman(shim: shim)
            defer {
                podman.stop()
                sweep(shim)
            }
            #expect(podman.podman("import \(try Engines.busyboxTar(in: shim.directory)) bb").status == 0)
            try signedRequestScenario(shim, EngineCalls(
                call: podman.podman, run: "run --network none \(podman.ulimits)",
                carriers: [{ "--annotation org.secretshim.secrets=\($0)" }, { "-e SECRETSHIM_SECRETS=\($0)" }],
                commit: "commit -q", remove: "rm -f -t 0", refusedBy: Self.refusedBy))
        }

        /// `--runtime-flag secretshim-grant=SPEC`: the runtime's own grants. And the plain
        /// `secretshim-runtime` link, pointed at the store and state dir by `--runtime-flag`
        /// alone (conmon passes no environment on), which must also clean up when the
        /// container exits by itself.
        @Test func runtimeFlagsGrantAndPointAtTheStore() throws {
            let shim = Shim()
            defer { shim.cleanUp() }
            shim.create("pw", value)
            let podman = try PrivatePodman(shim: shim)
            defer {
                podman.stop()
                sweep(shim)
            }
            #expect(podman.podman("import \(try Engines.busyboxTar(in: shim.directory)) bb").status == 0)
            let run = "run --network none \(podman.ulimits)"

            let moded = podman.podman("--runtime-flag secretshim-grant=pw,mode=0400 \(run) --rm bb sh -c 'stat -c \"%a %u\" /run/secrets/pw; env'")
            #expect(moded.status == 0 && moded.output.hasPrefix("400 0\n"), "\(moded.output)")
            #expect(!moded.output.contains("SECRETSHIM"), "\(moded.output)")
            let granted = podman.podman("--runtime-flag secretshim-grant=pw \(run) --rm bb cat /run/secrets/pw")
            #expect(granted.status == 0 && granted.output == value, "\(granted.output)")
            #expect(Engines.eventually { Engines.leftovers(shim).isEmpty }, "after --rm: \(Engines.leftovers(shim))")

            let running = podman.podman("--runtime-flag secretshim-grant=pw \(run) -d bb sleep 300").output.lastLine
            #expect(Engines.eventually { podman.podman("exec \(running) cat /run/secrets/pw").output == value })
            let saved = shim.directory.appendingPathComponent("granted-save.tar").path
            let exported = shim.directory.appendingPathComponent("granted-export.tar").path
            #expect(podman.podman("commit -q \(running) granted-image").status == 0)
            #expect(podman.podman("save -o \(saved) granted-image").status == 0)
            #expect(podman.podman("export -o \(exported) \(running)").status == 0)
            expectScansClean(shim, [saved, exported])
            #expect(podman.podman("rm -f -t 0 \(running)").status == 0)
            #expect(Engines.eventually { Engines.leftovers(shim).isEmpty }, "after rm -f: \(Engines.leftovers(shim))")

            // The plain link: no script, no environment; the store and state dir from flags.
            let script = shim.directory.appendingPathComponent("bin/runtime").path
            let link = shim.directory.appendingPathComponent("bin/secretshim-runtime").path
            let linked = podman.command.replacingOccurrences(of: "--runtime \(script)", with: "--runtime \(link)")
                + " --runtime-flag secretshim-root=\(shim.root) --runtime-flag secretshim-state-dir=\(shim.state)"
            #expect(linked != podman.command)
            let request = try #require(shim.signed("pw,mode=0440"))
            let viaLink = shell("\(linked) \(run) --rm --annotation org.secretshim.secrets=\(request) bb sh -c 'stat -c %a /run/secrets/pw; cat /run/secrets/pw'")
            #expect(viaLink.status == 0 && viaLink.output == "440\n\(value)", "\(viaLink.output)")
            // podman's cleanup (conmon's exit command) deletes the container: nothing may stay.
            #expect(Engines.eventually(5) { Engines.leftovers(shim).isEmpty }, "plain link, after the container exited: \(Engines.leftovers(shim))")
            sweep(shim)
            let detached = shell("\(linked) \(run) -d --annotation org.secretshim.secrets=\(request) bb sleep 300").output.lastLine
            #expect(Engines.eventually { shell("\(linked) exec \(detached) cat /run/secrets/pw").output == value })
            #expect(shell("\(linked) rm -f -t 0 \(detached)").status == 0)
            #expect(Engines.eventually(5) { Engines.leftovers(shim).isEmpty }, "plain link, after rm -f: \(Engines.leftovers(shim))")
        }

        /// Podman 4.3 splits `--annotation` at commas: the fields arrive as annotations of their own.
        @Test func aRequestSplitAtItsCommasIsRefused() throws {
            let shim = Shim()
            defer { shim.cleanUp() }
            shim.create("pw", value)
            let podman = try PrivatePodman(shim: shim)
            defer {
                podman.stop()
                sweep(shim)
            }
            #expect(podman.podman("import \(try Engines.busyboxTar(in: shim.directory)) bb").status == 0)
            let run = "run --rm --network none \(podman.ulimits)"
            let request = try #require(shim.signed("pw"))
            for annotation in ["pw,uid=999,mode=0400", "\(request),uid=999,mode=0400", "\(request),target=elsewhere"] {
                let result = podman.podman("\(run) --annotation org.secretshim.secrets=\(annotation) bb cat /run/secrets/pw")
                expectRefused(result, [Self.refusedBy, "split", "commas"])
                expectNothingLeft(shim, annotation)
            }
        }

        @Test func aSharedRunIsRefused() throws {
            let shim = Shim()
            defer { shim.cleanUp() }
            shim.create("pw", value)
            let shared = try sharedFolder(shim, "shared-run")
            defer { _ = shell("umount -l '\(shared)'") }
            let podman = try PrivatePodman(shim: shim)
            defer {
                podman.stop()
                sweep(shim)
            }
            #expect(podman.podman("import \(try Engines.busyboxTar(in: shim.directory)) bb").status == 0)
            let request = try #require(shim.signed("pw"))
            for volume in ["-v \(shared):/run:rshared", "-v \(shared):/run/secrets:rshared"] {
                let result = podman.podman(
                    "run --rm --network none \(podman.ulimits) \(volume) --annotation org.secretshim.secrets=\(request) bb cat /run/secrets/pw")
                expectRefused(result, [Self.refusedBy, "propagate"])
                expectUntouched(shared)
                expectNothingLeft(shim, volume)
            }
        }
    }
}

// MARK: - runc directly

extension ContainerAttackTests {
    @Suite(.enabled(if: Shim.isRoot && ContainerAttackTests.runcPresent, "needs root and runc"), .serialized)
    struct Runc {
        /// Runs `secretshim runtime ARGS` with stdout on /dev/null and stderr in a file: a
        /// created container keeps both, so no pipe.
        static func runtime(_ shim: Shim, _ arguments: [String]) throws -> (status: Int32, stderr: String) {
            let log = shim.directory.appendingPathComponent("stderr-\(UUID().uuidString.prefix(8))")
            #expect(FileManager.default.createFile(atPath: log.path, contents: nil))
            defer { try? FileManager.default.removeItem(at: log) }
            let process = Process()
            process.executableURL = URL(fileURLWithPath: Shim.binary)
            process.arguments = ["runtime"] + arguments
            process.environment = shim.environment
            process.standardInput = FileHandle.nullDevice
            process.standardOutput = FileHandle.nullDevice
            let handle = try FileHandle(forWritingTo: log)
            process.standardError = handle
            try process.run()
            process.waitUntilExit()
            try? handle.close()
            return (process.terminationStatus, (try? String(contentsOf: log, encoding: .utf8)) ?? "")
        }

        static func runcHas(_ id: String) -> Bool { shell("runc state '\(id)'").status == 0 }

        /// kill -9 of `runtime create` at random moments; whatever it left, the next call
        /// (create again, or delete) cleans: config.json as it was, no tmpfs, no intent or lease.
        @Test func killedCreatesAreCleanedByTheNextCall() throws {
            let shim = Shim()
            defer { shim.cleanUp() }
            shim.create("pw", value)
            let bundle = try RootfsTests.makeBundle(in: shim.directory, args: ["sleep", "60"], edit: RuntimeTests.annotate(shim, "pw,mode=0400"))
            let configURL = URL(fileURLWithPath: bundle + "/config.json")
            let original = try Data(contentsOf: configURL)
            var ids: [String] = []
            defer {
                for id in ids { _ = shim(["runtime", "delete", "--force", id]) }
                sweep(shim)
            }
            var rounds: [String] = []
            for round in 0..<20 {
                try original.write(to: configURL)
                let id = "killed-\(round)-\(UUID().uuidString.prefix(6).lowercased())"
                ids.append(id)
                let delay = UInt32.random(in: 0...50)
                let process = Process()
                process.executableURL = URL(fileURLWithPath: Shim.binary)
                process.arguments = ["runtime", "create", "--bundle", bundle, id]
                process.environment = shim.environment
                process.standardInput = FileHandle.nullDevice
                process.standardOutput = FileHandle.nullDevice
                process.standardError = FileHandle.nullDevice
                try process.run()
                usleep(delay * 1000)
                kill(process.processIdentifier, SIGKILL)
                process.waitUntilExit()
                let killed = process.terminationReason == .uncaughtSignal
                // runc, if the wrapper had started it, goes on alone: let it finish.
                let settled = Engines.eventually(10) { shell("pgrep -f -- 'create .*\(id)$'").status != 0 }
                #expect(settled, "round \(round): a create of \(id) is still running")
                let runcHadIt = Self.runcHas(id)
                let left = Engines.leftovers(shim)
                // Killed before its create finished (its intent still there): the config is the
                // rewritten one, which the next call must put back. Killed later, it is done.
                let unfinished = left.contains { $0.hasSuffix(".intent") }

                let next = round % 2 == 0 ? "create" : "delete"
                let result = try next == "create"
                    ? Self.runtime(shim, ["create", "--bundle", bundle, id]) : Self.runtime(shim, ["delete", "--force", id])
                let config = try Data(contentsOf: configURL)
                let note = "round \(round): kill after \(delay) ms (\(killed ? "killed" : "had exited \(process.terminationStatus)")), "
                    + "runc \(runcHadIt ? "had" : "had not") made the container, left \(left); "
                    + "then \(next): \(result.status) \(result.stderr.trimmingCharacters(in: .newlines))"
                rounds.append(note)
                // A container runc made (the create finished, or an orphaned runc finished it)
                // holds the tmpfs: a create again is refused, untouched, as runc refuses an ID
                // it has; its delete cleans up (and restores the config of one never finished).
                if next == "create" && runcHadIt {
                    #expect(result.status != 0 && result.stderr.contains("delete it first"), "\(note)")
                } else {
                    if unfinished && (next == "delete" || result.status != 0) {
                        let restored = config == original
                        let mounted = String(decoding: config, as: UTF8.self).contains(shim.state + "/containers/")
                        #expect(restored, "config.json not restored\(mounted ? " (it still has the secrets mount)" : ""): \(note)")
                    }
                    if next == "delete" || result.status != 0 {
                        #expect(Engines.leftovers(shim).isEmpty, "left after the next call: \(Engines.leftovers(shim)); \(note)")
                    }
                }
                if next == "delete" { #expect(!Self.runcHas(id), "runc still has the container: \(note)") }

                _ = shim(["runtime", "delete", "--force", id])
                if unfinished && !(next == "create" && result.status == 0) {
                    #expect(try Data(contentsOf: configURL) == original, "config.json not restored after delete --force: \(note)")
                }
                #expect(!Self.runcHas(id), "runc still has the container after delete --force: \(note)")
                #expect(Engines.leftovers(shim).isEmpty, "left after delete --force: \(Engines.leftovers(shim)); \(note)")
                let containers = (try? FileManager.default.contentsOfDirectory(atPath: shim.state + "/containers")) ?? []
                #expect(containers.isEmpty, "state after delete --force: \(containers); \(note)")
                if !Engines.leftovers(shim).isEmpty { sweep(shim) }
            }
            let rm = shim(["secret", "rm", "pw"])
            #expect(rm.status == 0, "secret rm after the rounds: \(rm.stderr)\n\(rounds.joined(separator: "\n"))")
            let strays = try FileManager.default.contentsOfDirectory(atPath: bundle).filter { $0.hasPrefix("config.json.") }
            #expect(strays.isEmpty, "half-written configs in the bundle: \(strays)")
        }

        /// A bundle whose path holds a newline, with a secret request: refused in one line before
        /// anything is recorded (the intent keeps the path on a line of its own; a fresh-eyes
        /// attack made the sweep restore the config into another file through such a path).
        @Test func aBundlePathWithANewlineIsRefused() throws {
            let shim = Shim()
            defer { shim.cleanUp() }
            shim.create("pw", value)
            let made = try RootfsTests.makeBundle(in: shim.directory, args: ["sleep", "60"], edit: RuntimeTests.annotate(shim, "pw,mode=0400"))
            let bundle = shim.directory.path + "/nl\nx"
            try FileManager.default.moveItem(atPath: made, toPath: bundle)
            let original = try Data(contentsOf: URL(fileURLWithPath: bundle + "/config.json"))
            let id = "newline-\(UUID().uuidString.prefix(6).lowercased())"
            defer { _ = shell("runc delete --force '\(id)'") }
            let result = try Self.runtime(shim, ["create", "--bundle", bundle, id])
            #expect(result.status != 0 && result.stderr.contains("holds a newline"), "\(result.stderr)")
            #expect(!result.stderr.trimmingCharacters(in: .newlines).contains("\n"), "more than one line: \(result.stderr)")
            #expect(Engines.leftovers(shim).isEmpty, "\(Engines.leftovers(shim))")
            #expect(!Self.runcHas(id))
            #expect(try Data(contentsOf: URL(fileURLWithPath: bundle + "/config.json")) == original)
            #expect(!FileManager.default.fileExists(atPath: shim.directory.path + "/nl"))
        }

        /// `runtime run` in the foreground lives as long as its container: once the tmpfs is
        /// written, none of its memory may hold the value (a fresh-eyes attack read it there
        /// through /proc/PID/mem for the container's whole life).
        @Test func aForegroundRunHoldsNoValueWhileTheContainerRuns() throws {
            let shim = Shim()
            defer { shim.cleanUp() }
            let secret = "fg-" + UUID().uuidString
            shim.create("pw", secret)
            let bundle = try RootfsTests.makeBundle(in: shim.directory, args: ["sleep", "30"])
            let id = "foreground-\(UUID().uuidString.prefix(6).lowercased())"
            let process = Process()
            process.executableURL = URL(fileURLWithPath: Shim.binary)
            process.arguments = ["runtime", "--secretshim-grant", "pw", "run", "--bundle", bundle, id]
            process.environment = shim.environment
            process.standardInput = FileHandle.nullDevice
            process.standardOutput = FileHandle.nullDevice
            process.standardError = FileHandle.nullDevice
            try process.run()
            defer {
                _ = shell("runc kill '\(id)' KILL")
                process.waitUntilExit()
                _ = shim(["runtime", "delete", "--force", id])
            }
            let running = Engines.eventually(15) { shell("runc state '\(id)'").output.contains("\"running\"") }
            try #require(running, "the container never ran")
            let held = Self.memoryHolds(process.processIdentifier, Array(secret.utf8))
            #expect(held.isEmpty, "the wrapper's memory holds the value at \(held)")
        }

        /// The writable mappings of `pid` (read through /proc/PID/mem) where `needle` occurs.
        static func memoryHolds(_ pid: pid_t, _ needle: [UInt8]) -> [String] {
            guard let maps = try? String(contentsOfFile: "/proc/\(pid)/maps", encoding: .utf8) else { return ["maps unreadable"] }
            let mem = open("/proc/\(pid)/mem", O_RDONLY)
            guard mem >= 0 else { return ["mem unreadable"] }
            defer { close(mem) }
            var found: [String] = []
            for line in maps.split(separator: "\n") {
                let fields = line.split(separator: " ")
                guard fields.count >= 2, fields[1].hasPrefix("rw") else { continue }
                let range = fields[0].split(separator: "-").compactMap { UInt64($0, radix: 16) }
                guard range.count == 2, range[1] > range[0], range[1] - range[0] <= 1 << 30 else { continue }
                var bytes = [UInt8](repeating: 0, count: Int(range[1] - range[0]))
                let n = bytes.withUnsafeMutableBytes { pread(mem, $0.baseAddress, $0.count, off_t(Int64(bitPattern: range[0]))) }
                guard n > 0 else { continue }
                let data = Data(bytes[0..<n])
                if data.range(of: Data(needle)) != nil { found.append(String(line)) }
            }
            return found
        }

        /// The one moment the random kills above hit only now and then (CI once): a create
        /// killed while it wrote its intent leaves a half-written `<id>.intent.new` and nothing
        /// else. The next call for that ID, a delete or a create, removes it.
        @Test func aHalfWrittenIntentIsRemovedByTheNextCall() throws {
            let shim = Shim()
            defer { shim.cleanUp() }
            shim.create("pw", value)
            let bundle = try RootfsTests.makeBundle(in: shim.directory, args: ["sleep", "60"], edit: RuntimeTests.annotate(shim, "pw,mode=0400"))
            let original = try Data(contentsOf: URL(fileURLWithPath: bundle + "/config.json"))
            try FileManager.default.createDirectory(atPath: shim.state + "/containers", withIntermediateDirectories: true)
            for next in ["delete", "create"] {
                let id = "half-\(next)"
                let stray = shim.state + "/containers/\(id).intent.new"
                // What recordIntent had written when the kill came: the owner line, cut short.
                try Data("4194304 12".utf8).write(to: URL(fileURLWithPath: stray))
                let result = try Self.runtime(shim, next == "create" ? ["create", "--bundle", bundle, id] : ["delete", "--force", id])
                if next == "create" {
                    #expect(result.status == 0, "create after a half-written intent: \(result.stderr)")
                    _ = shim(["runtime", "delete", "--force", id])
                }
                #expect(!FileManager.default.fileExists(atPath: stray), "\(next) left \(stray)")
                #expect(Engines.leftovers(shim).isEmpty, "left after \(next): \(Engines.leftovers(shim))")
                // Nothing was changed before the intent: a delete leaves the config as it was
                // (a create that went on rewrote it, as every create does).
                if next == "delete" { #expect(try Data(contentsOf: URL(fileURLWithPath: bundle + "/config.json")) == original) }
            }
        }

        /// A config runc would read but the wrapper cannot (invalid UTF-8, nesting over 512),
        /// and requests that only Go's case-insensitive, last-wins matching of keys finds, or
        /// spelled with `\u` escapes: refused in one line, config.json untouched, no container.
        @Test func configsTheWrapperCannotReadOrThatHideARequest() throws {
            let shim = Shim()
            defer {
                sweep(shim)
                shim.cleanUp()
            }
            shim.create("pw", value)
            let signed = try #require(shim.signed("pw"))

            /// A bundle whose config.json is `text(config without "process", process with env)`.
            func bundle(env: [String], annotations: [String: String] = [:], _ text: (String, String) throws -> String) throws -> String {
                let path = try RootfsTests.makeBundle(in: shim.directory, args: ["sh", "-c", "cat /run/secrets/pw; echo; env"]) {
                    if !annotations.isEmpty { $0["annotations"] = annotations }
                }
                let url = URL(fileURLWithPath: path + "/config.json")
                var config = try JSONSerialization.jsonObject(with: Data(contentsOf: url)) as! [String: Any]
                var process = config.removeValue(forKey: "process") as! [String: Any]
                process["env"] = (process["env"] as! [String]) + env
                let rest = String(decoding: try JSONSerialization.data(withJSONObject: config), as: UTF8.self)
                let processText = String(decoding: try JSONSerialization.data(withJSONObject: process), as: UTF8.self)
                try Data(try text(rest, processText).utf8).write(to: url)
                return path
            }
            /// `{"process":P,...rest}` with `extra` inserted before the closing brace.
            func joined(_ rest: String, _ process: String, key: String = "process", extra: String = "") -> String {
                "{\"\(key)\":\(process)," + rest.dropFirst().dropLast() + extra + "}"
            }
            func renamingEnv(_ process: String, to key: String) throws -> String {
                try #require(process.components(separatedBy: "\"env\":").count == 2)
                return process.replacingOccurrences(of: "\"env\":", with: "\"\(key)\":")
            }
            let cleanProcess = String(decoding: try JSONSerialization.data(withJSONObject: ["args": ["true"], "cwd": "/"]), as: UTF8.self)
            let annotated = ["org.secretshim.secrets": signed]

            var refused: [(String, String, String)] = []
            refused.append(("invalid UTF-8, signed annotation", try bundle(env: [], annotations: annotated) { rest, process in
                joined(rest, process, extra: ",\"x-note\":\"caf<FF>\"")
            }, "cannot be read"))
            refused.append(("invalid UTF-8, unsigned variable", try bundle(env: ["SECRETSHIM_SECRETS=pw"]) { rest, process in
                joined(rest, process, extra: ",\"x-note\":\"<FF>\"")
            }, "cannot be read"))
            refused.append(("nested 600 deep, signed annotation", try bundle(env: [], annotations: annotated) { rest, process in
                joined(rest, process, extra: ",\"x-deep\":" + String(repeating: "[", count: 600) + String(repeating: "]", count: 600))
            }, "cannot be read"))
            refused.append(("\"Process\": {\"Env\": [unsigned]}", try bundle(env: ["SECRETSHIM_SECRETS=pw"]) { rest, process in
                joined(rest, try renamingEnv(process, to: "Env"), key: "Process")
            }, "unsigned"))
            refused.append(("\"process\" clean, then \"PROCESS\": {\"ENV\": [unsigned]}", try bundle(env: ["SECRETSHIM_SECRETS=pw"]) { rest, process in
                joined(rest, cleanProcess, extra: ",\"PROCESS\":" + (try renamingEnv(process, to: "ENV")))
            }, "repeats the key"))
            refused.append(("variable name with a \\u escape", try bundle(env: ["SECRETSHIM_SECRETS=pw"]) { rest, process in
                joined(rest, process.replacingOccurrences(of: "SECRETSHIM_SECRETS=", with: "SECRETSHIM\\u005fSECRETS="))
            }, "unsigned"))
            refused.append(("annotation name with a \\u escape", try bundle(env: [], annotations: ["org.secretshim.secrets": "pw"]) { rest, process in
                joined(rest.replacingOccurrences(of: "org.secretshim.secrets", with: "org.secretshim\\u002esecrets"), process)
            }, "unsigned"))

            for (what, path, why) in refused {
                let url = URL(fileURLWithPath: path + "/config.json")
                // The invalid byte goes in as a byte.
                var bytes = try Data(contentsOf: url)
                if let range = bytes.range(of: Data("<FF>".utf8)) { bytes.replaceSubrange(range, with: [0xFF]) }
                try bytes.write(to: url)
                let config = try Data(contentsOf: url)
                let id = "hidden-\(UUID().uuidString.prefix(8).lowercased())"
                let result = shim(["runtime", "run", "--bundle", path, id])
                _ = shim(["runtime", "delete", "--force", id])
                #expect(result.status == 1, "\(what): \(result.status) \(result.stdout)\(result.stderr)")
                expectOneLineError(result, contains: why)
                #expect(!result.stdout.contains(value), "\(what): the workload ran with the secret")
                #expect(try Data(contentsOf: url) == config, "\(what): config.json changed")
                #expect(!Self.runcHas(id))
                expectNothingLeft(shim, what)
            }

            // The operator's request under Go-cased keys is found, honoured, and taken out of
            // the environment that runc reads. (The same key twice, which Go would merge, is
            // refused above.)
            for (key, envKey) in [("Process", "Env"), ("PROCESS", "ENV")] {
                let path = try bundle(env: ["SECRETSHIM_SECRETS=" + signed]) { rest, process in
                    joined(rest, try renamingEnv(process, to: envKey), key: key)
                }
                let config = try Data(contentsOf: URL(fileURLWithPath: path + "/config.json"))
                let result = shim(["runtime", "run", "--bundle", path, "cased-\(UUID().uuidString.prefix(8).lowercased())"])
                #expect(result.status == 0, "\(key)/\(envKey): \(result.stderr)")
                #expect(result.stdout.hasPrefix(value + "\n"), "\(key)/\(envKey): \(result.stdout)")
                #expect(!result.stdout.contains("SECRETSHIM_SECRETS"), "\(key)/\(envKey): the request reached the workload: \(result.stdout)")
                #expect(try Data(contentsOf: URL(fileURLWithPath: path + "/config.json")) == config)
                expectNothingLeft(shim, "\(key)/\(envKey)")
            }
            #expect(shim(["secret", "rm", "pw"]).status == 0)
        }

        /// Shared propagation above /run/secrets in the config itself (no engine to set
        /// rootfsPropagation for it): a `/run` bind of a shared host folder, `/run/secrets`
        /// itself, and `linux.rootfsPropagation`.
        @Test func sharedPropagationInTheConfigIsRefused() throws {
            let shim = Shim()
            defer { shim.cleanUp() }
            shim.create("pw", value)
            let shared = try sharedFolder(shim, "shared-run")
            defer {
                _ = shell("umount -l '\(shared)'")
                sweep(shim)
            }
            func mount(_ destination: String, _ propagation: String) -> (inout [String: Any]) -> Void {
                return {
                    RuntimeTests.annotate(shim, "pw")(&$0)
                    $0["mounts"] = ($0["mounts"] as! [[String: Any]])
                        + [["destination": destination, "type": "bind", "source": shared, "options": ["rbind", propagation]]]
                }
            }
            let cases: [(String, (inout [String: Any]) -> Void)] = [
                ("/run rshared", mount("/run", "rshared")),
                ("/./run/ shared", mount("/./run/", "shared")),
                ("/run/secrets rshared", mount("/run/secrets", "rshared")),
                ("rootfsPropagation shared", {
                    RuntimeTests.annotate(shim, "pw")(&$0)
                    var linux = $0["linux"] as! [String: Any]
                    linux["rootfsPropagation"] = "shared"
                    $0["linux"] = linux
                }),
            ]
            for (what, edit) in cases {
                let path = try RootfsTests.makeBundle(in: shim.directory, args: ["cat", "/run/secrets/pw"], edit: edit)
                let config = try Data(contentsOf: URL(fileURLWithPath: path + "/config.json"))
                let id = "shared-\(UUID().uuidString.prefix(8).lowercased())"
                let result = shim(["runtime", "run", "--bundle", path, id])
                _ = shim(["runtime", "delete", "--force", id])
                #expect(result.status == 1, "\(what): \(result.stdout)\(result.stderr)")
                expectOneLineError(result, contains: "propagate")
                #expect(!result.stdout.contains(value))
                #expect(try Data(contentsOf: URL(fileURLWithPath: path + "/config.json")) == config, "\(what): config.json changed")
                expectUntouched(shared)
                expectNothingLeft(shim, what)
                // What a case that was let through left (runc's mount point) goes before the next.
                _ = shell("find '\(shared)' -mindepth 1 -maxdepth 1 -exec umount -l {} \\; 2>/dev/null; rm -rf '\(shared)'/*")
            }
        }

        /// A bundle whose root propagation is `private` or `slave` (not recursive) binds a folder
        /// of a shared host mount: a bind made below it (the secrets dir, a file at an absolute
        /// target) would be a peer of the host's mount, readable there by anyone and left after
        /// `delete` (a fresh-eyes finding). Refused in one line; nothing reaches the host.
        @Test(arguments: ["private", "slave"])
        func aNonRecursiveRootPropagationIsRefused(propagation: String) throws {
            let shim = Shim()
            defer {
                sweep(shim)
                shim.cleanUp()
            }
            shim.create("pw", value)
            let shared = try ContainerAttackTests.sharedFolder(shim, "shared-\(propagation)")
            defer { _ = shell("umount -l '\(shared)'") }
            for (destination, grant) in [("/mnt/vol", "pw,target=/mnt/vol/site.conf"), ("/run", "pw")] {
                let path = try RootfsTests.makeBundle(in: shim.directory, args: ["cat", "/mnt/vol/site.conf"]) {
                    var linux = $0["linux"] as! [String: Any]
                    linux["rootfsPropagation"] = propagation
                    $0["linux"] = linux
                    $0["mounts"] = ($0["mounts"] as! [[String: Any]]) + [["destination": destination, "type": "bind", "source": shared, "options": ["rbind", "rw"]]]
                }
                let result = shim(["runtime", "--secretshim-grant", grant, "run", "--bundle", path, "prop-\(UUID().uuidString.prefix(8).lowercased())"])
                #expect(result.status == 1, "\(destination): \(result.stderr)")
                expectOneLineError(result, contains: "rootfsPropagation is \(propagation)")
                ContainerAttackTests.expectUntouched(shared)
                expectNothingLeft(shim, destination)
            }
        }

        /// A refusal reaches the engine through runc's `--log` file also when secretshim's own
        /// flags come first, as dockerd's `runtimeArgs` put them (`--secretshim-grant SPEC`, the
        /// value as the next argument): otherwise Docker shows only "unable to retrieve OCI
        /// runtime error".
        @Test func refusalsReachTheLogBehindSecretshimFlags() throws {
            let shim = Shim()
            defer {
                sweep(shim)
                shim.cleanUp()
            }
            shim.create("pw", value)
            let path = try RootfsTests.makeBundle(in: shim.directory, args: ["true"]) {
                $0["annotations"] = ["org.secretshim.secrets": "pw"]
            }
            let flagSets = [
                ["--secretshim-grant", "pw,mode=0400"], ["--secretshim-grant=pw,mode=0400"],
                ["--secretshim-root", shim.root, "--secretshim-state-dir", shim.state],
            ]
            for flags in flagSets {
                let log = shim.directory.appendingPathComponent("log-\(UUID().uuidString.prefix(8)).json").path
                let id = "logged-\(UUID().uuidString.prefix(8).lowercased())"
                let result = shim(["runtime"] + flags + ["--log", log, "--log-format", "json", "create", "--bundle", path, id])
                #expect(result.status == 1, "\(flags): \(result.stderr)")
                expectOneLineError(result, contains: "unsigned")
                let logged = (try? Data(contentsOf: URL(fileURLWithPath: log)))
                    .flatMap { try? JSONSerialization.jsonObject(with: $0) as? [String: Any] }
                let level = logged?["level"] as? String
                let message = logged?["msg"] as? String ?? ""
                #expect(level == "error", "\(flags): nothing in the --log file")
                #expect(message.hasPrefix("secretshim: ") && message.contains("unsigned"), "\(flags): --log holds '\(message)'")
                #expect(!Self.runcHas(id))
                expectNothingLeft(shim, "\(flags)")
            }
        }
    }
}
