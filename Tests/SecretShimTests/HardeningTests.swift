import Foundation
import Testing

/// `run`'s defaults and hardening flags against the real kernel, as root.
@Suite(.enabled(if: Shim.isRoot, "run needs root (mount namespaces)"))
struct HardeningTests {
    /// Docker's default set: chown dac_override fowner fsetid kill setgid setuid setpcap
    /// net_bind_service net_raw sys_chroot mknod audit_write setfcap.
    static let dockerDefaultMask = "00000000a80425fb"

    func status(_ result: Shim.Result, _ field: String) -> String? {
        result.stdout.split(separator: "\n").first { $0.hasPrefix(field + ":") }.map {
            $0.dropFirst(field.count + 1).trimmingCharacters(in: .whitespaces)
        }
    }

    @Test func defaultsAreDockersCapabilitiesAndASeccompFilter() {
        let shim = Shim()
        defer { shim.cleanUp() }
        shim.create("pw", "v")
        let result = shim(["run", "--secret", "pw", "--", "cat", "/proc/self/status"])
        #expect(status(result, "Seccomp") == "2")
        #expect(status(result, "CapEff") == Self.dockerDefaultMask)
        #expect(status(result, "CapBnd") == Self.dockerDefaultMask)
        #expect(status(result, "CapAmb") == "0000000000000000")
        #expect(status(result, "NoNewPrivs") == "0")
    }

    @Test func theWorkloadCannotUnmountRemountOrUnshare() {
        let shim = Shim()
        defer { shim.cleanUp() }
        shim.create("pw", "v")
        let attempts = [
            "umount /run/secrets", "umount -l /run/secrets", "mount -o remount,rw /run/secrets",
            "mount -t tmpfs tmpfs /mnt", "unshare -m true", "unshare -U true", "unshare -Ur true",
        ]
        for attempt in attempts {
            let result = shim(["run", "--secret", "pw", "--", "sh", "-c", "\(attempt) 2>/dev/null; echo status=$?"])
            #expect(result.status == 0)
            #expect(!result.stdout.contains("status=0"), "\(attempt) succeeded")
        }
        // Even with every capability added back, the default filter still refuses mounts.
        let allCaps = shim(["run", "--cap-add", "ALL", "--secret", "pw", "--", "sh", "-c", "umount /run/secrets 2>/dev/null; echo status=$?"])
        #expect(!allCaps.stdout.contains("status=0"), "umount succeeded with all capabilities")
        let still = shim(["run", "--cap-add", "ALL", "--secret", "pw", "--", "sh", "-c", "umount /run/secrets 2>/dev/null; cat /run/secrets/pw"])
        #expect(still.stdout == "v")
    }

    @Test func userCannotReadRootOnlySecretButCanReadItsOwn() {
        let shim = Shim()
        defer { shim.cleanUp() }
        shim.create("pw", "for-nobody")
        let denied = shim(["run", "--secret", "pw,mode=0400", "--user", "65534", "--", "cat", "/run/secrets/pw"])
        #expect(denied.status == 1)
        #expect(!denied.stdout.contains("for-nobody"))
        let allowed = shim(["run", "--secret", "pw,mode=0400,uid=65534", "--user", "65534:65534", "--", "cat", "/run/secrets/pw"])
        #expect(allowed.status == 0)
        #expect(allowed.stdout == "for-nobody")
        let named = shim(["run", "--user", "nobody", "--", "sh", "-c", "id -u; id -g; id -G; grep CapEff /proc/self/status"])
        #expect(named.stdout == "65534\n65534\n65534\nCapEff:\t0000000000000000\n")
        // HOME is the user's, from passwd (runc's rule), not the caller's; "/" without an
        // entry; `-e HOME=` still wins.
        let home = { (arguments: [String]) in shim(["run"] + arguments + ["--", "sh", "-c", "echo $HOME"], env: ["HOME": "/root"]).stdout }
        #expect(home(["--user", "nobody"]) == "/nonexistent\n")
        #expect(home(["--user", "4242"]) == "/\n")
        #expect(home(["--user", "nobody", "-e", "HOME=/data"]) == "/data\n")
        #expect(home([]) == "/root\n")
    }

    @Test func capabilityFlagsAndNoNewPrivileges() {
        let shim = Shim()
        defer { shim.cleanUp() }
        let dropped = shim(["run", "--cap-drop", "ALL", "--cap-add", "net_bind_service", "--no-new-privileges", "--", "cat", "/proc/self/status"])
        #expect(status(dropped, "CapEff") == "0000000000000400")
        #expect(status(dropped, "CapBnd") == "0000000000000400")
        #expect(status(dropped, "NoNewPrivs") == "1")
        #expect(status(dropped, "Seccomp") == "2")
        let withoutChown = shim(["run", "--cap-drop", "CAP_CHOWN", "--", "cat", "/proc/self/status"])
        #expect(status(withoutChown, "CapEff") == "00000000a80425fa")
        let privileged = shim(["run", "--privileged", "--", "cat", "/proc/self/status"])
        #expect(status(privileged, "Seccomp") == "0")
        #expect(status(privileged, "CapEff") != Self.dockerDefaultMask)
        let unconfined = shim(["run", "--seccomp", "unconfined", "--", "cat", "/proc/self/status"])
        #expect(status(unconfined, "Seccomp") == "0")
    }

    @Test func dockersOwnDefaultProfileLoadsAndConfines() {
        let shim = Shim()
        defer { shim.cleanUp() }
        shim.create("pw", "v")
        // The Docker-format default profile that Debian ships with podman (containers-common).
        let profile = "/usr/share/containers/seccomp.json"
        let result = shim(["run", "--seccomp", profile, "--secret", "pw", "--", "sh", "-c", "grep Seccomp: /proc/self/status; umount /run/secrets 2>/dev/null; echo umount=$?; unshare -m true 2>/dev/null; echo unshare=$?; cat /run/secrets/pw"])
        #expect(result.status == 0, "\(result.stderr)")
        #expect(result.stdout == "Seccomp:\t2\numount=32\nunshare=1\nv")
        // The profile's rules that depend on capabilities see what the workload holds: with
        // CAP_SYS_ADMIN (named, or through ALL) Docker's profile allows sethostname, tried in a
        // UTS namespace of a user namespace of the workload's own (the host's name is never
        // touched; changing mounts stays forbidden by the workload's Landlock domain).
        let rename = "unshare -U -r -u hostname probe 2>/dev/null; echo sethostname=$?"
        for added in ["SYS_ADMIN", "ALL"] {
            let widened = shim(["run", "--seccomp", profile, "--cap-add", added, "--", "sh", "-c", rename])
            #expect(widened.stdout == "sethostname=0\n", "--cap-add \(added): \(widened.stderr)")
        }
        let narrow = shim(["run", "--seccomp", profile, "--", "sh", "-c", rename])
        #expect(narrow.stdout == "sethostname=1\n", "\(narrow.stderr)")
    }

    static let refused: [([String], String)] = [
        (["--cap-drop", "CAP_BOGUS"], "unknown capability"),
        (["--cap-add", "fly"], "unknown capability"),
        (["--user", "no-such-user"], "unable to find user"),
        (["--user", "1000:no-such-group"], "unable to find group"),
        (["--user", ":1"], "invalid --user"),
        (["--seccomp", "/nonexistent.json"], "No such file"),
        (["--seccomp", "/etc/hostname"], "not a valid profile"),
    ]

    @Test(arguments: refused)
    func badHardeningInputExits125(arguments: [String], message: String) {
        let shim = Shim()
        defer { shim.cleanUp() }
        let result = shim(["run"] + arguments + ["--", "true"])
        #expect(result.status == 125)
        expectOneLineError(result, contains: message)
    }

    @Test func badProfileJSONShapesAreOneLineErrors() throws {
        let shim = Shim()
        defer { shim.cleanUp() }
        let cases = [
            #"{"syscalls": []}"#: "missing key 'defaultAction'",
            #"{"defaultAction": "SCMP_ACT_EXPLODE"}"#: "unknown action",
            #"{"defaultAction": "SCMP_ACT_ALLOW", "syscalls": [{"names": ["mount"], "action": "SCMP_ACT_ERRNO", "args": [{"index": 0, "value": 1, "op": "SCMP_CMP_WEIRD"}]}]}"#: "unknown comparison",
            #"{"defaultAction": 5}"#: "wrong type",
            #"{"defaultAction": "#: "malformed JSON",
        ]
        for (json, message) in cases {
            let path = shim.directory.appendingPathComponent("profile.json").path
            try json.write(toFile: path, atomically: true, encoding: .utf8)
            let result = shim(["run", "--seccomp", path, "--", "true"])
            #expect(result.status == 125)
            expectOneLineError(result, contains: message)
        }
    }
}
