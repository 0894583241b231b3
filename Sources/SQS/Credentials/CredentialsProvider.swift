import Foundation
import SigV4

/// Something that hands out the AWS credentials to sign the next request with.
///
/// Implementations are cheap to call per request: they return cached credentials and fetch new
/// ones only when needed (see `RefreshingCredentialsProvider`).
public protocol CredentialsProvider: Sendable {
    /// The credentials to sign with now. `rejected` names credentials the service just refused
    /// as expired (`ExpiredToken`): if they are still the current ones, new ones are fetched
    /// even though they looked valid (one fetch however many requests report them).
    func credentials(rejected: AWSCredentials?) async throws -> AWSCredentials
    /// Where the credentials come from, for logs and errors (never a secret).
    var source: String { get }
}

extension CredentialsProvider {
    public func credentials() async throws -> AWSCredentials {
        try await credentials(rejected: nil)
    }
}

/// Credentials that never change (keys from the environment or a profile).
public struct StaticCredentialsProvider: CredentialsProvider {
    public let value: AWSCredentials
    public let source: String

    public init(_ credentials: AWSCredentials, source: String) {
        self.value = credentials
        self.source = source
    }

    public func credentials(rejected: AWSCredentials?) async throws -> AWSCredentials { value }
}

/// Credentials and, for temporary ones, when they stop working.
public struct ExpiringCredentials: Sendable {
    public var credentials: AWSCredentials
    public var expiration: Date?

    public init(_ credentials: AWSCredentials, expiration: Date?) {
        self.credentials = credentials
        self.expiration = expiration
    }
}

/// Credentials could not be had: a provider is misconfigured, its endpoint failed, or temporary
/// credentials expired and could not be refreshed. The message says what to do; it never holds
/// a secret.
public struct CredentialsError: Error, Sendable, CustomStringConvertible {
    public var description: String
    /// Whether trying again later may help (an endpoint that failed), as opposed to a
    /// configuration that will fail the same way every time.
    public var isTransient: Bool

    public init(_ description: String, transient: Bool = false) {
        self.description = description
        self.isTransient = transient
    }
}

/// Timestamps in the credentials answers of STS, IMDS, the container endpoint and
/// `credential_process`: ISO 8601, with or without fractional seconds.
public enum CredentialDates {
    public static func parse(_ text: String) -> Date? {
        let plain = ISO8601DateFormatter()
        if let date = plain.date(from: text) { return date }
        let fractional = ISO8601DateFormatter()
        fractional.formatOptions = [.withInternetDateTime, .withFractionalSeconds]
        return fractional.date(from: text)
    }

    public static func format(_ date: Date) -> String {
        ISO8601DateFormatter().string(from: date)
    }
}
