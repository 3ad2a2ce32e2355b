// swift-tools-version:6.1
import PackageDescription

// Four layers, each importing only those below it (see ../shared/STYLE.md):
//   CLinux (C)  ->  Namespaces  ->  SecretStore, EtcdStore, Launcher, Scanner, ContainerRuntime, JSON
//   (domain)  ->  SecretShim (commands)
// The domain has its own C shims: CSQLite (system SQLite) and CSealing (BoringSSL's AEAD).
// Every command reads and changes secrets through SecretStore's `SecretSource` protocol (the
// local store, or EtcdStore's, which only the commands layer links and opens), and
// every mode stages its tmpfs through Namespaces' `SecretsMount.stage`.
// JSON is the one reader and writer of JSON text (OCI documents as written or read into typed
// fields as Go reads them, the commands' output, the escaped forms `scan` looks for), on
// swift-collections' OrderedDictionary.
// System libraries are `.systemLibrary` targets so their `link` lines land inside the
// linker's group, which is what a fully static build needs.
let package = Package(
    name: "secretshim",
    products: [
        .executable(name: "secretshim", targets: ["SecretShim"]),
        // The etcd client, a program of its own installed beside secretshim, so that NIO's code
        // is on no path of the local store (EtcdStore's EtcdClient starts it).
        .executable(name: "secretshim-etcd", targets: ["EtcdGateway"]),
        // TOML (the configuration file) and YAML (Compose files) to JSON, a program of its own
        // for the same reason: both libraries import Foundation (DocumentReader/main.swift).
        .executable(name: "secretshim-documents", targets: ["DocumentReader"]),
        // Libraries only for fuzz/Package.swift, whose targets link the parsers under
        // libFuzzer and ASan without touching this package's build.
        .library(name: "Namespaces", targets: ["Namespaces"]),
        .library(name: "SecretStore", targets: ["SecretStore"]),
        .library(name: "Launcher", targets: ["Launcher"]),
        .library(name: "ContainerRuntime", targets: ["ContainerRuntime"]),
        .library(name: "Scanner", targets: ["Scanner"]),
        .library(name: "JSON", targets: ["JSON"]),
        .library(name: "EtcdStore", targets: ["EtcdStore"]),
    ],
    dependencies: [
        .package(url: "https://github.com/apple/swift-argument-parser", exact: "1.8.2"),
        .package(url: "https://github.com/apple/swift-crypto", exact: "4.5.2"),
        .package(url: "https://github.com/apple/swift-collections", exact: "1.6.0"),
        // The etcd store's client: etcd's JSON gateway over HTTPS (mutual TLS), off the local
        // store's path (only `EtcdStore` links it).
        .package(url: "https://github.com/swift-server/async-http-client", exact: "1.37.0"),
        .package(url: "https://github.com/apple/swift-nio", exact: "2.101.3"),
        .package(url: "https://github.com/apple/swift-nio-ssl", exact: "2.37.6"),
        // The configuration file (TOML) and Compose files (YAML), read by secretshim-documents.
        .package(url: "https://github.com/LebJe/TOMLKit", exact: "0.6.0"),
        .package(url: "https://github.com/jpsim/Yams", exact: "6.2.2"),
    ],
    targets: [
        .systemLibrary(name: "CSQLite", path: "Sources/CSQLite"),
        .systemLibrary(name: "CCap", path: "Sources/CCap"),
        .systemLibrary(name: "CSeccomp", path: "Sources/CSeccomp"),
        .systemLibrary(name: "CArchive", path: "Sources/CArchive"),
        .target(name: "CLinux", dependencies: ["CCap", "CSeccomp"], path: "Sources/CLinux"),
        // scan's C: libarchive's tar walk and the multi-pattern matcher (not kernel work).
        .target(name: "CScanning", dependencies: ["CArchive"], path: "Sources/CScanning"),
        // The store's AES-GCM in C, on the BoringSSL that swift-crypto builds and links (CSealing.h says why).
        .target(name: "CSealing", dependencies: [.product(name: "Crypto", package: "swift-crypto")], path: "Sources/CSealing"),
        .target(name: "Namespaces", dependencies: ["CLinux", "CCap", "CSeccomp"]),
        .target(name: "SecretStore", dependencies: ["Namespaces", "CSQLite", "CSealing"]),
        .target(name: "Launcher", dependencies: ["Namespaces", "SecretStore", "JSON"]),
        .target(name: "JSON", dependencies: [.product(name: "OrderedCollections", package: "swift-collections")]),
        // The store on etcd: the second `SecretSource`, sealed on the client as the local one,
        // its holders published by `secretshim node`; its requests made by secretshim-etcd.
        .target(name: "EtcdStore", dependencies: ["Namespaces", "SecretStore", "JSON"]),
        .executableTarget(
            name: "EtcdGateway",
            dependencies: [
                "EtcdStore", "Namespaces", "SecretStore", "JSON",
                .product(name: "AsyncHTTPClient", package: "async-http-client"),
                .product(name: "NIOCore", package: "swift-nio"),
                .product(name: "NIOPosix", package: "swift-nio"),
                .product(name: "NIOSSL", package: "swift-nio-ssl"),
            ]),
        .executableTarget(
            name: "DocumentReader",
            dependencies: [
                "JSON", .product(name: "TOMLKit", package: "TOMLKit"), .product(name: "Yams", package: "Yams"),
            ]),
        .target(name: "Scanner", dependencies: ["Namespaces", "CScanning", "CArchive", "JSON"]),
        .target(
            name: "ContainerRuntime",
            dependencies: ["Namespaces", "SecretStore", "Launcher", "JSON", .product(name: "Crypto", package: "swift-crypto")]),
        .executableTarget(
            name: "SecretShim",
            dependencies: [
                "Namespaces", "SecretStore", "Launcher", "Scanner", "ContainerRuntime", "JSON", "EtcdStore",
                .product(name: "ArgumentParser", package: "swift-argument-parser"),
                .product(name: "OrderedCollections", package: "swift-collections"),
            ]),
        // Unit tests, in process, one target per module (Tests/<Module>Tests).
        // The syscall choke point, root-owned paths (as root), byte-wise affixes.
        .testTarget(name: "NamespacesTests", dependencies: ["Namespaces"]),
        // Sealing, the launch index's and the lease's byte formats, secret names and IDs.
        .testTarget(
            name: "SecretStoreTests",
            dependencies: [
                "SecretStore", "Namespaces",
                // Only to check that the store's sealing agrees with swift-crypto's AES.GCM.
                .product(name: "Crypto", package: "swift-crypto"),
            ]),
        // `--secret` grants, `--user`, capability names, the environment, workload names,
        // `--bundle`'s config.json and `--seccomp`'s profile as Go reads them.
        .testTarget(name: "LauncherTests", dependencies: ["Launcher", "Namespaces", "JSON"]),
        // runc's command line, config.json as runc reads it, the operator's signed requests.
        .testTarget(name: "ContainerRuntimeTests", dependencies: ["ContainerRuntime", "Launcher", "JSON"]),
        // The matcher and the walk, against a naive search (in process, no root needed).
        .testTarget(name: "ScannerTests", dependencies: ["Scanner", "Namespaces"]),
        // The JSON writer's layouts and escaping styles.
        .testTarget(name: "JSONTests", dependencies: ["JSON"]),
        // The commands' own logic in process: `run`'s option table and parser (the executable
        // target, imported @testable, as SwiftPM allows on Linux).
        .testTarget(name: "CommandsTests", dependencies: ["SecretShim", "Launcher", "Namespaces"]),
        // The integration tests: the built binary against the real kernel and engines (as root).
        .testTarget(name: "SecretShimTests", dependencies: ["SecretStore", "Namespaces", "Launcher"]),
        // The adversarial suite: every attack on `run`'s promises, kept as a test (real kernel, as root).
        .testTarget(name: "AttackTests", dependencies: [], exclude: ["Fixtures"]),
    ]
)
