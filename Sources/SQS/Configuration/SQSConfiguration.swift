import Foundation
import Logging
import SigV4

/// Where and as whom to talk to SQS, resolved like the AWS CLI (see `resolve`).
public struct SQSConfiguration: Sendable {
    public var region: String
    /// Every request goes to this URL, whatever host a queue URL names.
    public var endpoint: URL
    /// Hands out the credentials each request is signed with (refreshing temporary ones).
    public var credentialsProvider: any CredentialsProvider
    /// Where the credentials come from (for logs; never contains a secret).
    public var credentialsSource: String { credentialsProvider.source }
    /// Where the region came from, e.g. `AWS_REGION` (for logs).
    public var regionSource: String
    /// Timeout of every request but `ReceiveMessage`, which gets `waitTimeSeconds + longPollGrace`.
    public var requestTimeout: Duration
    public var longPollGrace: Duration
    public var connectTimeout: Duration

    public init(
        region: String, endpoint: URL, credentialsProvider: any CredentialsProvider, regionSource: String = "explicit",
        requestTimeout: Duration = .seconds(30), longPollGrace: Duration = .seconds(10), connectTimeout: Duration = .seconds(10)
    ) {
        self.region = region
        self.endpoint = endpoint
        self.credentialsProvider = credentialsProvider
        self.regionSource = regionSource
        self.requestTimeout = requestTimeout
        self.longPollGrace = longPollGrace
        self.connectTimeout = connectTimeout
    }

    /// A configuration signing with fixed credentials.
    public init(
        region: String, endpoint: URL, credentials: AWSCredentials, credentialsSource: String = "explicit",
        requestTimeout: Duration = .seconds(30), longPollGrace: Duration = .seconds(10), connectTimeout: Duration = .seconds(10)
    ) {
        self.init(region: region, endpoint: endpoint, credentialsProvider: StaticCredentialsProvider(credentials, source: credentialsSource),
                  requestTimeout: requestTimeout, longPollGrace: longPollGrace, connectTimeout: connectTimeout)
    }

    /// Resolves the configuration as the AWS CLI does.
    ///
    /// - Profile: `profile` (like `--profile`) > `AWS_PROFILE` > `default`.
    /// - Credentials: see `CredentialChain` (environment, web identity, the profile in
    ///   `AWS_SHARED_CREDENTIALS_FILE` (~/.aws/credentials) and `AWS_CONFIG_FILE` (~/.aws/config),
    ///   container credentials, EC2 instance metadata).
    /// - Region: `regionOverride` > `AWS_REGION` > `AWS_DEFAULT_REGION` > the profile's `region` >
    ///   EC2 instance metadata (unless disabled; asked only when nothing else gives one).
    /// - Endpoint: `endpointOverride` (like `--endpoint-url`) > the configured endpoints of
    ///   service `sqs` (see `EndpointSettings`) > `https://sqs.<region>.amazonaws.com`.
    public static func resolve(
        environment: [String: String] = ProcessInfo.processInfo.environment,
        endpointOverride: String? = nil, regionOverride: String? = nil, profile: String? = nil,
        logger: Logger = Logger(label: "loginvault.credentials")
    ) async throws -> SQSConfiguration {
        let files = try SharedFiles.load(environment: environment)
        let profileName = nonEmpty(profile) ?? nonEmpty(environment["AWS_PROFILE"]) ?? "default"
        let configProfile = files.config?.configProfile(profileName) ?? [:]
        let endpoints = EndpointSettings(environment: environment, files: files, profileName: profileName)

        var region: String?
        var regionSource = ""
        for (value, source) in [(regionOverride, "--region"), (environment["AWS_REGION"], "AWS_REGION"),
                                (environment["AWS_DEFAULT_REGION"], "AWS_DEFAULT_REGION"),
                                (configProfile["region"], "region of profile \"\(profileName)\"")] {
            if let value = nonEmpty(value) {
                (region, regionSource) = (value, source)
                break
            }
        }
        let chain = CredentialChain(environment: environment, files: files, profile: profile, region: region, logger: logger)
        let provider = try await chain.resolve()
        if region == nil, let imds = try? chain.instanceMetadata(), let fromIMDS = await imds.region() {
            (region, regionSource) = (fromIMDS, "EC2 instance metadata")
        }
        guard let region else {
            throw SQSConfigurationError(
                "no AWS region configured; set --region, AWS_REGION or AWS_DEFAULT_REGION, or `region` in profile \"\(profileName)\" of \(files.configPath)")
        }

        let endpoint: URL
        if let e = nonEmpty(endpointOverride) {
            endpoint = try SQSEndpoint.parse(e, from: "--endpoint-url")
        } else if let (text, source) = endpoints.configured(service: "sqs", environmentSuffix: "SQS") {
            endpoint = try SQSEndpoint.parse(text, from: source)
        } else {
            endpoint = SQSEndpoint.regional(region: region)
        }
        return SQSConfiguration(region: region, endpoint: endpoint, credentialsProvider: provider, regionSource: regionSource)
    }
}
