import AsyncHTTPClient
import Foundation
import NIOConcurrencyHelpers
import NIOCore
import NIOHTTP1
import SQS
import SigV4
import TestSupport
import Testing

/// Each provider of the credential chain against a real component (moto_server's STS and IMDS)
/// or, for what moto lacks, a loopback fake (TestSupport's `FakeHTTPServer`).
@Suite("Credential providers", .enabled(if: Integration.enabled(Integration.plainEndpoint), "needs LOGINVAULT_TEST_SQS_ENDPOINT (scripts/with-servers.sh)"))
struct CredentialProviderTests {
    typealias Sandbox = ConfigurationTests.Sandbox

    static func moto() throws -> String { try Integration.value(Integration.plainEndpoint) }

    /// Who moto says the credentials belong to (STS `GetCallerIdentity`, signed with them).
    static func callerArn(_ credentials: AWSCredentials) async throws -> String {
        let endpoint = URL(string: try moto())!
        let body = Array("Action=GetCallerIdentity&Version=2011-06-15".utf8)
        let signer = SigV4Signer(credentials: credentials, region: "us-east-1", service: "sts")
        let signed = signer.sign(SigV4Request(method: "POST", path: "/", headers: [
            ("Host", SigV4Signer.hostHeader(for: endpoint)), ("Content-Type", "application/x-www-form-urlencoded"),
        ], body: body), date: Date())
        var request = HTTPClientRequest(url: endpoint.absoluteString)
        request.method = .POST
        for (name, value) in signed.headers where name != "Host" { request.headers.add(name: name, value: value) }
        request.body = .bytes(ByteBuffer(bytes: body))
        let response = try await HTTPClient.shared.execute(request, timeout: .seconds(10))
        let text = String(buffer: try await response.body.collect(upTo: 1 << 20))
        guard let start = text.range(of: "<Arn>"), let end = text.range(of: "</Arn>") else { return text }
        return String(text[start.upperBound..<end.lowerBound])
    }

    static func write(_ text: String, to path: URL, executable: Bool = false) throws {
        try text.write(to: path, atomically: true, encoding: .utf8)
        if executable { try FileManager.default.setAttributes([.posixPermissions: 0o700], ofItemAtPath: path.path) }
    }

    // MARK: - Web identity

    @Test func webIdentityFromTheEnvironment() async throws {
        var box = try Sandbox(env: ["AWS_REGION": "us-east-1", "AWS_ENDPOINT_URL_STS": try Self.moto(),
                                    "AWS_ROLE_ARN": "arn:aws:iam::123456789012:role/irsa", "AWS_ROLE_SESSION_NAME": "pod-one"])
        defer { box.remove() }
        let tokenFile = box.dir.appendingPathComponent("token")
        try Self.write("eyJ-a-web-identity-token", to: tokenFile)
        box.environment["AWS_WEB_IDENTITY_TOKEN_FILE"] = tokenFile.path
        let configuration = try await box.resolve()
        #expect(configuration.credentialsSource.contains("role arn:aws:iam::123456789012:role/irsa by web identity"))
        let credentials = try await configuration.credentialsProvider.credentials()
        #expect(credentials.accessKeyId.hasPrefix("ASIA"))
        #expect(credentials.sessionToken != nil)
        #expect(try await Self.callerArn(credentials) == "arn:aws:sts::123456789012:assumed-role/irsa/pod-one")
        let expiration = try #require((configuration.credentialsProvider as? RefreshingCredentialsProvider)?.expiration)
        #expect(expiration > Date().addingTimeInterval(600))
        #expect(!configuration.credentialsSource.contains("eyJ"), "the token is never shown")
    }

    @Test func webIdentityInAProfile() async throws {
        var box = try Sandbox(config: """
            [profile eks]
            role_arn = arn:aws:iam::123456789012:role/from-profile
            web_identity_token_file = TOKEN
            role_session_name = profile-session
            region = us-east-1
            """, env: ["AWS_PROFILE": "eks", "AWS_ENDPOINT_URL_STS": try Self.moto()])
        defer { box.remove() }
        let tokenFile = box.dir.appendingPathComponent("token")
        try Self.write("eyJ-another-token", to: tokenFile)
        try Self.write(String(contentsOf: box.dir.appendingPathComponent("config"), encoding: .utf8)
            .replacingOccurrences(of: "TOKEN", with: tokenFile.path), to: box.dir.appendingPathComponent("config"))
        box.environment["AWS_REGION"] = nil
        let credentials = try await box.resolve().credentialsProvider.credentials()
        #expect(try await Self.callerArn(credentials) == "arn:aws:sts::123456789012:assumed-role/from-profile/profile-session")
    }

    // MARK: - Assume role

    static let roleConfig = """
        [profile base]
        aws_access_key_id = AKIDBASE
        aws_secret_access_key = secretbase

        [profile middle]
        role_arn = arn:aws:iam::123456789012:role/middle
        source_profile = base

        [profile app]
        role_arn = arn:aws:iam::123456789012:role/app
        source_profile = middle
        role_session_name = loginvault-app
        duration_seconds = 900
        external_id = ext-123
        region = us-east-1

        [profile self]
        role_arn = arn:aws:iam::123456789012:role/self
        source_profile = self
        aws_access_key_id = AKIDSELF
        aws_secret_access_key = secretself
        region = us-east-1

        [profile loop-a]
        role_arn = arn:aws:iam::123456789012:role/a
        source_profile = loop-b

        [profile loop-b]
        role_arn = arn:aws:iam::123456789012:role/b
        source_profile = loop-a

        [profile mfa]
        role_arn = arn:aws:iam::123456789012:role/mfa
        source_profile = base
        mfa_serial = arn:aws:iam::123456789012:mfa/ada

        [profile nosource]
        role_arn = arn:aws:iam::123456789012:role/nosource

        [profile both]
        role_arn = arn:aws:iam::123456789012:role/both
        source_profile = base
        credential_source = Environment

        [profile fromenv]
        role_arn = arn:aws:iam::123456789012:role/fromenv
        credential_source = Environment

        [profile fromecs]
        role_arn = arn:aws:iam::123456789012:role/fromecs
        credential_source = EcsContainer

        [profile bogus]
        role_arn = arn:aws:iam::123456789012:role/bogus
        credential_source = Laptop
        """

    @Test func nothingButAWSProfileNamingAChainedRoleProfile() async throws {
        let box = try Sandbox(config: Self.roleConfig, env: ["AWS_PROFILE": "app", "AWS_ENDPOINT_URL_STS": try Self.moto()])
        defer { box.remove() }
        let configuration = try await box.resolve()
        #expect(configuration.region == "us-east-1")
        #expect(configuration.credentialsSource.contains("role arn:aws:iam::123456789012:role/app"))
        #expect(configuration.credentialsSource.contains("role arn:aws:iam::123456789012:role/middle"), "the chain is named")
        let credentials = try await configuration.credentialsProvider.credentials()
        #expect(try await Self.callerArn(credentials) == "arn:aws:sts::123456789012:assumed-role/app/loginvault-app")
        let expiration = try #require((configuration.credentialsProvider as? RefreshingCredentialsProvider)?.expiration)
        #expect(abs(expiration.timeIntervalSinceNow - 900) < 60, "duration_seconds = 900 reached STS")
    }

    @Test func aProfileMayTakeItsOwnKeysAsItsSource() async throws {
        let box = try Sandbox(config: Self.roleConfig, env: ["AWS_PROFILE": "self", "AWS_ENDPOINT_URL_STS": try Self.moto()])
        defer { box.remove() }
        let credentials = try await box.resolve().credentialsProvider.credentials()
        #expect(try await Self.callerArn(credentials).hasPrefix("arn:aws:sts::123456789012:assumed-role/self/"))
    }

    @Test func credentialSourceEnvironmentAndEcsContainer() async throws {
        let moto = try Self.moto()
        var box = try Sandbox(config: Self.roleConfig, env: ["AWS_REGION": "us-east-1", "AWS_ENDPOINT_URL_STS": moto,
                                                            "AWS_ACCESS_KEY_ID": "AKIDENV", "AWS_SECRET_ACCESS_KEY": "secretenv"])
        defer { box.remove() }
        let fromEnv = try await box.resolve(profile: "fromenv").credentialsProvider.credentials()
        #expect(try await Self.callerArn(fromEnv).hasPrefix("arn:aws:sts::123456789012:assumed-role/fromenv/"))

        let container = FakeContainerCredentials(token: "container-token", lifetime: .seconds(3600))
        try await container.run { url in
            box.environment["AWS_CONTAINER_CREDENTIALS_FULL_URI"] = url.absoluteString + "/v2/credentials"
            box.environment["AWS_CONTAINER_AUTHORIZATION_TOKEN"] = "container-token"
            let provider = try await box.resolve(profile: "fromecs").credentialsProvider
            let credentials = try await provider.credentials()
            #expect(try await Self.callerArn(credentials).hasPrefix("arn:aws:sts::123456789012:assumed-role/fromecs/"))
            #expect(!container.issuedKeys.isEmpty, "the container's credentials signed the AssumeRole")
        }
    }

    @Test func roleProfilesThatCannotWorkAreRefusedWithTheReason() async throws {
        let box = try Sandbox(config: Self.roleConfig, env: ["AWS_REGION": "us-east-1"])
        defer { box.remove() }
        let cases: [(String, String)] = [
            ("loop-a", "loops: \"loop-a\" → \"loop-b\" → \"loop-a\""),
            ("mfa", "cannot prompt for an MFA code"),
            ("nosource", "no source_profile, credential_source or web_identity_token_file"),
            ("both", "both source_profile and credential_source"),
            ("bogus", "credential_source \"Laptop\""),
            ("fromecs", "AWS_CONTAINER_CREDENTIALS_RELATIVE_URI"),
        ]
        for (profile, expected) in cases {
            let error = await #expect(throws: SQSConfigurationError.self) { try await box.resolve(profile: profile) }
            #expect(error?.description.contains(expected) == true, "\(profile): \(error?.description ?? "")")
        }
    }

    @Test func stsEndpointsFollowTheConfiguration() throws {
        let files = SharedFiles(home: "/nonexistent", credentialsPath: "/nonexistent/c", configPath: "/nonexistent/f",
                                credentials: nil, config: SharedConfigFile(parsing: """
                                    [default]
                                    services = dev
                                    [services dev]
                                    sts =
                                      endpoint_url = http://127.0.0.1:7777
                                    """))
        func endpoint(_ env: [String: String], region: String?) throws -> String {
            try STSClient(region: region, settings: EndpointSettings(environment: env, files: files, profileName: "default")).endpoint.absoluteString
        }
        #expect(try endpoint(["AWS_ENDPOINT_URL_STS": "http://127.0.0.1:5555", "AWS_ENDPOINT_URL": "http://127.0.0.1:6666"], region: "eu-west-1")
                == "http://127.0.0.1:5555")
        #expect(try endpoint(["AWS_ENDPOINT_URL": "http://127.0.0.1:6666"], region: "eu-west-1") == "http://127.0.0.1:6666")
        #expect(try endpoint([:], region: "eu-west-1") == "http://127.0.0.1:7777", "the profile's services section")
        #expect(try endpoint(["AWS_IGNORE_CONFIGURED_ENDPOINT_URLS": "true"], region: "eu-west-1") == "https://sts.eu-west-1.amazonaws.com")
        #expect(try endpoint(["AWS_IGNORE_CONFIGURED_ENDPOINT_URLS": "true"], region: "cn-north-1") == "https://sts.cn-north-1.amazonaws.com.cn")
        #expect(try endpoint(["AWS_IGNORE_CONFIGURED_ENDPOINT_URLS": "true"], region: nil) == "https://sts.amazonaws.com")
    }

    // MARK: - credential_process

    @Test func credentialProcessWithExpiration() async throws {
        var box = try Sandbox(config: "[default]\nregion = us-east-1\ncredential_process = SCRIPT --flag\n")
        defer { box.remove() }
        let script = box.dir.appendingPathComponent("creds.sh")
        let expiration = CredentialDates.format(Date().addingTimeInterval(1800))
        try Self.write("""
            #!/bin/sh
            [ "$1" = "--flag" ] || { echo "bad argument" >&2; exit 3; }
            echo "{\\"Version\\": 1, \\"AccessKeyId\\": \\"AKIDPROCESS\\", \\"SecretAccessKey\\": \\"process-secret\\", \\"SessionToken\\": \\"process-token\\", \\"Expiration\\": \\"\(expiration)\\"}"
            """, to: script, executable: true)
        try Self.write("[default]\nregion = us-east-1\ncredential_process = \(script.path) --flag\n", to: box.dir.appendingPathComponent("config"))
        let provider = try await box.resolve().credentialsProvider
        #expect(provider.source == "credential_process of profile \"default\"")
        #expect(try await provider.credentials() == AWSCredentials(accessKeyId: "AKIDPROCESS", secretAccessKey: "process-secret", sessionToken: "process-token"))
        let cached = try #require((provider as? RefreshingCredentialsProvider)?.expiration)
        #expect(CredentialDates.format(cached) == expiration, "Expiration is honoured")

        // A failing command: its status and standard error, never its standard output.
        try Self.write("#!/bin/sh\necho '{\"SecretAccessKey\": \"leaked-secret\"}'\necho 'token expired, log in again' >&2\nexit 2\n", to: script, executable: true)
        box.environment["AWS_PROFILE"] = "default"
        let failing = try await box.resolve().credentialsProvider
        let error = await #expect(throws: CredentialsError.self) { _ = try await failing.credentials() }
        #expect(error?.description.contains("exited with status 2: token expired, log in again") == true, "\(error?.description ?? "")")
        #expect(error?.description.contains("leaked-secret") == false)

        try Self.write("#!/bin/sh\necho '{\"AccessKeyId\": \"A\", \"SecretAccessKey\": \"B\"}'\n", to: script, executable: true)
        let unversioned = try await box.resolve().credentialsProvider
        let error2 = await #expect(throws: CredentialsError.self) { _ = try await unversioned.credentials() }
        #expect(error2?.description.contains("Version") == true)
    }

    // MARK: - SSO

    @Test func ssoWithTheTokenCachedByAwsSsoLogin() async throws {
        let seen = NIOLockedValueBox<[String]>([])
        try await FakeHTTPServer.with({ request in
            seen.withLockedValue { $0.append(request.uri) }
            guard request.headers.first(name: "x-amz-sso_bearer_token") == "cached-access-token" else {
                return .json(["message": "Session token not found or invalid"], status: 401)
            }
            guard request.path == "/federation/credentials" else { return FakeHTTPServer.Response(status: 404) }
            return .json(["roleCredentials": [
                "accessKeyId": "ASIASSO", "secretAccessKey": "sso-secret", "sessionToken": "sso-token",
                "expiration": Int((Date().timeIntervalSince1970 + 3600) * 1000),
            ]])
        }) { portal in
            let box = try Sandbox(config: """
                [profile dev]
                sso_session = corp
                sso_account_id = 111122223333
                sso_role_name = LoginVaultReader
                region = us-east-1

                [profile legacy]
                sso_start_url = https://corp.awsapps.com/start
                sso_region = eu-west-1
                sso_account_id = 111122223333
                sso_role_name = LoginVaultReader
                region = us-east-1

                [sso-session corp]
                sso_start_url = https://corp.awsapps.com/start
                sso_region = eu-west-1
                """, env: ["AWS_ENDPOINT_URL_SSO": portal.absoluteString])
            defer { box.remove() }
            let cache = box.dir.appendingPathComponent(".aws/sso/cache")
            try FileManager.default.createDirectory(at: cache, withIntermediateDirectories: true)

            // Nothing cached yet: say what to run.
            let missing = try await box.resolve(profile: "dev").credentialsProvider
            let error = await #expect(throws: CredentialsError.self) { _ = try await missing.credentials() }
            #expect(error?.description.contains("aws sso login --profile dev") == true, "\(error?.description ?? "")")

            let valid = "{\"accessToken\": \"cached-access-token\", \"expiresAt\": \"\(CredentialDates.format(Date().addingTimeInterval(3600)))\"}"
            // SHA-1 of the session name, and of the start URL for legacy profiles (as botocore names them).
            try Self.write(valid, to: cache.appendingPathComponent("ee0bfd2552fbd840c02cc48b6e823320543c450f.json"))
            try Self.write(valid, to: cache.appendingPathComponent("a51746d4aa793ae07b25e90c3a5db96fc7832bd7.json"))
            for profile in ["dev", "legacy"] {
                let provider = try await box.resolve(profile: profile).credentialsProvider
                #expect(try await provider.credentials() == AWSCredentials(accessKeyId: "ASIASSO", secretAccessKey: "sso-secret", sessionToken: "sso-token"))
            }
            #expect(seen.withLockedValue { $0 }.contains("/federation/credentials?account_id=111122223333&role_name=LoginVaultReader"))

            let expired = "{\"accessToken\": \"cached-access-token\", \"expiresAt\": \"\(CredentialDates.format(Date().addingTimeInterval(-60)))\"}"
            try Self.write(expired, to: cache.appendingPathComponent("ee0bfd2552fbd840c02cc48b6e823320543c450f.json"))
            let stale = try await box.resolve(profile: "dev").credentialsProvider
            let error2 = await #expect(throws: CredentialsError.self) { _ = try await stale.credentials() }
            #expect(error2?.description.contains("expired") == true && error2?.description.contains("aws sso login") == true)
            #expect(error2?.description.contains("cached-access-token") == false)
        }
    }

    // MARK: - Container

    @Test func containerCredentialsWithAnAuthorizationToken() async throws {
        let container = FakeContainerCredentials(token: "pod-identity-token", lifetime: .seconds(3600))
        try await container.run { url in
            var box = try Sandbox(env: ["AWS_REGION": "us-east-1", "AWS_CONTAINER_CREDENTIALS_FULL_URI": url.absoluteString + "/v1/credentials"])
            defer { box.remove() }
            // The token from a file (EKS Pod Identity rotates it), read at every fetch.
            let tokenFile = box.dir.appendingPathComponent("eks-pod-identity-token")
            try Self.write("pod-identity-token\n", to: tokenFile)
            box.environment["AWS_CONTAINER_AUTHORIZATION_TOKEN_FILE"] = tokenFile.path
            box.environment["AWS_CONTAINER_AUTHORIZATION_TOKEN"] = "ignored-when-a-file-is-given"
            let provider = try await box.resolve().credentialsProvider
            #expect(provider.source == "container credentials endpoint \(url.absoluteString)/v1/credentials")
            let key = try await provider.credentials().accessKeyId
            #expect(container.issuedKeys.contains(key))

            box.environment["AWS_CONTAINER_AUTHORIZATION_TOKEN_FILE"] = nil
            box.environment["AWS_CONTAINER_AUTHORIZATION_TOKEN"] = "wrong-token"
            let refused = try await box.resolve().credentialsProvider
            let error = await #expect(throws: CredentialsError.self) { _ = try await refused.credentials() }
            #expect(error?.description.contains("HTTP 403") == true, "\(error?.description ?? "")")
            #expect(error?.description.contains("wrong-token") == false)
            #expect(container.refusedRequests == 1, "a 403 is not retried")
        }
    }

    @Test func containerFullURIsOnlyForTheHostsTheSDKsAllow() async throws {
        for allowed in ["http://127.0.0.1:80/c", "http://localhost/c", "http://169.254.170.2/c", "http://169.254.170.23/v1/credentials",
                        "http://[fd00:ec2::23]/v1/credentials", "http://[::1]:8080/c", "https://creds.example.com/c"] {
            #expect(try ContainerCredentials(environment: ["AWS_CONTAINER_CREDENTIALS_FULL_URI": allowed])?.url == allowed)
        }
        for refused in ["http://creds.example.com/c", "http://10.0.0.1/c", "http://169.254.169.254/latest", "ftp://127.0.0.1/c"] {
            #expect(throws: CredentialsError.self, "\(refused)") { try ContainerCredentials(environment: ["AWS_CONTAINER_CREDENTIALS_FULL_URI": refused]) }
        }
        let relative = try ContainerCredentials(environment: ["AWS_CONTAINER_CREDENTIALS_RELATIVE_URI": "/v2/credentials/abc",
                                                              "AWS_CONTAINER_CREDENTIALS_FULL_URI": "http://127.0.0.1/ignored"])
        #expect(relative?.url == "http://169.254.170.2/v2/credentials/abc", "the relative URI wins, on the ECS address")
    }

    // MARK: - EC2 instance metadata

    @Test func instanceMetadataFromMotoGivesCredentialsAndTheRegion() async throws {
        let box = try Sandbox(env: ["AWS_EC2_METADATA_SERVICE_ENDPOINT": try Self.moto(), "AWS_EC2_METADATA_DISABLED": "false",
                                    "AWS_METADATA_SERVICE_TIMEOUT": "10"])
        defer { box.remove() }
        let configuration = try await box.resolve()
        #expect(configuration.credentialsSource == "EC2 instance metadata \(try Self.moto())")
        #expect(try await configuration.credentialsProvider.credentials().accessKeyId == "test-key")
        #expect(configuration.region == "us-east-1")
        #expect(configuration.regionSource == "EC2 instance metadata")
    }

    /// An IMDS that enforces IMDSv2 tokens, can make its token go stale, or refuse the token PUT.
    final class StrictIMDS: Sendable {
        struct State { var puts = 0; var gets = 0; var validToken: String?; var staleAfterGets: Int?; var putStatus = 200; var v1Gets = 0 }
        let state = NIOLockedValueBox(State())

        func run<T>(_ body: (URL) async throws -> T) async throws -> T {
            try await FakeHTTPServer.with({ request in
                self.state.withLockedValue { s -> FakeHTTPServer.Response in
                    if request.method == "PUT" {
                        guard request.path == "/latest/api/token", request.headers.first(name: "x-aws-ec2-metadata-token-ttl-seconds") != nil
                        else { return FakeHTTPServer.Response(status: 400) }
                        s.puts += 1
                        if s.putStatus != 200 { return FakeHTTPServer.Response(status: s.putStatus) }
                        s.validToken = "imds-token-\(s.puts)"
                        return FakeHTTPServer.Response(body: s.validToken!)
                    }
                    let token = request.headers.first(name: "x-aws-ec2-metadata-token")
                    if s.putStatus == 200 {
                        guard let token, token == s.validToken else { return FakeHTTPServer.Response(status: 401) }
                    } else {
                        s.v1Gets += 1
                    }
                    s.gets += 1
                    if let stale = s.staleAfterGets, s.gets >= stale { s.validToken = nil; s.staleAfterGets = nil }
                    switch request.path {
                    case "/latest/meta-data/iam/security-credentials/": return FakeHTTPServer.Response(body: "instance-role\n")
                    case "/latest/meta-data/iam/security-credentials/instance-role":
                        return .json(["Code": "Success", "AccessKeyId": "ASIAIMDS\(s.puts)", "SecretAccessKey": "imds-secret", "Token": "imds-token",
                                      "Expiration": CredentialDates.format(Date().addingTimeInterval(6 * 3600))])
                    default: return FakeHTTPServer.Response(status: 404)
                    }
                }
            }, body)
        }
    }

    @Test func imdsEndpointModeDisablingAndV1Settings() throws {
        #expect(try InstanceMetadata(environment: [:], profile: [:])?.endpoint == "http://169.254.169.254")
        #expect(try InstanceMetadata(environment: ["AWS_EC2_METADATA_SERVICE_ENDPOINT_MODE": "IPv6"], profile: [:])?.endpoint == "http://[fd00:ec2::254]")
        #expect(try InstanceMetadata(environment: [:], profile: ["ec2_metadata_service_endpoint_mode": "ipv6"])?.endpoint == "http://[fd00:ec2::254]")
        #expect(try InstanceMetadata(environment: ["AWS_EC2_METADATA_SERVICE_ENDPOINT": "http://127.0.0.1:8111/",
                                                   "AWS_EC2_METADATA_SERVICE_ENDPOINT_MODE": "IPv6"], profile: [:])?.endpoint == "http://127.0.0.1:8111",
                "an explicit endpoint beats the mode")
        #expect(throws: CredentialsError.self) { try InstanceMetadata(environment: ["AWS_EC2_METADATA_SERVICE_ENDPOINT_MODE": "IPv5"], profile: [:]) }
        #expect(try InstanceMetadata(environment: ["AWS_EC2_METADATA_DISABLED": "TRUE"], profile: [:]) == nil)
        #expect(try InstanceMetadata(environment: ["AWS_EC2_METADATA_V1_DISABLED": "true"], profile: [:])?.v1Disabled == true)
        #expect(try InstanceMetadata(environment: [:], profile: ["ec2_metadata_v1_disabled": "true"])?.v1Disabled == true)
        #expect(try InstanceMetadata(environment: [:], profile: [:])?.v1Disabled == false)
        #expect(try InstanceMetadata(environment: [:], profile: [:])?.timeout == .seconds(1))
        #expect(try InstanceMetadata(environment: ["AWS_METADATA_SERVICE_TIMEOUT": "2.5"], profile: [:])?.timeout == .milliseconds(2500))
    }

    @Test func imdsV2TokenIsSentRenewedWhenStaleAndV1OnlyWhenAllowed() async throws {
        let imds = StrictIMDS()
        try await imds.run { url in
            var box = try Sandbox(env: ["AWS_REGION": "us-east-1", "AWS_EC2_METADATA_SERVICE_ENDPOINT": url.absoluteString,
                                        "AWS_EC2_METADATA_DISABLED": "false", "AWS_METADATA_SERVICE_TIMEOUT": "10"])
            defer { box.remove() }
            // The token goes stale after the role listing: a 401, a new token, one retry.
            imds.state.withLockedValue { $0.staleAfterGets = 1 }
            let provider = try await box.resolve().credentialsProvider
            #expect(try await provider.credentials().accessKeyId == "ASIAIMDS2")
            #expect(imds.state.withLockedValue { $0.puts } == 2)

            // A token PUT answered 403 (a proxy that forbids PUT): IMDSv1, unless disabled.
            imds.state.withLockedValue { $0.putStatus = 403 }
            _ = try await box.resolve().credentialsProvider
            #expect(imds.state.withLockedValue { $0.v1Gets } == 2)
            box.environment["AWS_EC2_METADATA_V1_DISABLED"] = "true"
            let error = await #expect(throws: SQSConfigurationError.self) { try await box.resolve() }
            #expect(error?.description.contains("IMDSv1 is disabled") == true, "\(error?.description ?? "")")
        }
    }

    @Test func noInstanceMetadataEndsTheChainQuickly() async throws {
        // Nothing listens on port 9 of 127.0.0.1: like a laptop, where 169.254.169.254 does not answer.
        let box = try Sandbox(env: ["AWS_REGION": "us-east-1", "AWS_EC2_METADATA_SERVICE_ENDPOINT": "http://127.0.0.1:9",
                                    "AWS_EC2_METADATA_DISABLED": "false"])
        defer { box.remove() }
        // How long it takes is bounded by the 1 s per request (checked in imdsEndpointModeDisablingAndV1Settings),
        // not measured here: timed tests fail on a loaded machine.
        let error = await #expect(throws: SQSConfigurationError.self) { try await box.resolve() }
        #expect(error?.description.contains("EC2 instance metadata (no answer from http://127.0.0.1:9") == true, "\(error?.description ?? "")")
        #expect(error?.description.contains("container credentials") == true)
    }

    // MARK: - Precedence

    @Test func theFirstConfiguredSourceWinsInTheSDKsOrder() async throws {
        let moto = try Self.moto()
        let container = FakeContainerCredentials(token: nil, lifetime: .seconds(3600))
        try await container.run { url in
            var box = try Sandbox(credentials: "[default]\naws_access_key_id = AKIDPROFILE\naws_secret_access_key = s\n", env: [
                "AWS_REGION": "us-east-1", "AWS_ENDPOINT_URL_STS": moto,
                "AWS_ACCESS_KEY_ID": "AKIDENV", "AWS_SECRET_ACCESS_KEY": "secretenv",
                "AWS_ROLE_ARN": "arn:aws:iam::123456789012:role/irsa",
                "AWS_CONTAINER_CREDENTIALS_FULL_URI": url.absoluteString + "/creds",
                "AWS_EC2_METADATA_SERVICE_ENDPOINT": moto, "AWS_EC2_METADATA_DISABLED": "false", "AWS_METADATA_SERVICE_TIMEOUT": "10",
            ])
            defer { box.remove() }
            let tokenFile = box.dir.appendingPathComponent("token")
            try Self.write("eyJ-token", to: tokenFile)
            box.environment["AWS_WEB_IDENTITY_TOKEN_FILE"] = tokenFile.path
            var sources: [String] = []
            for remove in [["AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY"], ["AWS_WEB_IDENTITY_TOKEN_FILE", "AWS_ROLE_ARN"],
                           ["AWS_SHARED_CREDENTIALS_FILE"], ["AWS_CONTAINER_CREDENTIALS_FULL_URI"], []] {
                sources.append(try await box.resolve().credentialsSource)
                for name in remove { box.environment[name] = name == "AWS_SHARED_CREDENTIALS_FILE" ? "/nonexistent" : nil }
            }
            #expect(sources.count == 5)
            #expect(sources[0] == "environment (AWS_ACCESS_KEY_ID)")
            #expect(sources[1].contains("by web identity"))
            #expect(sources[2].contains("shared credentials file"))
            #expect(sources[3].contains("container credentials endpoint"))
            #expect(sources[4].contains("EC2 instance metadata"))
            // --profile skips the environment's keys and web identity.
            box.environment["AWS_ACCESS_KEY_ID"] = "AKIDENV"
            box.environment["AWS_SECRET_ACCESS_KEY"] = "secretenv"
            box.environment["AWS_SHARED_CREDENTIALS_FILE"] = box.dir.appendingPathComponent("credentials").path
            #expect(try await box.resolve(profile: "default").credentialsSource.contains("shared credentials file"))
        }
    }

    // MARK: - ExpiredToken

    @Test func anExpiredTokenAnswerFetchesNewCredentialsAndRetriesOnce() async throws {
        struct Script: Sendable { var keys: [String] = []; var expired: Set<String> = [] }
        let script = NIOLockedValueBox(Script())
        let proxy = LoopbackHTTPProxy(upstream: URL(string: try Self.moto())!) { exchange in
            let authorization = exchange.head.headers.first(name: "Authorization") ?? ""
            let key = authorization.components(separatedBy: "Credential=").last?.split(separator: "/").first.map(String.init) ?? ""
            let expired = script.withLockedValue { s in s.keys.append(key); return s.expired.contains(key) }
            if expired {
                try await exchange.respond(status: 400, headers: ["Content-Type": "application/x-amz-json-1.0"], body: Data(
                    #"{"__type":"com.amazon.coral.service#ExpiredTokenException","message":"The security token included in the request is expired"}"#.utf8))
                return true
            }
            let answer = try await exchange.forward()
            try await exchange.respond(status: answer.status, headers: answer.headers, body: answer.body)
            return true
        }
        try await proxy.run { url in
            let fetches = NIOLockedValueBox(0)
            let provider = RefreshingCredentialsProvider(source: "scripted") {
                let n = fetches.withLockedValue { n in defer { n += 1 }; return n }
                return ExpiringCredentials(AWSCredentials(accessKeyId: "ASIA\(n)", secretAccessKey: "s\(n)", sessionToken: "t\(n)"),
                                           expiration: Date().addingTimeInterval(3600))
            }
            let configuration = SQSConfiguration(region: "us-east-1", endpoint: url, credentialsProvider: provider)
            try await Integration.withClient(configuration) { client in
                let name = Integration.queueName("expired")
                let created = try await client.createQueue(name: name)
                script.withLockedValue { $0.expired = ["ASIA0"] }
                #expect(try await client.queueURL(for: name) == created, "refreshed and retried")
                #expect(script.withLockedValue { Array($0.keys.suffix(2)) } == ["ASIA0", "ASIA1"])
                script.withLockedValue { $0.expired = ["ASIA0", "ASIA1", "ASIA2", "ASIA3"] }
                let before = script.withLockedValue { $0.keys.count }
                let error = await #expect(throws: SQSError.self) { _ = try await client.queueURL(for: name) }
                #expect(error?.code == "ExpiredTokenException")
                #expect(script.withLockedValue { Array($0.keys.dropFirst(before)) } == ["ASIA1", "ASIA2"], "one refresh, one retry")
            }
        }
    }
}
