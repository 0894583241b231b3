import Foundation
import NIOHTTP1
import SigV4

/// The two AWS STS actions of the credential chain, over the Query protocol (form-encoded POST,
/// XML answer): `AssumeRole` (signed with SigV4 by the source credentials) and
/// `AssumeRoleWithWebIdentity` (unsigned: the web identity token is the proof).
///
/// Endpoint: `AWS_ENDPOINT_URL_STS` > `AWS_ENDPOINT_URL` > the profile's `services` section
/// (`sts = endpoint_url = ...`) > the profile's `endpoint_url` > the regional endpoint
/// `https://sts.<region>.amazonaws.com` (the SDKs' default since 2022), or the global
/// `https://sts.amazonaws.com` (signed for us-east-1) when no region is configured.
public struct STSClient: Sendable {
    public var endpoint: URL
    /// The region requests are signed for.
    public var signingRegion: String
    public var timeout: Duration

    public init(endpoint: URL, signingRegion: String, timeout: Duration = .seconds(10)) {
        self.endpoint = endpoint
        self.signingRegion = signingRegion
        self.timeout = timeout
    }

    /// The endpoint for `region` (nil: none configured) as configured by `settings`.
    public init(region: String?, settings: EndpointSettings) throws {
        if let (text, source) = settings.configured(service: "sts", environmentSuffix: "STS") {
            self.init(endpoint: try SQSEndpoint.parse(text, from: source), signingRegion: region ?? "us-east-1")
        } else if let region {
            let suffix = region.hasPrefix("cn-") ? "amazonaws.com.cn" : "amazonaws.com"
            self.init(endpoint: URL(string: "https://sts.\(region).\(suffix)")!, signingRegion: region)
        } else {
            self.init(endpoint: URL(string: "https://sts.amazonaws.com")!, signingRegion: "us-east-1")
        }
    }

    public func assumeRole(roleArn: String, sessionName: String, externalId: String? = nil, durationSeconds: Int? = nil,
                           with credentials: AWSCredentials) async throws -> ExpiringCredentials {
        var fields = [("Action", "AssumeRole"), ("Version", "2011-06-15"), ("RoleArn", roleArn), ("RoleSessionName", sessionName)]
        if let externalId { fields.append(("ExternalId", externalId)) }
        if let durationSeconds { fields.append(("DurationSeconds", String(durationSeconds))) }
        return try await call("AssumeRole", roleArn: roleArn, fields: fields, signedWith: credentials)
    }

    public func assumeRoleWithWebIdentity(roleArn: String, sessionName: String, webIdentityToken: String,
                                          durationSeconds: Int? = nil) async throws -> ExpiringCredentials {
        var fields = [("Action", "AssumeRoleWithWebIdentity"), ("Version", "2011-06-15"), ("RoleArn", roleArn),
                      ("RoleSessionName", sessionName), ("WebIdentityToken", webIdentityToken)]
        if let durationSeconds { fields.append(("DurationSeconds", String(durationSeconds))) }
        return try await call("AssumeRoleWithWebIdentity", roleArn: roleArn, fields: fields, signedWith: nil)
    }

    private func call(_ action: String, roleArn: String, fields: [(String, String)],
                      signedWith credentials: AWSCredentials?) async throws -> ExpiringCredentials {
        let body = Array(CredentialsHTTP.formEncode(fields).utf8)
        var signedHeaders: [(name: String, value: String)] = [
            ("Host", SigV4Signer.hostHeader(for: endpoint)),
            ("Content-Type", "application/x-www-form-urlencoded; charset=utf-8"),
        ]
        if let credentials {
            let path = URLComponents(url: endpoint, resolvingAgainstBaseURL: false)?.percentEncodedPath ?? "/"
            let signer = SigV4Signer(credentials: credentials, region: signingRegion, service: "sts")
            signedHeaders = signer.sign(SigV4Request(method: "POST", path: path.isEmpty ? "/" : path, headers: signedHeaders, body: body),
                                        date: Date()).headers
        }
        // The HTTP client sets Host itself (to the same value).
        let headers = signedHeaders.filter { $0.name != "Host" }.map { ($0.name, $0.value) }
        let answer: CredentialsHTTP.Answer
        do {
            answer = try await CredentialsHTTP.send(.POST, endpoint.absoluteString, headers: headers, body: Data(body), timeout: timeout)
        } catch {
            throw CredentialsError("STS \(action) for \(roleArn) at \(endpoint.absoluteString) failed: \(error)", transient: true)
        }
        let text = answer.text
        guard (200..<300).contains(answer.status) else {
            let code = ErrorResponse.xmlElement("Code", in: text) ?? "HTTP \(answer.status)"
            let message = ErrorResponse.xmlElement("Message", in: text) ?? ""
            let transient = answer.status >= 500 || SQSError.throttlingCodes.contains(code) || code == "IDPCommunicationError"
            throw CredentialsError("STS \(action) for \(roleArn) failed: \(code): \(message) (HTTP \(answer.status))", transient: transient)
        }
        guard let key = ErrorResponse.xmlElement("AccessKeyId", in: text),
              let secret = ErrorResponse.xmlElement("SecretAccessKey", in: text),
              let token = ErrorResponse.xmlElement("SessionToken", in: text)
        else {
            throw CredentialsError("STS \(action) for \(roleArn) answered HTTP \(answer.status) without credentials", transient: true)
        }
        let expiration = ErrorResponse.xmlElement("Expiration", in: text).flatMap(CredentialDates.parse)
        return ExpiringCredentials(AWSCredentials(accessKeyId: key, secretAccessKey: secret, sessionToken: token), expiration: expiration)
    }
}
