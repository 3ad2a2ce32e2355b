import Foundation
import Testing

/// Races against `run`: a secrets dir swapped for symlinks while the shim resolves it, `secret
/// rm` started together with a workload, and the shim killed at any moment of a launch.
@Suite(.enabled(if: runningAsRoot && hasSetpriv, "needs root and setpriv"))
struct RaceAttacks {
    /// The secrets dir lives in a folder an ordinary user owns, who keeps renaming it and
    /// putting symlinks in its place (to `/`, to a decoy folder, relative and absolute) while
    /// root runs `run --secrets-dir` a hundred times. Whatever the shim resolves, the value
    /// lands in no file, and no mount of it is left on the host.
    @Test func aSecretsDirSwappedForSymlinksUnderTheShim() throws {
        let shim = Shim()
        defer { shim.cleanUp() }
        let value = uniqueValue("swap")
        shim.create("s", value)
        let tmpfs = try PrivateTmpfs(at: shim.path + "/t", options: "size=16m,mode=0755")
        defer { tmpfs.unmount() }
        let t = tmpfs.path
        let dir = t + "/dir"
        #expect(shell("mkdir -p '\(dir)/secrets' '\(t)/decoy' && chown -R 65534:65534 '\(dir)' '\(t)/decoy'").status == 0)
        // A size no other mount has: any mount of ours left on the host would show it.
        let marker = "size=1237k"
        // The attacker: a C loop where gcc is at hand (swapping the folder and a symlink with
        // renameat2(RENAME_EXCHANGE), renaming it away and back), else the same with mv and ln.
        let targets = ["/", "../decoy", t + "/decoy", "/.", "../../../../.."]
        let attacker: Spawned
        if let program = try Self.compileSwapper(in: shim.path) {
            attacker = shim.start(asNobody + [program, dir, t + "/stop"] + targets, executable: "/usr/bin/setpriv")
        } else {
            let attack = """
                cd '\(dir)' || exit 1
                i=0
                while [ $i -lt 100000 ] && [ ! -e '\(t)/stop' ]; do
                  for target in \(targets.map { "'\($0)'" }.joined(separator: " ")); do
                    mv -T secrets x 2>/dev/null || rm -f secrets 2>/dev/null
                    ln -s "$target" secrets 2>/dev/null
                    mv -T secrets y 2>/dev/null
                    mv -T x secrets 2>/dev/null
                    rm -f y 2>/dev/null
                    ln -s "$target" y 2>/dev/null && mv -T y secrets 2>/dev/null
                  done
                  i=$((i+1))
                  echo $i > count
                done
                """
            attacker = shim.start(asNobody + ["/bin/sh", "-c", attack], executable: "/usr/bin/setpriv")
        }
        defer { attacker.stop() }
        #expect(waitUntil(timeout: 10) { FileManager.default.fileExists(atPath: dir + "/count") }, "the attacker never ran: \(attacker.stderr)")

        var outcomes: [Int32: Int] = [:]
        var refusals = Set<String>()
        for _ in 0..<100 {
            let result = shim(["run", "--secret", "s", "--tmpfs-size", "1237k", "--secrets-dir", dir + "/secrets", "--", "true"], timeout: 30)
            outcomes[result.status, default: 0] += 1
            #expect(!result.timedOut)
            expectNoValue(result.output, [value], "run's output")
            if result.status != 0 {
                #expect(result.status == 125, "\(result.stderr)")
                expectOneLineError(result, values: [value])
                refusals.insert(result.stderr.trimmingCharacters(in: .whitespacesAndNewlines))
            }
        }
        #expect(shell("touch '\(t)/stop'").status == 0)
        #expect(attacker.wait(timeout: 10), "the attacker did not stop")
        let rounds = (try? String(contentsOfFile: dir + "/count", encoding: .utf8))?.trimmingCharacters(in: .whitespacesAndNewlines) ?? "?"
        print("secrets dir swap: \(rounds) attacker rounds; run outcomes \(outcomes); refusals: \(refusals.sorted())")

        expectNoFileHolds([value], under: t)
        #expect(!hostMountInfo().contains(marker), "a secrets tmpfs is left on the host: \(hostMountInfo())")
        #expect(mountPoints(under: t) == [t], "mounts under the attacker's tree: \(mountPoints(under: t))")
        #expect(tmpfs.options.split(separator: ",").contains("rw"))
    }

    static let swapperSource = #"""
        #define _GNU_SOURCE
        #include <fcntl.h>
        #include <stdio.h>
        #include <sys/syscall.h>
        #include <time.h>
        #include <unistd.h>
        #ifndef RENAME_EXCHANGE
        #define RENAME_EXCHANGE (1 << 1)
        #endif
        static int exchange(const char *a, const char *b) {
            return (int)syscall(SYS_renameat2, AT_FDCWD, a, AT_FDCWD, b, RENAME_EXCHANGE);
        }
        int main(int argc, char **argv) {
            if (argc < 4 || chdir(argv[1]) != 0) return 1;
            char name[32];
            for (int i = 3; i < argc; i++) {
                snprintf(name, sizeof name, "l%d", i);
                unlink(name);
                if (symlink(argv[i], name) != 0) return 1;
            }
            struct timespec pause = {0, 20000}, started, now;
            clock_gettime(CLOCK_MONOTONIC, &started);
            long rounds = 0;
            for (;;) {
                for (int i = 3; i < argc; i++) {
                    snprintf(name, sizeof name, "l%d", i);
                    exchange("secrets", name);      /* secrets is now the symlink */
                    nanosleep(&pause, NULL);
                    exchange("secrets", name);      /* and the folder again */
                    rename("secrets", "away");      /* gone for a moment */
                    rename("away", "secrets");
                }
                rounds++;
                if (rounds % 64 == 0) {
                    FILE *count = fopen("count", "w");
                    if (count) { fprintf(count, "%ld\n", rounds); fclose(count); }
                    clock_gettime(CLOCK_MONOTONIC, &now);
                    if (access(argv[2], F_OK) == 0 || now.tv_sec - started.tv_sec > 60) break;
                }
            }
            return 0;
        }
        """#

    /// The swapper, compiled with gcc into `directory`; nil where there is no gcc.
    static func compileSwapper(in directory: String) throws -> String? {
        guard shell("command -v gcc").status == 0 else { return nil }
        let source = directory + "/swapper.c", program = directory + "/swapper"
        try swapperSource.write(toFile: source, atomically: true, encoding: .utf8)
        let built = shell("gcc -O2 -o '\(program)' '\(source)' && chmod 755 '\(program)'")
        try #require(built.status == 0, "gcc: \(built.output)")
        return program
    }

    /// `secret rm` and a `run` of the same secret started at once, many times: either the
    /// secret is gone before the workload reads it, or `rm` is refused while it runs. Never
    /// both: a workload printing the value of a secret that `rm` reported removed.
    @Test func secretRmNeverWinsAgainstAStartingRun() throws {
        let shim = Shim()
        defer { shim.cleanUp() }
        let secrets = shim.folder("sd")
        var outcomes = (removedFirst: 0, refused: 0, other: 0)
        for round in 0..<60 {
            let value = uniqueValue("rm\(round)")
            shim.create("s", value)
            let release = shim.path + "/release-\(round)"
            // The workload prints the value and stays alive until `rm` has answered.
            let runArguments = ["run", "--secret", "s", "--secrets-dir", secrets, "--", "/bin/sh", "-c",
                                "cat '\(secrets)/s'; echo; i=0; while [ ! -e '\(release)' ] && [ $i -lt 1000 ]; do sleep 0.01; i=$((i+1)); done"]
            // Either one first, a few milliseconds apart at most.
            let workload: Spawned
            let remover: Spawned
            if round % 2 == 0 {
                workload = shim.start(runArguments)
                usleep(UInt32.random(in: 0...6_000))
                remover = shim.start(["secret", "rm", "s"])
            } else {
                remover = shim.start(["secret", "rm", "s"])
                usleep(UInt32.random(in: 0...6_000))
                workload = shim.start(runArguments)
            }
            let rm = remover.finish(timeout: 30)
            FileManager.default.createFile(atPath: release, contents: nil)
            let run = workload.finish(timeout: 30)
            let printed = run.stdout.contains(value)
            #expect(!(rm.status == 0 && printed), "round \(round): rm removed 's' while a workload held it: rm \(rm.stdout) run \(run.stdout)")
            expectNoValue(rm.output + run.stderr, [value], "rm's or run's messages")
            if rm.status == 0 {
                outcomes.removedFirst += 1
                if run.status != 0 {
                    #expect(run.status == 125, "\(run.stderr)")
                    expectOneLineError(run, values: [value])
                }
            } else if printed {
                outcomes.refused += 1
                expectOneLineError(rm, contains: "in use", values: [value])
                #expect(shim(["secret", "rm", "s"]).status == 0, "round \(round): rm still refused after the workload ended")
            } else {
                outcomes.other += 1
                Issue.record("round \(round): neither removed nor run: rm \(rm.status) \(rm.stderr) run \(run.status) \(run.stderr)")
                _ = shim(["secret", "rm", "s"])
            }
        }
        print("rm against run: \(outcomes)")
    }

    /// The shim killed (SIGKILL) at a random moment of a launch of 100 secrets, 30 times:
    /// no mount of it stays on the host and no value is left under the secrets dir (or
    /// anywhere under the test's folder); the dead workloads' leases block nothing.
    @Test func killNineAtAnyMomentOfAHundredSecretLaunch() throws {
        let shim = Shim()
        defer { shim.cleanUp() }
        var values: [String] = []
        for index in 0..<100 {
            let value = uniqueValue("k\(index)")
            values.append(value)
            shim.create("s\(index)", value)
        }
        let secrets = shim.folder("sd")
        let grants = (0..<100).flatMap { ["--secret", "s\($0)"] }
        let marker = "size=2311k"
        var exitedBeforeKill = 0
        for round in 0..<30 {
            let launch = shim.start(["run", "--tmpfs-size", "2311k", "--secrets-dir", secrets] + grants + ["--", "sleep", "5"])
            usleep(UInt32.random(in: 0...(round < 10 ? 15_000 : 80_000)))
            if !launch.isRunning { exitedBeforeKill += 1 }
            launch.signal(SIGKILL)
            #expect(launch.wait(timeout: 10))
            let result = launch.finish(timeout: 1)
            expectNoValue(result.output, values, "the killed shim's output")
            #expect(mountPoints(under: secrets).isEmpty, "round \(round): a mount at the secrets dir stays: \(mountPoints(under: secrets))")
            #expect((try? FileManager.default.contentsOfDirectory(atPath: secrets)) == [], "round \(round): files in the secrets dir")
        }
        #expect(exitedBeforeKill == 0, "\(exitedBeforeKill) launches ended before the kill")
        #expect(!hostMountInfo().contains(marker), "a secrets tmpfs is left on the host")
        expectNoFileHolds(values, under: shim.path)
        let rm = shim(["secret", "rm", "s0", "s99"])
        #expect(rm.status == 0, "leases of killed shims still hold secrets: \(rm.stderr)")
    }
}
