import Crypto
import Foundation
import SigV4

/// Role credentials from IAM Identity Center (SSO), with the access token that `aws sso login`
/// cached in `~/.aws/sso/cache/<sha1>.json` (the SHA-1 of the `sso_session` name, or of the
/// legacy `sso_start_url`), exchanged at the portal's `GetRoleCredentials`
/// (`https://portal.sso.<sso_region>.amazonaws.com/federation/credentials`, or
/// `AWS_ENDPOINT_URL_SSO` and the other configured endpoints of service `sso`).
///
/// loginvault does not refresh the access token itself: when it is missing or expired, the
/// error says to run `aws sso login`.
public struct SSOCredentials: Sendable {
    public var profileName: String
    public var sessionName: String?
    public var startURL: String
    public var ssoRegion: String
    public var accountId: String
    public var roleName: String
    public var cacheDirectory: String
    public var portal: URL

    public init(profileName: String, profile: [String: String], files: SharedFiles, environment: [String: String],
                endpoints: EndpointSettings) throws {
        self.profileName = profileName
        var settings = profile
        if let session = nonEmpty(profile["sso_session"]) {
            guard let section = files.config?.sections["sso-session \(session)"] else {
                throw CredentialsError("profile \"\(profileName)\" names sso_session \"\(session)\", but \(files.configPath) has no [sso-session \(session)] section")
            }
            sessionName = session
            settings.merge(section) { own, _ in own }
        }
        func required(_ key: String) throws -> String {
            guard let value = nonEmpty(settings[key]) else {
                throw CredentialsError("profile \"\(profileName)\" uses SSO but has no \(key) (run `aws configure sso --profile \(profileName)`)")
            }
            return value
        }
        startURL = try required("sso_start_url")
        ssoRegion = try required("sso_region")
        accountId = try required("sso_account_id")
        roleName = try required("sso_role_name")
        cacheDirectory = files.home + "/.aws/sso/cache"
        if let (text, source) = endpoints.configured(service: "sso", environmentSuffix: "SSO") {
            portal = try SQSEndpoint.parse(text, from: source)
        } else {
            portal = URL(string: "https://portal.sso.\(ssoRegion).amazonaws.com")!
        }
    }

    public var source: String { "SSO role \(roleName) in account \(accountId) (profile \"\(profileName)\")" }

    var cacheFile: String {
        let key = sessionName ?? startURL
        let hex = Insecure.SHA1.hash(data: Array(key.utf8)).map { String(format: "%02x", $0) }.joined()
        return cacheDirectory + "/" + hex + ".json"
    }

    public func fetch() async throws -> ExpiringCredentials {
        let login = "run `aws sso login --profile \(profileName)`"
        guard let data = FileManager.default.contents(atPath: cacheFile),
              let object = try? JSONSerialization.jsonObject(with: data) as? [String: Any],
              let token = object["accessToken"] as? String, !token.isEmpty
        else {
            throw CredentialsError("no cached SSO token for profile \"\(profileName)\" (\(cacheFile)); \(login)")
        }
        guard let expiresAt = (object["expiresAt"] as? String).flatMap(CredentialDates.parse) else {
            throw CredentialsError("the cached SSO token \(cacheFile) has no valid expiresAt; \(login)")
        }
        guard expiresAt > Date() else {
            throw CredentialsError("the SSO token of profile \"\(profileName)\" expired at \(CredentialDates.format(expiresAt)); \(login)")
        }
        var components = URLComponents(url: portal, resolvingAgainstBaseURL: false)!
        components.path = (components.path.hasSuffix("/") ? String(components.path.dropLast()) : components.path) + "/federation/credentials"
        components.queryItems = [URLQueryItem(name: "account_id", value: accountId), URLQueryItem(name: "role_name", value: roleName)]
        let answer: CredentialsHTTP.Answer
        do {
            answer = try await CredentialsHTTP.send(.GET, components.url!.absoluteString,
                                                    headers: [("x-amz-sso_bearer_token", token)], timeout: .seconds(10))
        } catch {
            throw CredentialsError("SSO GetRoleCredentials at \(portal.absoluteString) failed: \(error)", transient: true)
        }
        if answer.status == 401 || answer.status == 403 {
            throw CredentialsError("the SSO portal refused the cached token of profile \"\(profileName)\" (HTTP \(answer.status)); \(login)")
        }
        guard answer.status == 200,
              let object = try? JSONSerialization.jsonObject(with: answer.body) as? [String: Any],
              let role = object["roleCredentials"] as? [String: Any],
              let key = role["accessKeyId"] as? String, let secret = role["secretAccessKey"] as? String
        else {
            throw CredentialsError("SSO GetRoleCredentials for \(source) answered HTTP \(answer.status) without credentials",
                                   transient: answer.status >= 500 || answer.status == 429)
        }
        let expiration = (role["expiration"] as? NSNumber).map { Date(timeIntervalSince1970: $0.doubleValue / 1000) }
        return ExpiringCredentials(AWSCredentials(accessKeyId: key, secretAccessKey: secret, sessionToken: role["sessionToken"] as? String),
                                   expiration: expiration)
    }
}
