// swift-tools-version:6.1
import PackageDescription

// libFuzzer targets for the parsers that read untrusted input (README: Fuzzing). A package of
// its own, so the product's build and its start-up-tuned binary are untouched: `fuzz/build`
// builds it with `-sanitize=fuzzer,address` for every module, the product's too (their
// coverage is what guides libFuzzer).
let root = "secretshim"

/// One fuzz target: an executable whose `LLVMFuzzerTestOneInput` libFuzzer's `main` calls.
func fuzzTarget(_ name: String, _ products: [String], crypto: Bool = false) -> Target {
    var dependencies: [Target.Dependency] = ["FuzzSupport"] + products.map { .product(name: $0, package: root) }
    if crypto { dependencies.append(.product(name: "Crypto", package: "swift-crypto")) }
    return .executableTarget(
        name: name, dependencies: dependencies,
        // No top-level code: libFuzzer provides main.
        swiftSettings: [.unsafeFlags(["-parse-as-library"])])
}

let package = Package(
    name: "secretshim-fuzz",
    dependencies: [
        .package(name: root, path: ".."),
        // The root package's own pin; here only to sign requests with the key (grant-request).
        .package(url: "https://github.com/apple/swift-crypto", exact: "4.5.2"),
        // The root package's own pin; here for the template target's OrderedDictionary.
        .package(url: "https://github.com/apple/swift-collections", exact: "1.6.0"),
    ],
    targets: [
        .target(name: "FuzzSupport"),
        fuzzTarget("secret-spec", ["Launcher", "ContainerRuntime", "SecretStore"]),
        // Compiles the executable's RunArguments.swift, RunOptions.swift and LeadingGlobals.swift (symlinks).
        fuzzTarget("run-arguments", ["Launcher", "SecretStore", "Namespaces"]),
        fuzzTarget("runtime-command-line", ["ContainerRuntime"]),
        fuzzTarget("oci-config", ["ContainerRuntime", "Launcher", "JSON"]),
        fuzzTarget("grant-request", ["ContainerRuntime", "Launcher"], crypto: true),
        fuzzTarget("seccomp-profile", ["Launcher", "JSON"]),
        fuzzTarget("sealed-record", ["SecretStore", "Namespaces"]),
        fuzzTarget("lease", ["SecretStore"]),
        fuzzTarget("user-database", ["Launcher"]),
        fuzzTarget("scan-archive", ["Scanner"]),
        fuzzTarget("etcd-record", ["EtcdStore", "SecretStore", "JSON"]),
        fuzzTarget("compose-project", ["ContainerRuntime", "Launcher", "JSON"]),
        // Compiles the executable's Template.swift and Output.swift (symlinks).
        .executableTarget(
            name: "template",
            dependencies: [
                "FuzzSupport", .product(name: "JSON", package: root), .product(name: "Namespaces", package: root),
                .product(name: "OrderedCollections", package: "swift-collections"),
            ],
            swiftSettings: [.unsafeFlags(["-parse-as-library"])]),
    ]
)
