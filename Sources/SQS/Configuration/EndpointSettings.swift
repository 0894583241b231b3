import Foundation

/// Service endpoints configured in the environment and the profile, as the AWS SDKs read them
/// ("service-specific endpoints" in the AWS SDKs and Tools Reference Guide):
/// `AWS_ENDPOINT_URL_<SERVICE>` > `AWS_ENDPOINT_URL` > the profile's `services` section
/// (`<service> = endpoint_url = ...`) > the profile's `endpoint_url`. All are ignored when
/// `AWS_IGNORE_CONFIGURED_ENDPOINT_URLS` or the profile's `ignore_configured_endpoint_urls` is `true`.
public struct EndpointSettings: Sendable {
    public var environment: [String: String]
    public var files: SharedFiles
    public var profileName: String

    public init(environment: [String: String], files: SharedFiles, profileName: String) {
        self.environment = environment
        self.files = files
        self.profileName = profileName
    }

    /// The configured endpoint of `service` (`sqs`, `sts`, `sso`) and where it was found, if any.
    public func configured(service: String, environmentSuffix: String) -> (String, String)? {
        let profile = files.config?.configProfile(profileName) ?? [:]
        let ignore = (environment["AWS_IGNORE_CONFIGURED_ENDPOINT_URLS"] ?? profile["ignore_configured_endpoint_urls"] ?? "")
            .lowercased() == "true"
        if ignore { return nil }
        let candidates: [(String?, String)] = [
            (nonEmpty(environment["AWS_ENDPOINT_URL_\(environmentSuffix)"]), "AWS_ENDPOINT_URL_\(environmentSuffix)"),
            (nonEmpty(environment["AWS_ENDPOINT_URL"]), "AWS_ENDPOINT_URL"),
            (profile["services"].flatMap { files.config?.servicesSection($0)?["\(service).endpoint_url"] },
             "the services section of profile \"\(profileName)\" in \(files.configPath)"),
            (nonEmpty(profile["endpoint_url"]), "endpoint_url of profile \"\(profileName)\" in \(files.configPath)"),
        ]
        return candidates.first(where: { $0.0 != nil }).map { ($0.0!, $0.1) }
    }
}
