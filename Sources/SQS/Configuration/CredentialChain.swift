import Foundation
import Logging
import SigV4

/// Where the configuration came from and what went wrong finding it.
public struct SQSConfigurationError: Error, Sendable, CustomStringConvertible {
    public var description: String

    public init(_ description: String) {
        self.description = description
    }
}

/// The shared files for one resolution: paths (honouring `AWS_SHARED_CREDENTIALS_FILE` and
/// `AWS_CONFIG_FILE`) and their parsed contents.
public struct SharedFiles: Sendable {
    /// The home directory (`HOME`), where `~/.aws/sso/cache` is.
    public var home: String
    public var credentialsPath: String
    public var configPath: String
    public var credentials: SharedConfigFile?
    public var config: SharedConfigFile?

    public init(home: String, credentialsPath: String, configPath: String, credentials: SharedConfigFile?, config: SharedConfigFile?) {
        self.home = home
        self.credentialsPath = credentialsPath
        self.configPath = configPath
        self.credentials = credentials
        self.config = config
    }

    /// Locates and reads both files; a missing file is simply absent.
    public static func load(environment: [String: String]) throws -> SharedFiles {
        let home = environment["HOME"] ?? NSHomeDirectory()
        func expand(_ path: String) -> String {
            if path == "~" { return home }
            if path.hasPrefix("~/") { return home + path.dropFirst(1) }
            return path
        }
        let credentialsPath = expand(nonEmpty(environment["AWS_SHARED_CREDENTIALS_FILE"]) ?? "~/.aws/credentials")
        let configPath = expand(nonEmpty(environment["AWS_CONFIG_FILE"]) ?? "~/.aws/config")
        return SharedFiles(
            home: home, credentialsPath: credentialsPath, configPath: configPath,
            credentials: try SharedConfigFile.load(path: credentialsPath),
            config: try SharedConfigFile.load(path: configPath))
    }
}

func nonEmpty(_ value: String?) -> String? {
    guard let value, !value.isEmpty else { return nil }
    return value
}

/// The AWS SDKs' default credential provider chain (the AWS SDKs and Tools Reference Guide,
/// "Standardized credential providers"), in the order of the Guide's credential provider chain:
///
/// 1. environment: `AWS_ACCESS_KEY_ID`, `AWS_SECRET_ACCESS_KEY`, `AWS_SESSION_TOKEN`;
/// 2. web identity: `AWS_WEB_IDENTITY_TOKEN_FILE` + `AWS_ROLE_ARN` (+ `AWS_ROLE_SESSION_NAME`)
///    → STS `AssumeRoleWithWebIdentity` (EKS IRSA);
///    (1 and 2 are skipped when a profile is given explicitly, as `--profile` does in the CLI);
/// 3. the profile `profile` ?? `AWS_PROFILE` ?? `default` of the shared config and credentials
///    files, read as botocore does: `role_arn` with `source_profile` (chains followed, cycles
///    refused) or `credential_source` → STS `AssumeRole`; `role_arn` with
///    `web_identity_token_file`; SSO (`sso_session` or `sso_start_url`); static keys in the
///    credentials file; `credential_process`; static keys in the config file;
/// 4. the container credentials endpoint (ECS task roles, EKS Pod Identity);
/// 5. EC2 instance metadata (IMDSv2), unless `AWS_EC2_METADATA_DISABLED=true`.
///
/// The first source that is configured wins; a source that is configured but broken is an
/// error, not a reason to try the next one. Temporary credentials come wrapped in a
/// `RefreshingCredentialsProvider`.
public struct CredentialChain: Sendable {
    public var environment: [String: String]
    public var files: SharedFiles
    /// `--profile`: the environment's keys and web identity are then skipped.
    public var explicitProfile: String?
    /// The configured region, for STS (nil: the global STS endpoint).
    public var region: String?
    public var logger: Logger

    public init(environment: [String: String], files: SharedFiles, profile explicitProfile: String? = nil, region: String? = nil,
                logger: Logger = Logger(label: "loginvault.credentials")) {
        self.environment = environment
        self.files = files
        self.explicitProfile = nonEmpty(explicitProfile)
        self.region = region
        self.logger = logger
    }

    public var profileName: String { explicitProfile ?? nonEmpty(environment["AWS_PROFILE"]) ?? "default" }

    var endpoints: EndpointSettings { EndpointSettings(environment: environment, files: files, profileName: profileName) }

    /// Finds the first configured source. Only EC2 instance metadata is asked at once (to learn
    /// whether there is one); the other sources fetch on first use.
    public func resolve() async throws -> any CredentialsProvider {
        do {
            return try await resolveChain()
        } catch let error as CredentialsError {
            throw SQSConfigurationError(error.description)
        }
    }

    private func resolveChain() async throws -> any CredentialsProvider {
        var lookedIn: [String] = []
        if explicitProfile == nil {
            if let provider = try environmentCredentials() { return provider }
            lookedIn.append("environment (AWS_ACCESS_KEY_ID/AWS_SECRET_ACCESS_KEY not set)")
            if let provider = try webIdentityFromEnvironment() { return provider }
            lookedIn.append("web identity (AWS_WEB_IDENTITY_TOKEN_FILE/AWS_ROLE_ARN not set)")
        }
        if let provider = try await profileProvider(profileName, lookedIn: &lookedIn) { return provider }
        if let container = try ContainerCredentials(environment: environment) {
            return RefreshingCredentialsProvider(source: container.source, logger: logger, fetch: { try await container.fetch() })
        }
        lookedIn.append("container credentials (AWS_CONTAINER_CREDENTIALS_RELATIVE_URI/_FULL_URI not set)")
        if let imds = try instanceMetadata() {
            do {
                let first = try await imds.fetchCredentials()
                return RefreshingCredentialsProvider(source: imds.source, logger: logger, initial: first, fetch: { try await imds.fetchCredentials() })
            } catch let error where error is InstanceMetadata.Unavailable || error is CredentialsHTTP.NoAnswerInTime {
                lookedIn.append("EC2 instance metadata (\(error))")
            }
        } else {
            lookedIn.append("EC2 instance metadata (AWS_EC2_METADATA_DISABLED=true)")
        }
        throw SQSConfigurationError("no AWS credentials found; looked in: " + lookedIn.joined(separator: "; "))
    }

    // MARK: - Environment

    func environmentCredentials() throws -> (any CredentialsProvider)? {
        let key = nonEmpty(environment["AWS_ACCESS_KEY_ID"])
        let secret = nonEmpty(environment["AWS_SECRET_ACCESS_KEY"])
        switch (key, secret) {
        case let (key?, secret?):
            return StaticCredentialsProvider(
                AWSCredentials(accessKeyId: key, secretAccessKey: secret, sessionToken: nonEmpty(environment["AWS_SESSION_TOKEN"])),
                source: "environment (AWS_ACCESS_KEY_ID)")
        case (_?, nil):
            throw SQSConfigurationError("AWS_ACCESS_KEY_ID is set but AWS_SECRET_ACCESS_KEY is not")
        case (nil, _?):
            throw SQSConfigurationError("AWS_SECRET_ACCESS_KEY is set but AWS_ACCESS_KEY_ID is not")
        case (nil, nil):
            return nil
        }
    }

    func webIdentityFromEnvironment() throws -> (any CredentialsProvider)? {
        let tokenFile = nonEmpty(environment["AWS_WEB_IDENTITY_TOKEN_FILE"])
        let roleArn = nonEmpty(environment["AWS_ROLE_ARN"])
        switch (tokenFile, roleArn) {
        case let (tokenFile?, roleArn?):
            return try webIdentity(tokenFile: tokenFile, roleArn: roleArn, sessionName: nonEmpty(environment["AWS_ROLE_SESSION_NAME"]),
                                   origin: "AWS_WEB_IDENTITY_TOKEN_FILE")
        case (_?, nil):
            throw SQSConfigurationError("AWS_WEB_IDENTITY_TOKEN_FILE is set but AWS_ROLE_ARN is not: set the role to assume")
        default:
            return nil
        }
    }

    func webIdentity(tokenFile: String, roleArn: String, sessionName: String?, origin: String) throws -> any CredentialsProvider {
        let sts = try STSClient(region: region, settings: endpoints)
        let session = sessionName ?? Self.defaultSessionName()
        return RefreshingCredentialsProvider(source: "role \(roleArn) by web identity (\(origin) \(tokenFile))", logger: logger) {
            let token: String
            do {
                token = try String(contentsOfFile: tokenFile, encoding: .utf8).trimmingCharacters(in: .whitespacesAndNewlines)
            } catch {
                throw CredentialsError("cannot read the web identity token file \(tokenFile): \(error.localizedDescription)", transient: true)
            }
            return try await sts.assumeRoleWithWebIdentity(roleArn: roleArn, sessionName: session, webIdentityToken: token)
        }
    }

    static func defaultSessionName() -> String { "loginvault-\(Int(Date().timeIntervalSince1970))" }

    func instanceMetadata() throws -> InstanceMetadata? {
        try InstanceMetadata(environment: environment, profile: files.config?.configProfile(profileName) ?? [:])
    }

    // MARK: - Profiles

    /// The profile's settings: the config file's, overridden by the credentials file's.
    func merged(_ name: String) -> [String: String]? {
        let fromConfig = files.config?.configProfile(name)
        let fromCredentials = files.credentials?.credentialsProfile(name)
        guard fromConfig != nil || fromCredentials != nil else { return nil }
        return (fromConfig ?? [:]).merging(fromCredentials ?? [:]) { _, credentials in credentials }
    }

    func profileProvider(_ name: String, lookedIn: inout [String]) async throws -> (any CredentialsProvider)? {
        guard let profile = merged(name) else {
            if explicitProfile != nil || environment["AWS_PROFILE"] != nil {
                throw SQSConfigurationError("profile \"\(name)\" is in neither \(files.credentialsPath) nor \(files.configPath)")
            }
            lookedIn.append("profile \"\(name)\" (not in \(files.credentialsPath) nor \(files.configPath))")
            return nil
        }
        if profile["role_arn"] != nil, profile["source_profile"] != nil || profile["credential_source"] != nil {
            return try await assumeRole(name, profile, visited: [name])
        }
        if let provider = try nonRoleProvider(name, profile) { return provider }
        lookedIn.append("profile \"\(name)\" (no credentials in it)")
        return nil
    }

    /// What a profile offers besides `role_arn` with a source: web identity, SSO, static keys
    /// (credentials file first), `credential_process`.
    func nonRoleProvider(_ name: String, _ profile: [String: String]) throws -> (any CredentialsProvider)? {
        if let roleArn = nonEmpty(profile["role_arn"]) {
            guard let tokenFile = nonEmpty(profile["web_identity_token_file"]) else {
                throw SQSConfigurationError("profile \"\(name)\" has role_arn but no source_profile, credential_source or web_identity_token_file "
                                            + "to assume it with")
            }
            return try webIdentity(tokenFile: tokenFile, roleArn: roleArn, sessionName: nonEmpty(profile["role_session_name"]),
                                   origin: "web_identity_token_file of profile \"\(name)\"")
        }
        if profile["sso_session"] != nil || profile["sso_start_url"] != nil || profile["sso_account_id"] != nil {
            let sso = try SSOCredentials(profileName: name, profile: profile, files: files, environment: environment, endpoints: endpoints)
            return RefreshingCredentialsProvider(source: sso.source, logger: logger, fetch: { try await sso.fetch() })
        }
        if let provider = try staticKeys(name, files.credentials?.credentialsProfile(name), place: "shared credentials file \(files.credentialsPath)") {
            return provider
        }
        if let command = nonEmpty(profile["credential_process"]) {
            let process = ProcessCredentials(command: command, profileName: name)
            return RefreshingCredentialsProvider(source: process.source, logger: logger, fetch: { try await process.fetch() })
        }
        return try staticKeys(name, files.config?.configProfile(name), place: "shared config file \(files.configPath)")
    }

    func staticKeys(_ name: String, _ section: [String: String]?, place: String) throws -> (any CredentialsProvider)? {
        guard let section else { return nil }
        let key = nonEmpty(section["aws_access_key_id"])
        let secret = nonEmpty(section["aws_secret_access_key"])
        if let key, let secret {
            return StaticCredentialsProvider(
                AWSCredentials(accessKeyId: key, secretAccessKey: secret, sessionToken: nonEmpty(section["aws_session_token"])),
                source: "\(place), profile \"\(name)\"")
        }
        if key != nil || secret != nil {
            throw SQSConfigurationError("profile \"\(name)\" in \(place) has only one of aws_access_key_id and aws_secret_access_key")
        }
        return nil
    }

    /// `role_arn` with `source_profile` or `credential_source` → STS `AssumeRole`.
    func assumeRole(_ name: String, _ profile: [String: String], visited: [String]) async throws -> any CredentialsProvider {
        let roleArn = profile["role_arn"]!
        if let mfa = nonEmpty(profile["mfa_serial"]) {
            throw SQSConfigurationError(
                "profile \"\(name)\" assumes \(roleArn) with mfa_serial \(mfa): loginvault runs unattended and cannot prompt for an MFA code. "
                    + "Use a role whose trust policy does not require MFA, or export the credentials of a session you started with MFA "
                    + "(`eval \"$(aws configure export-credentials --profile \(name) --format env)\"`)")
        }
        let source: any CredentialsProvider
        switch (nonEmpty(profile["source_profile"]), nonEmpty(profile["credential_source"])) {
        case (_?, _?):
            throw SQSConfigurationError("profile \"\(name)\" has both source_profile and credential_source; keep one")
        case let (nil, credentialSource?):
            source = try await self.credentialSource(credentialSource, profile: name)
        case let (sourceProfile?, nil):
            guard let sourceSettings = merged(sourceProfile) else {
                throw SQSConfigurationError("the source_profile \"\(sourceProfile)\" of profile \"\(name)\" does not exist")
            }
            if visited.contains(sourceProfile) {
                // A profile may name itself to take its own static keys; any other repeat loops.
                guard sourceProfile == name,
                      let own = try staticKeys(name, files.credentials?.credentialsProfile(name), place: "shared credentials file \(files.credentialsPath)")
                        ?? staticKeys(name, files.config?.configProfile(name), place: "shared config file \(files.configPath)")
                else {
                    throw SQSConfigurationError("the source_profile chain loops: " + (visited + [sourceProfile]).map { "\"\($0)\"" }.joined(separator: " → "))
                }
                source = own
            } else if sourceSettings["role_arn"] == nil || sourceSettings["aws_access_key_id"] != nil {
                guard let provider = try nonRoleProvider(sourceProfile, sourceSettings) else {
                    throw SQSConfigurationError("the source_profile \"\(sourceProfile)\" of profile \"\(name)\" has no credentials")
                }
                source = provider
            } else {
                source = try await assumeRole(sourceProfile, sourceSettings, visited: visited + [sourceProfile])
            }
        case (nil, nil):
            preconditionFailure("assumeRole needs source_profile or credential_source")
        }
        let sts = try STSClient(region: region, settings: endpoints)
        let sessionName = nonEmpty(profile["role_session_name"]) ?? Self.defaultSessionName()
        let externalId = nonEmpty(profile["external_id"])
        let duration: Int?
        if let text = nonEmpty(profile["duration_seconds"]) {
            guard let seconds = Int(text), (900...43_200).contains(seconds) else {
                throw SQSConfigurationError("duration_seconds of profile \"\(name)\" must be 900-43200, not \(text)")
            }
            duration = seconds
        } else {
            duration = nil
        }
        return RefreshingCredentialsProvider(source: "role \(roleArn) assumed with STS AssumeRole (profile \"\(name)\", from \(source.source))",
                                             logger: logger) {
            let credentials = try await source.credentials()
            return try await sts.assumeRole(roleArn: roleArn, sessionName: sessionName, externalId: externalId, durationSeconds: duration,
                                            with: credentials)
        }
    }

    /// `credential_source`: `Environment`, `Ec2InstanceMetadata` or `EcsContainer`.
    func credentialSource(_ name: String, profile: String) async throws -> any CredentialsProvider {
        switch name {
        case "Environment":
            guard let provider = try environmentCredentials() else {
                throw SQSConfigurationError("profile \"\(profile)\" has credential_source = Environment, but AWS_ACCESS_KEY_ID is not set")
            }
            return provider
        case "EcsContainer":
            guard let container = try ContainerCredentials(environment: environment) else {
                throw SQSConfigurationError("profile \"\(profile)\" has credential_source = EcsContainer, but neither "
                                            + "AWS_CONTAINER_CREDENTIALS_RELATIVE_URI nor AWS_CONTAINER_CREDENTIALS_FULL_URI is set")
            }
            return RefreshingCredentialsProvider(source: container.source, logger: logger, fetch: { try await container.fetch() })
        case "Ec2InstanceMetadata":
            guard let imds = try instanceMetadata() else {
                throw SQSConfigurationError("profile \"\(profile)\" has credential_source = Ec2InstanceMetadata, but AWS_EC2_METADATA_DISABLED is true")
            }
            return RefreshingCredentialsProvider(source: imds.source, logger: logger, fetch: { try await imds.fetchCredentials() })
        default:
            throw SQSConfigurationError("credential_source \"\(name)\" of profile \"\(profile)\" is not one of Environment, Ec2InstanceMetadata, EcsContainer")
        }
    }
}
