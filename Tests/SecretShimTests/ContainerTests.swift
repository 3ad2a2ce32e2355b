import Foundation
import Testing

/// Docker and Podman containers through `secretshim-runtime`, and images whose entrypoint is
/// wrapped by `secretshim run`, with the real engines; then what `commit`, `save` and `export`
/// of them hold, according to `secretshim scan`.
@Suite(.enabled(if: Shim.isRoot && Engines.haveDocker, "needs root and docker.io"), .serialized)
struct DockerTests {
    static let value = "docker-secret-value-5f1c2e"

    /// One running container with secrets, one without, one that copies its secret into /root;
    /// what the container sees, what the images hold, what `rm -f` leaves.
    @Test func containersThroughTheRuntimeWrapper() throws {
        let shim = Shim()
        defer { shim.cleanUp() }
        shim.create("pw", Self.value)
        let dockerd = try PrivateDockerd(shim: shim)
        defer { dockerd.stop() }
        #expect(dockerd.docker("import \(try Engines.busyboxTar(in: shim.directory)) bb").status == 0)
        let run = "run --runtime secretshim --network none"

        // Docker 20.10 passes no annotations: the request is the SECRETSHIM_SECRETS variable.
        let seen = dockerd.docker(
            "\(run) --rm -e 'SECRETSHIM_SECRETS=\(shim.signed("pw;pw,target=app/pw,uid=1000,mode=0400")!)' bb sh -c "
                + "'cat /run/secrets/pw; echo; stat -c \"%a %u\" /run/secrets/pw /run/secrets/app/pw; "
                + "grep \" /run/secrets \" /proc/self/mountinfo; touch /run/secrets/x 2>&1; env; true'")
        #expect(seen.status == 0, "\(seen.output)")
        let lines = seen.output.split(separator: "\n").map(String.init)
        #expect(lines.prefix(3) == [Self.value, "444 0", "400 1000"], "\(seen.output)")
        #expect(lines.count > 4 && lines[3].contains(" ro,nosuid,nodev,noexec") && lines[4].contains("Read-only file system"))
        #expect(!seen.output.contains("SECRETSHIM_SECRETS"))
        let plain = dockerd.docker("\(run) --rm bb grep -c ' /run/secrets ' /proc/self/mountinfo")
        #expect(plain.output == "0\n", "a container asking for nothing got a tmpfs: \(plain.output)")
        let refused = dockerd.docker("\(run) --rm -e SECRETSHIM_SECRETS=missing bb true")
        #expect(refused.status != 0 && refused.output.contains("unsigned request"), "\(refused.output)")
        #expect(Engines.leftovers(shim) == [])

        // Running containers, committed, saved and exported: only the one that copied its
        // secret into /root leaks, and scan finds it there and only there.
        let request = shim.signed("pw")!
        let clean = dockerd.docker("\(run) -d -e SECRETSHIM_SECRETS=\(request) bb sleep 300").output.lastLine
        let leaky = dockerd.docker("\(run) -d -e SECRETSHIM_SECRETS=\(request) bb sh -c 'cp /run/secrets/pw /root/copy; sleep 300'").output.lastLine
        #expect(Engines.eventually { dockerd.docker("exec \(leaky) test -f /root/copy").status == 0 })
        #expect(shim(["ps"]).stdout.contains(String(clean.prefix(12))), "no lease for the running container")
        #expect(shim(["secret", "rm", "pw"]).status == 1, "a secret in use by a container was removed")
        let execEnv = dockerd.docker("exec \(clean) env")
        #expect(execEnv.status == 0 && !execEnv.output.contains("SECRETSHIM_SECRETS"), "\(execEnv.output)")
        for (name, container, leaks) in [("clean", clean, false), ("leaky", leaky, true)] {
            let saved = shim.directory.appendingPathComponent("\(name)-save.tar").path
            let exported = shim.directory.appendingPathComponent("\(name)-export.tar").path
            #expect(dockerd.docker("commit \(container) \(name)-image").status == 0)
            #expect(dockerd.docker("save -o \(saved) \(name)-image").status == 0)
            #expect(dockerd.docker("export -o \(exported) \(container)").status == 0)
            for archive in [saved, exported] {
                let scan = shim(["scan", "--format", "json", archive])
                #expect(!scan.stdout.contains(Self.value) && !scan.stderr.contains(Self.value))
                if leaks {
                    #expect(scan.status == 1 && scan.stdout.contains("root/copy") && scan.stdout.contains("\"Secret\":\"pw\""), "\(archive): \(scan.stdout)")
                } else {
                    #expect(scan.status == 0, "\(archive): \(scan.stdout)\(scan.stderr)")
                }
            }
        }
        #expect(dockerd.docker("rm -f \(clean) \(leaky)").status == 0)
        #expect(Engines.eventually { Engines.leftovers(shim).isEmpty }, "after rm -f: \(Engines.leftovers(shim))")
        #expect(shim(["secret", "rm", "pw"]).status == 0)
    }

    /// `update` of a running container: the new set in the container's /run/secrets and in the
    /// host's copy that `rm -f` unmounts, the lease following, nothing left after.
    @Test func anUpdateSwapsARunningContainersSecrets() throws {
        let shim = Shim()
        defer { shim.cleanUp() }
        shim.create("pw", Self.value)
        shim.create("pw2", "rotated-docker-value")
        let dockerd = try PrivateDockerd(shim: shim)
        defer { dockerd.stop() }
        #expect(dockerd.docker("import \(try Engines.busyboxTar(in: shim.directory)) bb").status == 0)
        let container = dockerd.docker(
            "run --runtime secretshim --network none -d -e SECRETSHIM_SECRETS=\(shim.signed("pw")!) bb sleep 300").output.lastLine
        #expect(Engines.eventually { dockerd.docker("exec \(container) cat /run/secrets/pw").output == Self.value })
        let updated = shim(["update", "--secret-rm", "pw", "--secret-add", "pw2,target=app/pw,mode=0400,uid=1000", String(container.prefix(12))])
        #expect(updated.status == 0, "\(updated.stderr)")
        #expect(container.hasPrefix(updated.stdout.trimmingCharacters(in: .whitespacesAndNewlines)))
        let seen = dockerd.docker("exec \(container) sh -c 'cat /run/secrets/app/pw; echo; stat -c \"%a %u\" /run/secrets/app/pw; ls /run/secrets; grep -c \" /run/secrets \" /proc/self/mountinfo'")
        #expect(seen.output == "rotated-docker-value\n400 1000\napp\n1\n", "\(seen.output)")
        #expect(shim(["ps"]).stdout.contains("pw2"))
        #expect(shim(["secret", "rm", "pw"]).status == 0, "a revoked secret can go")
        #expect(shim(["secret", "rm", "pw2"]).status == 1, "a held one cannot")
        #expect(dockerd.docker("rm -f \(container)").status == 0)
        #expect(Engines.eventually { Engines.leftovers(shim).isEmpty }, "after rm -f: \(Engines.leftovers(shim))")
    }

    /// examples/containers/Containerfile: `secretshim run` as the entrypoint of an unprivileged
    /// container, with the engine's tmpfs and the store mounted read-only.
    @Test func aWrappedEntrypointInAnUnprivilegedContainer() throws {
        let shim = Shim()
        defer { shim.cleanUp() }
        shim.create("db_pw", Self.value)
        let dockerd = try PrivateDockerd(shim: shim)
        defer { dockerd.stop() }
        #expect(dockerd.docker("import \(try Engines.busyboxTar(in: shim.directory)) bb").status == 0)
        let context = shim.directory.appendingPathComponent("context").path
        try FileManager.default.createDirectory(atPath: context, withIntermediateDirectories: true)
        // The image needs the fully static build (scripts/test makes it before the tests: a
        // build from inside `swift test` would wait forever for SwiftPM's lock).
        let staticBinary = Shim.staticBinary
        #expect(FileManager.default.isExecutableFile(atPath: staticBinary), "no static build at \(staticBinary): run scripts/build")
        #expect(shell("cp '\(staticBinary)' \(context)/secretshim && cp '\(Shim.packageRoot.path)/examples/containers/Containerfile' \(context)/").status == 0)
        let built = dockerd.docker("build -q --build-arg BASE=bb -t wrapped -f \(context)/Containerfile \(context)")
        #expect(built.status == 0, "\(built.output)")

        // The container gets a store of its own: only db_pw, under a key that is not the host's.
        shim.create("other", "other-secret-value-not-granted")
        let exported = shim.directory.appendingPathComponent("exported").path
        #expect(shim(["secret", "export", "db_pw", "-o", exported]).status == 0)
        let store = "-v \(exported):/var/lib/secretshim:ro"
        let ran = dockerd.docker("run --rm --network none --tmpfs /run/secrets \(store) wrapped")
        #expect(ran.status == 0 && ran.output.contains("db_pw is \(Self.value.utf8.count) bytes, mode 400"), "\(ran.output)")
        let inside = dockerd.docker(
            "run --rm --network none \(store) --entrypoint /usr/local/bin/secretshim wrapped secret ls --format json")
        #expect(inside.output.contains("\"db_pw\"") && !inside.output.contains("other"), "\(inside.output)")
        let hostKey = try Data(contentsOf: URL(fileURLWithPath: shim.root + "/master.key"))
        let exportedKey = try Data(contentsOf: URL(fileURLWithPath: exported + "/master.key"))
        #expect(hostKey != exportedKey, "the exported store carries the host's master key")
        let noTmpfs = dockerd.docker("run --rm --network none \(store) wrapped")
        #expect(noTmpfs.status == 125 && noTmpfs.output.contains("--tmpfs /run/secrets"), "\(noTmpfs.output)")
        #expect(!noTmpfs.output.contains(Self.value))

        let running = dockerd.docker("run -d --network none --tmpfs /run/secrets \(store) --entrypoint /usr/local/bin/secretshim wrapped run --secret db_pw -- sleep 300").output.lastLine
        #expect(Engines.eventually { dockerd.docker("exec \(running) cat /run/secrets/db_pw").output == Self.value })
        let saved = shim.directory.appendingPathComponent("wrapped-save.tar").path
        #expect(dockerd.docker("commit \(running) wrapped-committed").status == 0)
        #expect(dockerd.docker("save -o \(saved) wrapped-committed").status == 0)
        let scan = shim(["scan", saved])
        #expect(scan.status == 0, "\(scan.stdout)\(scan.stderr)")
    }
}

@Suite(.enabled(if: Shim.isRoot && Engines.havePodman, "needs root and podman"), .serialized)
struct PodmanTests {
    static let value = "podman-secret-value-9a7d33"

    @Test func containersThroughTheRuntimeWrapper() throws {
        let shim = Shim()
        defer { shim.cleanUp() }
        shim.create("pw", Self.value)
        let podman = try PrivatePodman(shim: shim)
        defer { podman.stop() }
        #expect(podman.podman("import \(try Engines.busyboxTar(in: shim.directory)) bb").status == 0)
        let run = "run --network none \(podman.ulimits)"

        // Podman 4.3 splits --annotation values on commas: the signed request has none.
        let seen = podman.podman(
            "\(run) --rm --annotation org.secretshim.secrets=\(shim.signed("pw;pw,target=app/pw,uid=1000,mode=0400")!) bb sh -c "
                + "'cat /run/secrets/pw; echo; stat -c \"%a %u\" /run/secrets/pw /run/secrets/app/pw; "
                + "grep \" /run/secrets \" /proc/self/mountinfo; touch /run/secrets/x 2>&1; true'")
        #expect(seen.status == 0, "\(seen.output)")
        let lines = seen.output.split(separator: "\n").map(String.init)
        #expect(lines.prefix(3) == [Self.value, "444 0", "400 1000"], "\(seen.output)")
        #expect(lines.count > 4 && lines[3].contains(" ro,nosuid,nodev,noexec") && lines[4].contains("Read-only file system"))
        // The variable works too, and stays out of the workload's environment.
        let variable = podman.podman("\(run) --rm -e SECRETSHIM_SECRETS=\(shim.signed("pw,mode=0400")!) bb sh -c 'stat -c %a /run/secrets/pw; env'")
        #expect(variable.output.hasPrefix("400\n") && !variable.output.contains("SECRETSHIM_SECRETS"), "\(variable.output)")
        let plain = podman.podman("\(run) --rm bb grep -c ' /run/secrets ' /proc/self/mountinfo")
        #expect(plain.output == "0\n", "a container asking for nothing got a tmpfs: \(plain.output)")
        #expect(Engines.leftovers(shim) == [])

        let request = shim.signed("pw")!
        let clean = podman.podman("\(run) -d --annotation org.secretshim.secrets=\(request) bb sleep 300").output.lastLine
        let leaky = podman.podman("\(run) -d --annotation org.secretshim.secrets=\(request) bb sh -c 'cp /run/secrets/pw /root/copy; sleep 300'").output.lastLine
        #expect(Engines.eventually { podman.podman("exec \(leaky) test -f /root/copy").status == 0 })
        #expect(shim(["ps"]).stdout.contains(String(clean.prefix(12))), "no lease for the running container")
        for (name, container, leaks) in [("clean", clean, false), ("leaky", leaky, true)] {
            let saved = shim.directory.appendingPathComponent("\(name)-save.tar").path
            let exported = shim.directory.appendingPathComponent("\(name)-export.tar").path
            #expect(podman.podman("commit -q \(container) \(name)-image").status == 0)
            // An OCI image layout too, as a directory and as an archive.
            let layout = shim.directory.appendingPathComponent("\(name)-oci").path
            let layoutArchive = shim.directory.appendingPathComponent("\(name)-oci.tar").path
            #expect(podman.podman("save -o \(saved) \(name)-image").status == 0)
            #expect(podman.podman("save --format oci-dir -o \(layout) \(name)-image").status == 0)
            #expect(podman.podman("save --format oci-archive -o \(layoutArchive) \(name)-image").status == 0)
            #expect(podman.podman("export -o \(exported) \(container)").status == 0)
            for archive in [saved, layout, layoutArchive, exported] {
                let scan = shim(["scan", "--format", "json", archive])
                #expect(!scan.stdout.contains(Self.value) && !scan.stderr.contains(Self.value))
                if leaks {
                    #expect(scan.status == 1 && scan.stdout.contains("root/copy"), "\(archive): \(scan.stdout)")
                } else {
                    #expect(scan.status == 0, "\(archive): \(scan.stdout)\(scan.stderr)")
                }
            }
        }
        #expect(podman.podman("rm -f -t 0 \(clean) \(leaky)").status == 0)
        #expect(Engines.eventually { Engines.leftovers(shim).isEmpty }, "after rm -f: \(Engines.leftovers(shim))")
    }
    /// `update` of a running Podman container, as for Docker.
    @Test func anUpdateSwapsARunningContainersSecrets() throws {
        let shim = Shim()
        defer { shim.cleanUp() }
        shim.create("pw", Self.value)
        shim.create("pw2", "rotated-podman-value")
        let podman = try PrivatePodman(shim: shim)
        defer { podman.stop() }
        #expect(podman.podman("import \(try Engines.busyboxTar(in: shim.directory)) bb").status == 0)
        let container = podman.podman(
            "run --network none \(podman.ulimits) -d --annotation org.secretshim.secrets=\(shim.signed("pw")!) bb sleep 300").output.lastLine
        #expect(Engines.eventually { podman.podman("exec \(container) cat /run/secrets/pw").output == Self.value })
        let updated = shim(["update", "--secret-add", "pw2", "--signal", "CONT", container])
        #expect(updated.status == 0, "\(updated.stderr)")
        let seen = podman.podman("exec \(container) sh -c 'cat /run/secrets/pw2; echo; cat /run/secrets/pw'")
        #expect(seen.output == "rotated-podman-value\n\(Self.value)", "\(seen.output)")
        #expect(podman.podman("rm -f -t 0 \(container)").status == 0)
        #expect(Engines.eventually { Engines.leftovers(shim).isEmpty }, "after rm -f: \(Engines.leftovers(shim))")
    }
}

extension String {
    /// The last non-empty line: an ID printed after any warnings.
    var lastLine: String {
        split(separator: "\n").last.map { $0.trimmingCharacters(in: .whitespaces) } ?? ""
    }
}
