import Foundation
import SigV4

/// Credentials from the container credentials endpoint: ECS task roles and EKS Pod Identity.
///
/// `AWS_CONTAINER_CREDENTIALS_RELATIVE_URI` is a path on `http://169.254.170.2`;
/// `AWS_CONTAINER_CREDENTIALS_FULL_URI` a whole URL, accepted only over https or for the hosts the
/// SDKs allow over http: loopback, the ECS address 169.254.170.2 and the EKS Pod Identity
/// addresses 169.254.170.23 and fd00:ec2::23. The `Authorization` header is the content of
/// `AWS_CONTAINER_AUTHORIZATION_TOKEN_FILE` (read at every fetch: it is rotated) or else
/// `AWS_CONTAINER_AUTHORIZATION_TOKEN`. Each fetch waits up to 2 s and makes up to 3 attempts,
/// 1 s apart, as botocore does.
public struct ContainerCredentials: Sendable {
    public var url: String
    var tokenFile: String?
    var token: String?

    /// The endpoint configured in `environment`, or nil when neither variable is set.
    public init?(environment: [String: String]) throws {
        if let relative = nonEmpty(environment["AWS_CONTAINER_CREDENTIALS_RELATIVE_URI"]) {
            url = "http://169.254.170.2" + (relative.hasPrefix("/") ? relative : "/" + relative)
        } else if let full = nonEmpty(environment["AWS_CONTAINER_CREDENTIALS_FULL_URI"]) {
            try Self.checkAllowed(full)
            url = full
        } else {
            return nil
        }
        tokenFile = nonEmpty(environment["AWS_CONTAINER_AUTHORIZATION_TOKEN_FILE"])
        token = nonEmpty(environment["AWS_CONTAINER_AUTHORIZATION_TOKEN"])
    }

    static func checkAllowed(_ text: String) throws {
        guard let url = URL(string: text), let scheme = url.scheme?.lowercased(), let host = url.host?.lowercased() else {
            throw CredentialsError("AWS_CONTAINER_CREDENTIALS_FULL_URI is not an absolute URL")
        }
        if scheme == "https" { return }
        let bare = host.trimmingCharacters(in: CharacterSet(charactersIn: "[]"))
        let allowed = ["localhost", "::1", "169.254.170.2", "169.254.170.23", "fd00:ec2::23"]
        let loopbackV4 = bare.hasPrefix("127.") && bare.split(separator: ".").count == 4
        guard scheme == "http", allowed.contains(bare) || loopbackV4 else {
            throw CredentialsError(
                "AWS_CONTAINER_CREDENTIALS_FULL_URI must use https, or http to a loopback address, 169.254.170.2, "
                    + "169.254.170.23 or fd00:ec2::23 (the AWS SDKs refuse other hosts); it names \(host)")
        }
    }

    public var source: String { "container credentials endpoint \(url)" }

    public func fetch() async throws -> ExpiringCredentials {
        var headers: [(String, String)] = [("Accept", "application/json")]
        if let authorization = try authorization() { headers.append(("Authorization", authorization)) }
        var lastError: any Error = CredentialsError("no attempt")
        for attempt in 1...3 {
            if attempt > 1 { try await Task.sleep(for: .seconds(1)) }
            do {
                let answer = try await CredentialsHTTP.send(.GET, url, headers: headers, timeout: .seconds(2))
                if answer.status == 200 {
                    return try JSONCredentials.decode(answer.body, tokenKey: "Token", from: source)
                }
                lastError = CredentialsError("\(source) answered HTTP \(answer.status)", transient: answer.status >= 500 || answer.status == 429)
                if answer.status < 500 && answer.status != 429 { break }
            } catch let error as CredentialsError {
                throw error
            } catch {
                lastError = CredentialsError("\(error)", transient: true)
            }
        }
        throw lastError
    }

    private func authorization() throws -> String? {
        var value = token
        if let tokenFile {
            do {
                value = try String(contentsOfFile: tokenFile, encoding: .utf8).trimmingCharacters(in: .whitespacesAndNewlines)
            } catch {
                throw CredentialsError("cannot read AWS_CONTAINER_AUTHORIZATION_TOKEN_FILE \(tokenFile): \(error.localizedDescription)",
                                       transient: true)
            }
        }
        if let value, value.contains("\r") || value.contains("\n") {
            throw CredentialsError("the container authorization token contains a line break; refusing to send it")
        }
        return value
    }
}

/// The JSON credentials answer of the container endpoint, IMDS and `credential_process`:
/// `AccessKeyId`, `SecretAccessKey`, `Token` (or `SessionToken`), `Expiration`.
enum JSONCredentials {
    static func decode(_ data: Data, tokenKey: String, from source: String) throws -> ExpiringCredentials {
        guard let object = try? JSONSerialization.jsonObject(with: data) as? [String: Any] else {
            throw CredentialsError("\(source) answered with something that is not a JSON object", transient: true)
        }
        guard let key = object["AccessKeyId"] as? String, !key.isEmpty,
              let secret = object["SecretAccessKey"] as? String, !secret.isEmpty
        else {
            let code = (object["Code"] as? String).map { " (Code: \($0))" } ?? ""
            throw CredentialsError("\(source) answered without AccessKeyId and SecretAccessKey\(code)", transient: true)
        }
        var expiration: Date?
        if let text = object["Expiration"] as? String {
            guard let date = CredentialDates.parse(text) else {
                throw CredentialsError("\(source) answered an Expiration that is not an ISO 8601 time: \(text)")
            }
            expiration = date
        }
        let token = (object[tokenKey] as? String).flatMap { $0.isEmpty ? nil : $0 }
        return ExpiringCredentials(AWSCredentials(accessKeyId: key, secretAccessKey: secret, sessionToken: token), expiration: expiration)
    }
}
