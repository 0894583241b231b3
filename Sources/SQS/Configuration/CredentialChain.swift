import Foundation
import SigV4

/// Where the configuration came from and what went wrong finding it.
public struct SQSConfigurationError: Error, Sendable, CustomStringConvertible {
    public var description: String

    public init(_ description: String) {
        self.description = description
    }
}

/// Credentials found by the chain, and where.
public struct ResolvedCredentials: Sendable {
    public var credentials: AWSCredentials
    /// Human-readable source, e.g. `environment (AWS_ACCESS_KEY_ID)` or
    /// `shared credentials file /home/u/.aws/credentials, profile "default"`.
    public var source: String
}

/// The shared files for one resolution: paths (honouring `AWS_SHARED_CREDENTIALS_FILE` and
/// `AWS_CONFIG_FILE`) and their parsed contents.
public struct SharedFiles: Sendable {
    public var credentialsPath: String
    public var configPath: String
    public var credentials: SharedConfigFile?
    public var config: SharedConfigFile?

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
            credentialsPath: credentialsPath, configPath: configPath,
            credentials: try SharedConfigFile.load(path: credentialsPath),
            config: try SharedConfigFile.load(path: configPath))
    }
}

func nonEmpty(_ value: String?) -> String? {
    guard let value, !value.isEmpty else { return nil }
    return value
}

/// The credential chain of the AWS CLI, for the sources loginvault supports:
///
/// 1. environment: `AWS_ACCESS_KEY_ID`, `AWS_SECRET_ACCESS_KEY`, `AWS_SESSION_TOKEN` (skipped
///    when a profile is given explicitly, as `--profile` does in the CLI);
/// 2. the shared credentials file, profile `profile` ?? `AWS_PROFILE` ?? `default`;
/// 3. the same profile in the shared config file (static keys only).
///
/// SSO, `credential_process`, role assumption and instance/container metadata are not
/// supported; a profile that uses them is reported as such.
public enum CredentialChain {
    public static func resolve(
        environment: [String: String], profile explicitProfile: String? = nil, files: SharedFiles
    ) throws -> ResolvedCredentials {
        var lookedIn: [String] = []
        if explicitProfile == nil {
            let key = nonEmpty(environment["AWS_ACCESS_KEY_ID"])
            let secret = nonEmpty(environment["AWS_SECRET_ACCESS_KEY"])
            switch (key, secret) {
            case let (key?, secret?):
                return ResolvedCredentials(
                    credentials: AWSCredentials(accessKeyId: key, secretAccessKey: secret, sessionToken: nonEmpty(environment["AWS_SESSION_TOKEN"])),
                    source: "environment (AWS_ACCESS_KEY_ID)")
            case (_?, nil):
                throw SQSConfigurationError("AWS_ACCESS_KEY_ID is set but AWS_SECRET_ACCESS_KEY is not")
            case (nil, _?):
                throw SQSConfigurationError("AWS_SECRET_ACCESS_KEY is set but AWS_ACCESS_KEY_ID is not")
            case (nil, nil):
                lookedIn.append("environment (AWS_ACCESS_KEY_ID/AWS_SECRET_ACCESS_KEY not set)")
            }
        }
        let profile = explicitProfile ?? nonEmpty(environment["AWS_PROFILE"]) ?? "default"

        let candidates: [(String, [String: String]?, Bool)] = [
            ("shared credentials file \(files.credentialsPath)", files.credentials?.credentialsProfile(profile), files.credentials != nil),
            ("shared config file \(files.configPath)", files.config?.configProfile(profile), files.config != nil),
        ]
        for (place, section, exists) in candidates {
            guard exists else {
                lookedIn.append("\(place) (no such file)")
                continue
            }
            guard let section else {
                lookedIn.append("\(place) (no profile \"\(profile)\")")
                continue
            }
            let key = nonEmpty(section["aws_access_key_id"])
            let secret = nonEmpty(section["aws_secret_access_key"])
            if let key, let secret {
                return ResolvedCredentials(
                    credentials: AWSCredentials(accessKeyId: key, secretAccessKey: secret, sessionToken: nonEmpty(section["aws_session_token"])),
                    source: "\(place), profile \"\(profile)\"")
            }
            if key != nil || secret != nil {
                throw SQSConfigurationError("profile \"\(profile)\" in \(place) has only one of aws_access_key_id and aws_secret_access_key")
            }
            let unsupported = ["sso_session", "sso_start_url", "credential_process", "role_arn", "web_identity_token_file", "credential_source"]
                .filter { section[$0] != nil }
            if !unsupported.isEmpty {
                throw SQSConfigurationError(
                    "profile \"\(profile)\" in \(place) uses \(unsupported.joined(separator: ", ")), which loginvault does not support; "
                        + "export temporary credentials instead (e.g. `eval \"$(aws configure export-credentials --profile \(profile) --format env)\"`)")
            }
            lookedIn.append("\(place) (profile \"\(profile)\" has no aws_access_key_id)")
        }
        throw SQSConfigurationError("no AWS credentials found; looked in: " + lookedIn.joined(separator: "; "))
    }
}
