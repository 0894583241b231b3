import Foundation
import Logging
import SQS
import TestSupport

/// The SQS side of the integration rule (TestSupport's `Integration`): the moto
/// servers' variables, and helpers to reach them.
extension Integration {
    static let plainEndpoint = "LOGINVAULT_TEST_SQS_ENDPOINT"
    static let authEndpoint = "LOGINVAULT_TEST_SQS_AUTH_ENDPOINT"
    static let authKeyId = "LOGINVAULT_TEST_SQS_AUTH_ACCESS_KEY_ID"
    static let authSecret = "LOGINVAULT_TEST_SQS_AUTH_SECRET_ACCESS_KEY"

    /// For `.enabled(if:)`: true when every variable is set, or when integration is required.
    static func enabled(_ names: String...) -> Bool {
        required || names.allSatisfy { !(environment[$0] ?? "").isEmpty }
    }

    /// A variable's value, or an error naming it (reached only when integration is required).
    static func value(_ name: String) throws -> String { try variable(name) }

    /// Configuration for plain moto (any signature is accepted), in us-east-1.
    static func plainConfiguration(endpoint: URL? = nil) throws -> SQSConfiguration {
        SQSConfiguration(
            region: "us-east-1", endpoint: try endpoint ?? URL(string: value(plainEndpoint))!,
            credentials: .init(accessKeyId: "AKIDLOGINVAULTTEST", secretAccessKey: "not-checked-by-plain-moto"))
    }

    /// A unique, valid queue name.
    static func queueName(_ prefix: String) -> String {
        "\(prefix)-\(UUID().uuidString.prefix(8).lowercased())"
    }

    /// Runs `body` with a client and shuts the client down afterwards, whatever happens.
    static func withClient<T: Sendable>(
        _ configuration: SQSConfiguration, retry: RetryPolicy = .default, _ body: (SQSClient) async throws -> T
    ) async throws -> T {
        var logger = Logger(label: "loginvault.sqs.test")
        logger.logLevel = .critical
        let client = SQSClient(configuration: configuration, retry: retry, logger: logger)
        do {
            let result = try await body(client)
            try await client.shutdown()
            return result
        } catch {
            try? await client.shutdown()
            throw error
        }
    }
}
