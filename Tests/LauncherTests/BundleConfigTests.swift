import Foundation
import JSON
import Testing

@testable import Launcher

/// `run --bundle`'s config.json and `run --seccomp FILE`'s profile, read as runc and Docker read
/// them with Go's encoding/json: keys folded, a repeated key refused, errors naming the path.
@Suite struct BundleConfigTests {
    /// A bundle directory holding `config` as its config.json.
    static func bundle(_ config: String) throws -> String {
        let directory = FileManager.default.temporaryDirectory.appendingPathComponent("bundle-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: directory, withIntermediateDirectories: true)
        try Data(config.utf8).write(to: directory.appendingPathComponent("config.json"))
        return directory.path
    }

    @Test func keysAreFoldedAsGoFoldsThem() throws {
        // "PROCESS", "proceſs" (U+017F) and "Root" are runc's process and root fields.
        let config = #"{"proceſs": {"ARGS": ["sh", "-c", "true"], "User": {"UID": 1000, "Gid": 4294967295},"#
            + #" "Rlimits": [{"TYPE": "RLIMIT_NOFILE", "Soft": 1024, "HARD": 18446744073709551615}], "NoNewPrivileges": true},"#
            + #" "Root": {"Path": "/r", "READONLY": true}, "HostName": "h", "LINUX": {"Namespaces": [{"Type": "uts"}],"#
            + #" "Seccomp": {"DefaultAction": "SCMP_ACT_ALLOW", "SysCalls": [{"Names": ["mkdir"], "Action": "SCMP_ACT_ERRNO","#
            + #" "ARGS": [{"Index": 0, "Value": 1, "Op": "SCMP_CMP_EQ"}]}]}}}"#
        let directory = try Self.bundle(config)
        defer { try? FileManager.default.removeItem(atPath: directory) }
        var plan = LaunchPlan()
        try OCIBundle.apply(directory, to: &plan)
        #expect(plan.command == ["sh", "-c", "true"])
        #expect(plan.hardening.user == "1000:4294967295")
        #expect(plan.hardening.noNewPrivileges)
        #expect(plan.resourceLimits.first?.soft == 1024 && plan.resourceLimits.first?.hard == UInt64.max)
        #expect(plan.root?.path == "/r" && plan.root?.readOnly == true && plan.root?.hostname == "h")
        let seccomp = try #require(plan.hardening.bundleSeccomp)
        let filter = try SeccompProfile.filter(from: seccomp.profile, capabilities: [], path: seccomp.path)
        #expect(filter.rules.count == 1 && filter.rules.first?.syscalls == ["mkdir"])
        #expect(filter.rules.first?.arguments.count == 1)
    }

    static let repeated: [(String, String)] = [
        (#"{"process": {"args": ["true"]}, "Process": {"env": []}, "root": {"path": "/"}}"#, "Process"),
        (#"{"root": {"path": "/", "path": "/tmp"}, "process": {"args": ["true"]}}"#, "path"),
        (#"{"root": {"path": "/"}, "mounts": [{"destination": "/a", "DESTINATION": "/b"}]}"#, "DESTINATION"),
    ]

    @Test(arguments: repeated)
    func aRepeatedKeyIsRefusedByName(config: String, key: String) throws {
        let directory = try Self.bundle(config)
        defer { try? FileManager.default.removeItem(atPath: directory) }
        var plan = LaunchPlan()
        #expect {
            try OCIBundle.apply(directory, to: &plan)
        } throws: { error in
            let text = "\(error)"
            return text.hasPrefix("bundle \(directory)/config.json: not a valid OCI config: the key '\(key)' is repeated in one object")
                && !text.contains("\n")
        }
        // A seccomp profile as --seccomp reads it: Docker's decoder is Go's too.
        #expect {
            try SeccompProfile.Profile(document: Array(#"{"defaultAction": "SCMP_ACT_ALLOW", "DefaultAction": "SCMP_ACT_KILL"}"#.utf8))
        } throws: { error in
            "\(error)" == "the key 'DefaultAction' is repeated in one object, which Go's decoder would merge: refused"
        }
    }

    static let misshapen: [(String, String)] = [
        (#"[]"#, "wrong type at ''"),
        (#"{"process": {"user": {"uid": "0", "gid": 0}}}"#, "wrong type at 'process.user.uid'"),
        (#"{"Process": {"User": {"uid": 0, "GID": null}}}"#, "wrong type at 'process.user.gid'"),
        (#"{"process": {"args": ["sh", 1]}}"#, "wrong type at 'process.args.Index 1'"),
        (#"{"linux": {"seccomp": {"defaultAction": "SCMP_ACT_ALLOW", "syscalls": [{"names": ["x"], "action": 5}]}}}"#,
         "wrong type at 'linux.seccomp.syscalls.Index 0.action'"),
        (#"{"process": {"user": {"uid": 4294967296, "gid": 0}}}"#, "not an integer of type UInt32 at 'process.user.uid'"),
        (#"{"process": {"user": {"uid": -1, "gid": 0}}}"#, "not an integer of type UInt32 at 'process.user.uid'"),
        (#"{"process": {"rlimits": [{"type": "RLIMIT_NOFILE", "soft": 1.5, "hard": 2}]}}"#, "not an integer of type UInt64 at 'process.rlimits.Index 0.soft'"),
        (#"{"root": {}}"#, "missing key 'path'"),
        (#"{"root": "#, "malformed JSON at byte 9: unexpected end"),
    ]

    @Test(arguments: misshapen)
    func aWrongShapeNamesItsPath(config: String, message: String) throws {
        let directory = try Self.bundle(config)
        defer { try? FileManager.default.removeItem(atPath: directory) }
        var plan = LaunchPlan()
        #expect {
            try OCIBundle.apply(directory, to: &plan)
        } throws: { error in
            "\(error)" == "bundle \(directory)/config.json: not a valid OCI config: \(message)"
        }
    }

    @Test func absentAndNullOptionalFieldsAreNil() throws {
        let profile = try SeccompProfile.Profile(
            document: Array(#"{"defaultAction": "SCMP_ACT_ERRNO", "defaultErrnoRet": -1, "syscalls": null, "archMap": [{"architecture": "SCMP_ARCH_X86_64"}]}"#.utf8))
        #expect(profile.defaultErrnoRet == -1 && profile.syscalls == nil && profile.architectures == nil)
        #expect(profile.archMap?.first?.subArchitectures == nil)
        #expect {
            try SeccompProfile.Profile(document: Array(#"{"syscalls": []}"#.utf8))
        } throws: { error in
            "\(error)" == "missing key 'defaultAction'"
        }
    }
}
