import Foundation

/// Tells integration tests whether the real servers they need are there.
///
/// `make test` starts a private PostgreSQL and moto_servers and sets
/// `LOGINVAULT_REQUIRE_INTEGRATION=1`: then a missing server is a failure, not
/// a skip. A bare `swift test` without them skips the integration tests.
public enum Integration {
    public static let environment = ProcessInfo.processInfo.environment

    /// Whether `make test` (or CI) demands the integration tests run.
    public static var required: Bool { environment["LOGINVAULT_REQUIRE_INTEGRATION"] == "1" }

    /// Whether a PostgreSQL server is configured (`PG*` or `DATABASE_URL`), or required.
    public static var postgres: Bool {
        required || environment["PGHOST"] != nil || environment["PGSERVICE"] != nil
            || environment["DATABASE_URL"] != nil
    }

    /// Whether a moto SQS endpoint is configured, or required.
    public static var sqs: Bool { required || environment["LOGINVAULT_TEST_SQS_ENDPOINT"] != nil }

    /// The root of the repository (for `sql/`, `examples/`, scripts).
    public static let repositoryRoot: URL = {
        var url = URL(fileURLWithPath: #filePath)
        for _ in 0..<3 { url.deleteLastPathComponent() }
        return url
    }()

    /// A value of the environment that a required test cannot do without.
    public static func variable(_ name: String) throws -> String {
        guard let value = environment[name], !value.isEmpty else {
            throw MissingIntegrationVariable(name: name)
        }
        return value
    }
}

/// A variable that the integration tests need is not set.
public struct MissingIntegrationVariable: Error, CustomStringConvertible {
    public let name: String
    public var description: String {
        "\(name) is not set: run the integration tests through `make test` (scripts/with-servers.sh)"
    }
}
