// swift-tools-version:6.1
import PackageDescription

/// loginvault: moves login events from SQS into PostgreSQL, where they are masked.
///
/// Targets, from the bottom up; each one has its own test target:
/// - `CLibPQ`: the system library (libpq, from `libpq-dev`).
/// - `Postgres`: a small, safe Swift wrapper over libpq.
/// - `SigV4`: AWS Signature Version 4 signing.
/// - `SQS`: an SQS client over the AWS JSON 1.0 protocol.
/// - `LoginVault`: the jobs (`migrate`, `load`), knowing both sides, and what an operator
///   watches them by (`Observability/`: metrics, health probes, JSON logs).
/// - `loginvault`: the command line, thin.
let package = Package(
    name: "loginvault",
    platforms: [.macOS(.v14)],
    products: [
        .executable(name: "loginvault", targets: ["loginvault"]),
        .library(name: "LoginVault", targets: ["LoginVault"]),
    ],
    dependencies: [
        .package(url: "https://github.com/apple/swift-argument-parser.git", from: "1.5.0"),
        .package(url: "https://github.com/apple/swift-log.git", from: "1.6.0"),
        .package(url: "https://github.com/apple/swift-crypto.git", "3.12.3"..<"5.0.0"),
        .package(url: "https://github.com/swift-server/async-http-client.git", from: "1.37.0"),
        .package(url: "https://github.com/apple/swift-nio.git", from: "2.100.0"),
        .package(url: "https://github.com/apple/swift-async-algorithms.git", from: "1.0.0"),
        .package(url: "https://github.com/swift-server/swift-service-lifecycle.git", from: "2.6.0"),
        // `load --metrics-address`: the instruments (swift-metrics) and their Prometheus exposition.
        .package(url: "https://github.com/apple/swift-metrics.git", from: "2.13.0"),
        .package(url: "https://github.com/swift-server/swift-prometheus.git", from: "2.4.1"),
        // Tests only: reading docker-compose.yml.
        .package(url: "https://github.com/jpsim/Yams.git", from: "6.0.0"),
    ],
    targets: [
        .systemLibrary(
            name: "CLibPQ",
            pkgConfig: "libpq",
            providers: [.apt(["libpq-dev"])]
        ),
        .target(
            name: "Postgres",
            dependencies: ["CLibPQ"]
        ),
        .target(
            name: "SigV4",
            dependencies: [.product(name: "Crypto", package: "swift-crypto")]
        ),
        .target(
            name: "SQS",
            dependencies: [
                "SigV4",
                .product(name: "AsyncHTTPClient", package: "async-http-client"),
                .product(name: "NIOCore", package: "swift-nio"),
                .product(name: "NIOPosix", package: "swift-nio"),
                .product(name: "NIOHTTP1", package: "swift-nio"),
                .product(name: "NIOConcurrencyHelpers", package: "swift-nio"),
                .product(name: "NIOFoundationCompat", package: "swift-nio"),
                .product(name: "Crypto", package: "swift-crypto"),
                .product(name: "Logging", package: "swift-log"),
                .product(name: "CoreMetrics", package: "swift-metrics"),
            ]
        ),
        .target(
            name: "LoginVault",
            dependencies: [
                "Postgres",
                "SQS",
                .product(name: "NIOCore", package: "swift-nio"),
                .product(name: "NIOPosix", package: "swift-nio"),
                .product(name: "NIOHTTP1", package: "swift-nio"),
                .product(name: "AsyncAlgorithms", package: "swift-async-algorithms"),
                .product(name: "Crypto", package: "swift-crypto"),
                .product(name: "Logging", package: "swift-log"),
                .product(name: "CoreMetrics", package: "swift-metrics"),
                .product(name: "Prometheus", package: "swift-prometheus"),
            ]
        ),
        .executableTarget(
            name: "loginvault",
            dependencies: [
                "LoginVault",
                "SQS",
                "Postgres",
                .product(name: "ArgumentParser", package: "swift-argument-parser"),
                .product(name: "UnixSignals", package: "swift-service-lifecycle"),
                .product(name: "Logging", package: "swift-log"),
                .product(name: "CoreMetrics", package: "swift-metrics"),
            ]
        ),
        // Shared by the test targets: which servers are there, scratch databases.
        // Also an HTTP proxy on loopback (LoopbackHTTPProxy), for the proxies that get between
        // a client and SQS in the tests: FaultInjectingProxy (chaos) and SQSTests' FaultProxy.
        .target(name: "TestSupport", dependencies: [
            "Postgres",
            .product(name: "AsyncHTTPClient", package: "async-http-client"),
            .product(name: "NIOCore", package: "swift-nio"),
            .product(name: "NIOPosix", package: "swift-nio"),
            .product(name: "NIOHTTP1", package: "swift-nio"),
            .product(name: "NIOConcurrencyHelpers", package: "swift-nio"),
        ], path: "Tests/TestSupport"),
        .testTarget(name: "PostgresTests", dependencies: ["Postgres", "TestSupport"]),
        .testTarget(
            name: "SigV4Tests",
            dependencies: ["SigV4"],
            exclude: ["Fixtures", "botocore_sign.py"]  // read at test time via #filePath
        ),
        .testTarget(
            name: "SQSTests",
            dependencies: [
                "SQS",
                "SigV4",
                "TestSupport",
                .product(name: "AsyncHTTPClient", package: "async-http-client"),
                .product(name: "NIOCore", package: "swift-nio"),
                .product(name: "NIOPosix", package: "swift-nio"),
                .product(name: "NIOHTTP1", package: "swift-nio"),
                .product(name: "NIOConcurrencyHelpers", package: "swift-nio"),
                .product(name: "Logging", package: "swift-log"),
            ]
        ),
        .testTarget(
            name: "LoginVaultTests",
            dependencies: ["LoginVault", "loginvault", "TestSupport", .product(name: "Yams", package: "Yams"),
                           .product(name: "AsyncHTTPClient", package: "async-http-client"),
                           .product(name: "NIOCore", package: "swift-nio"),
                           .product(name: "CoreMetrics", package: "swift-metrics")],
            exclude: ["Hostile/corpus.json"]  // the hostile-input corpus, read at test time via #filePath
        ),
    ],
    swiftLanguageModes: [.v6]
)
