import Foundation
import Testing

/// `secretshim compose` with Debian's docker-compose 1.29 against a private dockerd, and with
/// podman-compose against a private Podman: the seed's example (redis reading its password
/// from `REDIS_PASS_FILE`), a secret with `uid: "999"`, `gid: "999"`, `mode: 0400` checked
/// from inside, no bind mount of the host file, and the project's lifecycle (up twice, a
/// changed secret refused while held, down, up again with the new value).
@Suite(.enabled(if: Shim.isRoot && Engines.haveDocker, "needs root and docker"), .serialized)
struct ComposeTests {
    static let composeFile = """
        version: "3.8"
        services:
          redis:
            image: redisimg
            network_mode: NETWORK
            environment:
              REDIS_PASS_FILE: /run/secrets/redis_password
            # The password reaches redis-server through a pipe: never argv or the environment.
            command: ["sh", "-c", "printf 'requirepass %s\\\\nport 6390\\\\nbind 127.0.0.1\\\\nsave \\"\\"\\\\n' \\"$$(cat $$REDIS_PASS_FILE)\\" | redis-server -"]
            secrets:
              - redis_password
          app:
            image: redisimg
            network_mode: NETWORK
            user: "999:999"
            command: ["sh", "-c", "stat -c '%a %u %g' /run/secrets/db; cat /run/secrets/db; echo; stat -c '%a %u %g' /run/secrets/by_name; stat -c '%a %u' /etc/db.conf; cat /etc/db.conf; echo; sleep 600"]
            secrets:
              - source: db
                target: db
                uid: "999"
                gid: "999"
                mode: 0400
              # Owners by name, from the image's own passwd and group.
              - source: db
                target: by_name
                uid: app
                gid: app
                mode: 0440
              # An absolute target outside /run/secrets, bound over a file of the container.
              - source: db
                target: /etc/db.conf
                uid: "999"
                mode: 0400
        secrets:
          redis_password:
            file: ./redis_password.txt
          db:
            environment: DB_PASSWORD

        """

    /// A project folder `proj` with the Compose file (for `network`) and the password file.
    static func project(in shim: Shim, network: String?, password: String) throws -> String {
        let folder = shim.directory.appendingPathComponent("proj").path
        try FileManager.default.createDirectory(atPath: folder, withIntermediateDirectories: true)
        var text = composeFile
        if let network { text = text.replacingOccurrences(of: "NETWORK", with: network) } else {
            text = text.split(separator: "\n", omittingEmptySubsequences: false).filter { !$0.contains("network_mode") }.joined(separator: "\n")
        }
        try text.write(toFile: folder + "/docker-compose.yml", atomically: true, encoding: .utf8)
        try password.write(toFile: folder + "/redis_password.txt", atomically: true, encoding: .utf8)
        return folder
    }

    /// An image with busybox, redis-server and redis-cli (the host's, with their libraries).
    static func redisImage(in directory: URL) throws -> String {
        let root = try RootfsTests.makeRootfs(at: directory.appendingPathComponent("redis-image"))
        let copied = shell("""
            set -e
            mkdir -p '\(root)/usr/bin' '\(root)/run' '\(root)/root'
            cp /usr/bin/redis-server /usr/bin/redis-cli '\(root)/usr/bin/'
            for lib in $(ldd /usr/bin/redis-server /usr/bin/redis-cli | grep -o '/[^ :]*' | sort -u); do
              mkdir -p "\(root)$(dirname "$lib")"; cp -L "$lib" "\(root)$lib"
            done
            ln -sf busybox '\(root)/bin/printf'
            tar -C '\(root)' -cf '\(directory.path)/redis.tar' .
            """)
        try #require(copied.status == 0, "\(copied.output)")
        return directory.path + "/redis.tar"
    }

    /// `secretshim compose ARGS` in `folder`, with `env`.
    static func compose(_ shim: Shim, _ folder: String, _ arguments: String, env: [String: String]) -> (status: Int32, output: String) {
        var exports = "export SECRETSHIM_ROOT='\(shim.root)' SECRETSHIM_STATE_DIR='\(shim.state)' DB_PASSWORD='db-\(folder.count)-pw'"
        for (key, value) in env { exports += " \(key)='\(value)'" }
        return shell("\(exports); cd '\(folder)' && '\(Shim.binary)' compose \(arguments)")
    }

    /// The checks both engines share, `engine` running the engine's own CLI.
    static func checkProject(_ shim: Shim, folder: String, composeArguments: String, env: [String: String], prefix: String, engine: (String) -> (status: Int32, output: String)) throws {
        let up = compose(shim, folder, "\(composeArguments) up -d", env: env)
        try #require(up.status == 0, "\(up.output)")
        #expect(up.output.contains("secretshim: compose: imported secret proj_redis_password"), "\(up.output)")
        let app = "proj\(prefix)app\(prefix)1", redis = "proj\(prefix)redis\(prefix)1"
        #expect(Engines.eventually(20) { engine("logs \(app)").output.split(separator: "\n").count >= 5 }, "\(engine("logs \(app)").output)")
        let logs = engine("logs \(app)").output
        #expect(logs.contains("400 999 999\ndb-\(folder.count)-pw\n440 1000 1000\n400 999\ndb-\(folder.count)-pw"), "\(logs)")
        #expect(Engines.eventually(20) { engine("exec \(redis) redis-cli -p 6390 ping").output.contains("NOAUTH") })
        let authed = engine("exec \(redis) sh -c 'REDISCLI_AUTH=$(cat /run/secrets/redis_password) redis-cli -p 6390 ping'")
        #expect(authed.output.contains("PONG"), "\(authed.output)")
        // No bind mount of the host file: nothing of the project folder is mounted.
        for container in [app, redis] {
            let mounts = engine("inspect \(container) --format '{{json .Mounts}}'")
            #expect(mounts.status == 0 && !mounts.output.contains("redis_password.txt") && !mounts.output.contains(folder), "\(mounts.output)")
        }
        // The rewritten files are gone with the command; the store holds the imports.
        // (The project's lock file stays, empty.)
        let left = ((try? FileManager.default.contentsOfDirectory(atPath: shim.state + "/compose")) ?? []).filter { !$0.hasSuffix(".lock") }
        #expect(left.isEmpty, "\(left)")
        let listed = shim(["secret", "ls", "--filter", "label=com.docker.compose.project=proj", "--format", "json"])
        #expect(listed.stdout.contains("\"proj_db\"") && listed.stdout.contains("\"proj_redis_password\""), "\(listed.stdout)")
        let before = shim(["secret", "inspect", "proj_redis_password"]).stdout

        // Unchanged: nothing to import, nothing recreated.
        let again = compose(shim, folder, "\(composeArguments) up -d", env: env)
        #expect(again.status == 0 && !again.output.contains("imported") && !again.output.contains("replaced"), "\(again.output)")
        // Changed while the project runs: refused in one line, the store as it was.
        try "changed-password".write(toFile: folder + "/redis_password.txt", atomically: true, encoding: .utf8)
        let refused = compose(shim, folder, "\(composeArguments) up -d", env: env)
        #expect(refused.status == 1 && refused.output.contains("secret 'proj_redis_password' changed, but"), "\(refused.output)")
        #expect(refused.output.split(separator: "\n").count == 1, "\(refused.output)")
        #expect(shim(["secret", "inspect", "proj_redis_password"]).stdout == before)
        // down, then up: replaced, and the new container reads the new value.
        let down = compose(shim, folder, "\(composeArguments) down", env: env)
        #expect(down.status == 0, "\(down.output)")
        #expect(Engines.eventually(20) { !shim(["ps"]).stdout.contains("proj_") }, "\(shim(["ps"]).stdout)")
        let replaced = compose(shim, folder, "\(composeArguments) up -d", env: env)
        #expect(replaced.status == 0 && replaced.output.contains("replaced secret proj_redis_password"), "\(replaced.output)")
        #expect(Engines.eventually(20) {
            engine("exec \(redis) sh -c 'REDISCLI_AUTH=changed-password redis-cli -p 6390 ping'").output.contains("PONG")
        })
        #expect(compose(shim, folder, "\(composeArguments) down", env: env).status == 0)
    }

    @Test func dockerComposeGetsOwnerModeAndNoBindMount() throws {
        try #require(shell("command -v docker-compose").status == 0, "docker-compose is not installed (scripts/setup)")
        let shim = Shim()
        defer { shim.cleanUp() }
        let dockerd = try PrivateDockerd(shim: shim)
        defer { dockerd.stop() }
        #expect(dockerd.docker("import \(try Self.redisImage(in: shim.directory)) redisimg").status == 0)
        let folder = try Self.project(in: shim, network: "none", password: "redis-pw-\(UUID().uuidString)")
        let env = ["DOCKER_HOST": "unix://\(dockerd.socket)"]

        // config: the rewritten file, which no longer has secrets: and carries the requests.
        let config = Self.compose(shim, folder, "config", env: env)
        #expect(config.status == 0 && config.output.contains("\"SECRETSHIM_SECRETS\": \"unsigned: proj_db,target=db,uid=999,gid=999,mode=0400;proj_db,target=by_name,uid=app,gid=app,mode=0440;proj_db,target=/etc/db.conf,uid=999,mode=0400\""), "\(config.output)")
        #expect(!config.output.contains("\"secrets\""), "\(config.output)")
        #expect(shim(["secret", "ls", "-q"]).stdout.isEmpty, "config imported something")

        try Self.checkProject(shim, folder: folder, composeArguments: "--engine docker", env: env, prefix: "_") { dockerd.docker($0) }
        #expect(Engines.leftovers(shim).isEmpty, "\(Engines.leftovers(shim))")
    }

    @Test(.enabled(if: Engines.havePodman, "needs podman"))
    func podmanComposeGetsOwnerModeAndNoBindMount() throws {
        try #require(shell("command -v podman-compose").status == 0, "podman-compose is not installed (scripts/setup)")
        let shim = Shim()
        defer { shim.cleanUp() }
        // podman-compose runs podman as it finds it: the private roots, runtime and network
        // folder come from containers.conf and storage.conf.
        let podmanDirectory = shim.directory.appendingPathComponent("podman").path
        let runRoot = "/run/sspc-" + UUID().uuidString.prefix(8).lowercased()
        try FileManager.default.createDirectory(atPath: podmanDirectory + "/cni", withIntermediateDirectories: true)
        let runtime = try Engines.runtimeWrapper(for: shim)
        try """
            [containers]
            default_ulimits = ["nofile=20000:20000", "nproc=32768:32768"]
            [engine]
            cgroup_manager = "cgroupfs"
            events_logger = "file"
            runtime = "runc"
            [engine.runtimes]
            secretshim = ["\(runtime)"]
            [network]
            network_config_dir = "\(podmanDirectory)/cni"

            """.write(toFile: podmanDirectory + "/containers.conf", atomically: true, encoding: .utf8)
        try "[storage]\ndriver = \"overlay\"\ngraphroot = \"\(podmanDirectory)/root\"\nrunroot = \"\(runRoot)\"\n"
            .write(toFile: podmanDirectory + "/storage.conf", atomically: true, encoding: .utf8)
        let env = ["CONTAINERS_CONF": podmanDirectory + "/containers.conf", "CONTAINERS_STORAGE_CONF": podmanDirectory + "/storage.conf"]
        let podman = { (arguments: String) in
            shell("CONTAINERS_CONF='\(env["CONTAINERS_CONF"]!)' CONTAINERS_STORAGE_CONF='\(env["CONTAINERS_STORAGE_CONF"]!)' podman \(arguments)")
        }
        defer {
            _ = podman("rm -af -t 0")
            _ = podman("system reset -f")
            _ = shell("rm -rf \(runRoot)")
        }
        #expect(podman("import \(try Self.redisImage(in: shim.directory)) redisimg").status == 0)
        // podman-compose 1.0.3 adds its default network to every service (network_mode: none
        // is refused by podman beside it): the services use that network.
        let folder = try Self.project(in: shim, network: nil, password: "redis-pw-\(UUID().uuidString)")
        try Self.checkProject(shim, folder: folder, composeArguments: "--engine podman", env: env, prefix: "_", engine: podman)
        #expect(Engines.leftovers(shim).isEmpty, "\(Engines.leftovers(shim))")
    }

    static let laughs: String = {
        var text = "l0: &l0 [x, x, x, x, x, x, x, x, x]\n"
        for level in 1...9 { text += "l\(level): &l\(level) [" + Array(repeating: "*l\(level - 1)", count: 9).joined(separator: ", ") + "]\n" }
        return text
    }()
}
