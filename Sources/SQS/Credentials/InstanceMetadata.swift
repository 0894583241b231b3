import Foundation
import NIOHTTP1

/// The EC2 instance metadata service (IMDS), as the AWS SDKs use it: the instance profile's
/// credentials, and the region.
///
/// IMDSv2: a session token is fetched with `PUT /latest/api/token` and sent with every `GET`;
/// a `401` (the token went stale) fetches a new one and retries once. When the token request
/// is answered 403, 404 or 405, or not answered in time after connecting, the SDKs fall back
/// to IMDSv1 (no token), unless `AWS_EC2_METADATA_V1_DISABLED` (or the profile's
/// `ec2_metadata_v1_disabled`) is `true`. Every request waits at most 1 s, one attempt (the
/// SDKs' defaults), so a machine without IMDS is not slowed; `AWS_METADATA_SERVICE_TIMEOUT`
/// (or the profile's `metadata_service_timeout`), in seconds, changes the wait.
///
/// Endpoint: `AWS_EC2_METADATA_SERVICE_ENDPOINT` (or the profile's
/// `ec2_metadata_service_endpoint`) > the mode (`AWS_EC2_METADATA_SERVICE_ENDPOINT_MODE` or
/// `ec2_metadata_service_endpoint_mode`: `IPv4` → `http://169.254.169.254`, `IPv6` →
/// `http://[fd00:ec2::254]`). `AWS_EC2_METADATA_DISABLED=true` turns it off.
public struct InstanceMetadata: Sendable {
    public var endpoint: String
    public var v1Disabled: Bool
    public var timeout: Duration = .seconds(1)

    /// The service configured in `environment` and `profile`, or nil when it is disabled.
    public init?(environment: [String: String], profile: [String: String]) throws {
        if (environment["AWS_EC2_METADATA_DISABLED"] ?? "").lowercased() == "true" { return nil }
        if let endpoint = nonEmpty(environment["AWS_EC2_METADATA_SERVICE_ENDPOINT"]) ?? nonEmpty(profile["ec2_metadata_service_endpoint"]) {
            self.endpoint = endpoint.hasSuffix("/") ? String(endpoint.dropLast()) : endpoint
        } else {
            let mode = nonEmpty(environment["AWS_EC2_METADATA_SERVICE_ENDPOINT_MODE"]) ?? nonEmpty(profile["ec2_metadata_service_endpoint_mode"]) ?? "IPv4"
            switch mode.lowercased() {
            case "ipv4": self.endpoint = "http://169.254.169.254"
            case "ipv6": self.endpoint = "http://[fd00:ec2::254]"
            default: throw CredentialsError("AWS_EC2_METADATA_SERVICE_ENDPOINT_MODE must be IPv4 or IPv6, not \(mode)")
            }
        }
        if let text = nonEmpty(environment["AWS_METADATA_SERVICE_TIMEOUT"]) ?? nonEmpty(profile["metadata_service_timeout"]) {
            guard let seconds = Double(text), seconds > 0 else {
                throw CredentialsError("AWS_METADATA_SERVICE_TIMEOUT must be a number of seconds, not \(text)")
            }
            self.timeout = .milliseconds(Int64(seconds * 1000))
        }
        self.v1Disabled = ((environment["AWS_EC2_METADATA_V1_DISABLED"] ?? profile["ec2_metadata_v1_disabled"]) ?? "").lowercased() == "true"
    }

    /// IMDS did not answer at all: this is not an EC2 instance (or IMDS is off).
    public struct Unavailable: Error, CustomStringConvertible {
        public var description: String
    }

    public var source: String { "EC2 instance metadata \(endpoint)" }

    /// The instance profile's credentials. Throws `Unavailable` when nothing answers.
    public func fetchCredentials() async throws -> ExpiringCredentials {
        var session = Session(imds: self)
        let listing = try await session.get("/latest/meta-data/iam/security-credentials/")
        guard listing.status == 200, let role = listing.text.split(whereSeparator: \.isNewline).first.map(String.init), !role.isEmpty else {
            throw CredentialsError(listing.status == 404
                ? "\(source): this instance has no IAM instance profile (attach a role to the instance)"
                : "\(source) answered HTTP \(listing.status) listing the instance profile's role", transient: listing.status != 404)
        }
        let answer = try await session.get("/latest/meta-data/iam/security-credentials/" + role)
        guard answer.status == 200 else {
            throw CredentialsError("\(source) answered HTTP \(answer.status) for the credentials of role \(role)", transient: true)
        }
        return try JSONCredentials.decode(answer.body, tokenKey: "Token", from: source)
    }

    /// The instance's region (`placement/region`), nil when IMDS does not answer.
    public func region() async -> String? {
        var session = Session(imds: self)
        guard let answer = try? await session.get("/latest/meta-data/placement/region"), answer.status == 200 else { return nil }
        let text = answer.text.trimmingCharacters(in: .whitespacesAndNewlines)
        return text.isEmpty ? nil : text
    }

    /// One conversation: the token is fetched once and reused, refreshed on a 401.
    struct Session {
        let imds: InstanceMetadata
        var token: String??  // nil: not asked yet; .some(nil): v1

        init(imds: InstanceMetadata) { self.imds = imds }

        mutating func get(_ path: String) async throws -> CredentialsHTTP.Answer {
            for attempt in 1...2 {
                let token = try await currentToken()
                var headers: [(String, String)] = []
                if let token { headers.append(("x-aws-ec2-metadata-token", token)) }
                let answer = try await request(.GET, path, headers: headers)
                if answer.status == 401, token != nil, attempt == 1 {
                    self.token = nil  // stale: ask for a new one
                    continue
                }
                return answer
            }
            throw CredentialsError("\(imds.source) kept refusing its own session token (HTTP 401)", transient: true)
        }

        private mutating func currentToken() async throws -> String? {
            if let token { return token }
            let fetched = try await fetchToken()
            token = .some(fetched)
            return fetched
        }

        private func fetchToken() async throws -> String? {
            let answer: CredentialsHTTP.Answer
            do {
                answer = try await request(.PUT, "/latest/api/token", headers: [("x-aws-ec2-metadata-token-ttl-seconds", "21600")])
            } catch is CredentialsHTTP.NoAnswerInTime {
                return try v1(because: "the token request was not answered within \(imds.timeout)")
            }
            switch answer.status {
            case 200: return answer.text
            case 403, 404, 405: return try v1(because: "the token request was answered HTTP \(answer.status)")
            default: throw CredentialsError("\(imds.source) answered HTTP \(answer.status) to the IMDSv2 token request", transient: answer.status >= 500)
            }
        }

        private func v1(because reason: String) throws -> String? {
            if imds.v1Disabled {
                throw CredentialsError("\(imds.source): \(reason), and IMDSv1 is disabled (AWS_EC2_METADATA_V1_DISABLED)", transient: true)
            }
            return nil
        }

        private func request(_ method: HTTPMethod, _ path: String, headers: [(String, String)]) async throws -> CredentialsHTTP.Answer {
            do {
                return try await CredentialsHTTP.send(method, imds.endpoint + path, headers: headers, timeout: imds.timeout)
            } catch let error as CredentialsHTTP.Unreachable {
                throw Unavailable(description: error.description)
            }
        }
    }
}
