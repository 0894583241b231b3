import Foundation
import SigV4

/// Where and as whom to talk to SQS, resolved like the AWS CLI (see `resolve`).
public struct SQSConfiguration: Sendable {
    public var region: String
    /// Every request goes to this URL, whatever host a queue URL names.
    public var endpoint: URL
    public var credentials: AWSCredentials
    /// Where the credentials came from (for logs; never contains a secret).
    public var credentialsSource: String
    /// Timeout of every request but `ReceiveMessage`, which gets `waitTimeSeconds + longPollGrace`.
    public var requestTimeout: Duration
    public var longPollGrace: Duration
    public var connectTimeout: Duration

    public init(
        region: String, endpoint: URL, credentials: AWSCredentials, credentialsSource: String = "explicit",
        requestTimeout: Duration = .seconds(30), longPollGrace: Duration = .seconds(10), connectTimeout: Duration = .seconds(10)
    ) {
        self.region = region
        self.endpoint = endpoint
        self.credentials = credentials
        self.credentialsSource = credentialsSource
        self.requestTimeout = requestTimeout
        self.longPollGrace = longPollGrace
        self.connectTimeout = connectTimeout
    }

    /// Resolves the configuration as the AWS CLI does.
    ///
    /// - Profile: `profile` (like `--profile`) > `AWS_PROFILE` > `default`.
    /// - Credentials: see `CredentialChain` (environment, then the profile in
    ///   `AWS_SHARED_CREDENTIALS_FILE` (~/.aws/credentials), then in `AWS_CONFIG_FILE` (~/.aws/config)).
    /// - Region: `regionOverride` > `AWS_REGION` > `AWS_DEFAULT_REGION` > the profile's `region`.
    /// - Endpoint: `endpointOverride` (like `--endpoint-url`) > `AWS_ENDPOINT_URL_SQS` >
    ///   `AWS_ENDPOINT_URL` > the profile's `services` section (`sqs = endpoint_url = ...`) >
    ///   the profile's `endpoint_url` > `https://sqs.<region>.amazonaws.com`. Configured
    ///   endpoints (all but the override) are ignored when `AWS_IGNORE_CONFIGURED_ENDPOINT_URLS`
    ///   or the profile's `ignore_configured_endpoint_urls` is `true`.
    public static func resolve(
        environment: [String: String] = ProcessInfo.processInfo.environment,
        endpointOverride: String? = nil, regionOverride: String? = nil, profile: String? = nil
    ) throws -> SQSConfiguration {
        let files = try SharedFiles.load(environment: environment)
        let profileName = nonEmpty(profile) ?? nonEmpty(environment["AWS_PROFILE"]) ?? "default"
        let configProfile = files.config?.configProfile(profileName) ?? [:]

        let resolved = try CredentialChain.resolve(environment: environment, profile: nonEmpty(profile), files: files)

        let region: String
        if let r = nonEmpty(regionOverride) {
            region = r
        } else if let r = nonEmpty(environment["AWS_REGION"]) ?? nonEmpty(environment["AWS_DEFAULT_REGION"]) ?? nonEmpty(configProfile["region"]) {
            region = r
        } else {
            throw SQSConfigurationError(
                "no AWS region configured; set --region, AWS_REGION or AWS_DEFAULT_REGION, or `region` in profile \"\(profileName)\" of \(files.configPath)")
        }

        let endpoint: URL
        if let e = nonEmpty(endpointOverride) {
            endpoint = try SQSEndpoint.parse(e, from: "--endpoint-url")
        } else {
            let ignore = (environment["AWS_IGNORE_CONFIGURED_ENDPOINT_URLS"] ?? configProfile["ignore_configured_endpoint_urls"] ?? "")
                .lowercased() == "true"
            var candidates: [(String?, String)] = []
            if !ignore {
                candidates = [
                    (nonEmpty(environment["AWS_ENDPOINT_URL_SQS"]), "AWS_ENDPOINT_URL_SQS"),
                    (nonEmpty(environment["AWS_ENDPOINT_URL"]), "AWS_ENDPOINT_URL"),
                    (configProfile["services"].flatMap { files.config?.servicesSection($0)?["sqs.endpoint_url"] },
                     "the services section of profile \"\(profileName)\" in \(files.configPath)"),
                    (nonEmpty(configProfile["endpoint_url"]), "endpoint_url of profile \"\(profileName)\" in \(files.configPath)"),
                ]
            }
            if let (text, source) = candidates.first(where: { $0.0 != nil }) {
                endpoint = try SQSEndpoint.parse(text!, from: source)
            } else {
                endpoint = SQSEndpoint.regional(region: region)
            }
        }
        return SQSConfiguration(region: region, endpoint: endpoint, credentials: resolved.credentials, credentialsSource: resolved.source)
    }
}
