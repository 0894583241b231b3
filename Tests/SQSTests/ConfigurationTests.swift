import Foundation
import SQS
import SigV4
import Testing

/// Credential chain, region and endpoint resolution with temporary shared files.
@Suite("Configuration resolution")
struct ConfigurationTests {
    /// A temp directory with optional credentials/config files; the environment points at them.
    struct Sandbox {
        let dir: URL
        var environment: [String: String]

        init(credentials: String? = nil, config: String? = nil, env: [String: String] = [:]) throws {
            dir = FileManager.default.temporaryDirectory.appendingPathComponent("loginvault-aws-\(UUID().uuidString)")
            try FileManager.default.createDirectory(at: dir, withIntermediateDirectories: true)
            if let credentials { try credentials.write(to: dir.appendingPathComponent("credentials"), atomically: true, encoding: .utf8) }
            if let config { try config.write(to: dir.appendingPathComponent("config"), atomically: true, encoding: .utf8) }
            environment = [
                "HOME": dir.path,
                "AWS_SHARED_CREDENTIALS_FILE": dir.appendingPathComponent("credentials").path,
                "AWS_CONFIG_FILE": dir.appendingPathComponent("config").path,
                // Hermetic on an EC2 instance too: the chain would end there.
                "AWS_EC2_METADATA_DISABLED": "true",
            ].merging(env) { $1 }
        }

        func resolve(endpoint: String? = nil, region: String? = nil, profile: String? = nil) async throws -> SQSConfiguration {
            try await SQSConfiguration.resolve(environment: environment, endpointOverride: endpoint, regionOverride: region, profile: profile)
        }

        func remove() { try? FileManager.default.removeItem(at: dir) }
    }

    static let credentials = """
        # a comment
        [default]
        aws_access_key_id = AKIDDEFAULT
        aws_secret_access_key = secretdefault

        [work]
        aws_access_key_id=AKIDWORK
        aws_secret_access_key=secretwork
        aws_session_token = tokenwork
        ; another comment
        """
    static let config = """
        [default]
        region = eu-west-1

        [profile work]
        region = ap-southeast-2

        [profile configonly]
        region = sa-east-1
        aws_access_key_id = AKIDCONFIG
        aws_secret_access_key = secretconfig
        s3 =
          max_concurrent_requests = 20

        [profile local]
        region = us-east-1
        aws_access_key_id = AKIDLOCAL
        aws_secret_access_key = secretlocal
        services = local-services
        endpoint_url = http://127.0.0.1:9999

        [services local-services]
        sqs =
          endpoint_url = http://127.0.0.1:4566

        [profile sso]
        sso_session = corp
        region = us-east-1
        """

    @Test func defaultProfileFromFiles() async throws {
        let box = try Sandbox(credentials: Self.credentials, config: Self.config)
        defer { box.remove() }
        let c = try await box.resolve()
        #expect(try await c.credentials.accessKeyId == "AKIDDEFAULT")
        #expect(try await c.credentials.secretAccessKey == "secretdefault")
        #expect(try await c.credentials.sessionToken == nil)
        #expect(c.region == "eu-west-1")
        #expect(c.endpoint.absoluteString == "https://sqs.eu-west-1.amazonaws.com")
        #expect(c.credentialsSource.contains("credentials"))
        #expect(c.credentialsSource.contains("\"default\""))
    }

    @Test func awsProfileSelectsProfileInBothFiles() async throws {
        let box = try Sandbox(credentials: Self.credentials, config: Self.config, env: ["AWS_PROFILE": "work"])
        defer { box.remove() }
        let c = try await box.resolve()
        #expect(try await c.credentials == .init(accessKeyId: "AKIDWORK", secretAccessKey: "secretwork", sessionToken: "tokenwork"))
        #expect(c.region == "ap-southeast-2")
    }

    @Test func configFileProfileSectionProvidesKeys() async throws {
        let box = try Sandbox(credentials: Self.credentials, config: Self.config)
        defer { box.remove() }
        let c = try await box.resolve(profile: "configonly")
        #expect(try await c.credentials.accessKeyId == "AKIDCONFIG")
        #expect(c.region == "sa-east-1")
        #expect(c.credentialsSource.contains("config"))
    }

    @Test func credentialsFileWinsOverConfigFile() async throws {
        let box = try Sandbox(
            credentials: "[configonly]\naws_access_key_id = AKIDFROMCREDS\naws_secret_access_key = s\n", config: Self.config)
        defer { box.remove() }
        #expect(try await box.resolve(profile: "configonly").credentials.accessKeyId == "AKIDFROMCREDS")
    }

    @Test func environmentWinsOverFilesUnlessAProfileIsExplicit() async throws {
        let box = try Sandbox(credentials: Self.credentials, config: Self.config, env: [
            "AWS_ACCESS_KEY_ID": "AKIDENV", "AWS_SECRET_ACCESS_KEY": "secretenv", "AWS_SESSION_TOKEN": "tokenenv", "AWS_PROFILE": "work",
        ])
        defer { box.remove() }
        let fromEnv = try await box.resolve()
        #expect(try await fromEnv.credentials == .init(accessKeyId: "AKIDENV", secretAccessKey: "secretenv", sessionToken: "tokenenv"))
        #expect(fromEnv.credentialsSource.contains("environment"))
        #expect(fromEnv.region == "ap-southeast-2", "region still from AWS_PROFILE's config")
        // Like `aws --profile work`: an explicit profile beats environment keys.
        #expect(try await box.resolve(profile: "work").credentials.accessKeyId == "AKIDWORK")
    }

    @Test func halfSetEnvironmentIsAnError() async throws {
        let box = try Sandbox(credentials: Self.credentials, env: ["AWS_ACCESS_KEY_ID": "AKIDENV", "AWS_REGION": "us-east-1"])
        defer { box.remove() }
        let error = await #expect(throws: SQSConfigurationError.self) { try await box.resolve() }
        #expect(error?.description.contains("AWS_SECRET_ACCESS_KEY") == true)
    }

    @Test func missingCredentialsNameEveryPlaceLooked() async throws {
        let box = try Sandbox(env: ["AWS_REGION": "us-east-1"])
        defer { box.remove() }
        let error = await #expect(throws: SQSConfigurationError.self) { try await box.resolve() }
        let text = error?.description ?? ""
        #expect(text.contains("no AWS credentials found"))
        #expect(text.contains("AWS_ACCESS_KEY_ID"))
        #expect(text.contains(box.dir.appendingPathComponent("credentials").path))
        #expect(text.contains(box.dir.appendingPathComponent("config").path))

        let withFiles = try Sandbox(credentials: Self.credentials, config: Self.config, env: ["AWS_PROFILE": "nobody", "AWS_REGION": "us-east-1"])
        defer { withFiles.remove() }
        let error2 = await #expect(throws: SQSConfigurationError.self) { try await withFiles.resolve() }
        #expect(error2?.description.contains("profile \"nobody\" is in neither") == true, "a profile named by AWS_PROFILE must exist")
    }

    @Test func ssoProfileWithoutItsSessionSectionIsNamed() async throws {
        let box = try Sandbox(credentials: Self.credentials, config: Self.config)
        defer { box.remove() }
        let error = await #expect(throws: SQSConfigurationError.self) { try await box.resolve(profile: "sso") }
        #expect(error?.description.contains("[sso-session corp]") == true)
    }

    @Test func regionPrecedence() async throws {
        var box = try Sandbox(credentials: Self.credentials, config: Self.config)
        defer { box.remove() }
        #expect(try await box.resolve().region == "eu-west-1")
        box.environment["AWS_DEFAULT_REGION"] = "us-west-1"
        #expect(try await box.resolve().region == "us-west-1")
        box.environment["AWS_REGION"] = "us-west-2"
        #expect(try await box.resolve().region == "us-west-2")
        #expect(try await box.resolve(region: "ca-central-1").region == "ca-central-1")
        #expect(try await box.resolve(region: "ca-central-1").endpoint.absoluteString == "https://sqs.ca-central-1.amazonaws.com")
        #expect(try await box.resolve(region: "cn-north-1").endpoint.absoluteString == "https://sqs.cn-north-1.amazonaws.com.cn")
    }

    @Test func missingRegionIsAnError() async throws {
        let box = try Sandbox(credentials: Self.credentials)
        defer { box.remove() }
        let error = await #expect(throws: SQSConfigurationError.self) { try await box.resolve() }
        #expect(error?.description.contains("AWS_REGION") == true)
    }

    @Test func endpointPrecedence() async throws {
        var box = try Sandbox(credentials: Self.credentials, config: Self.config, env: ["AWS_PROFILE": "local"])
        defer { box.remove() }
        #expect(try await box.resolve().endpoint.absoluteString == "http://127.0.0.1:4566", "services section beats profile endpoint_url")
        box.environment["AWS_ENDPOINT_URL"] = "http://127.0.0.1:1111"
        #expect(try await box.resolve().endpoint.absoluteString == "http://127.0.0.1:1111")
        box.environment["AWS_ENDPOINT_URL_SQS"] = "http://127.0.0.1:2222"
        #expect(try await box.resolve().endpoint.absoluteString == "http://127.0.0.1:2222")
        #expect(try await box.resolve(endpoint: "http://127.0.0.1:3333").endpoint.absoluteString == "http://127.0.0.1:3333")
        box.environment["AWS_IGNORE_CONFIGURED_ENDPOINT_URLS"] = "true"
        #expect(try await box.resolve().endpoint.absoluteString == "https://sqs.us-east-1.amazonaws.com")
        #expect(try await box.resolve(endpoint: "http://127.0.0.1:3333").endpoint.absoluteString == "http://127.0.0.1:3333", "the flag beats configured, not given, endpoints")
    }

    @Test func profileEndpointURLWithoutServicesSection() async throws {
        let box = try Sandbox(credentials: Self.credentials, config: "[default]\nregion = us-east-1\nendpoint_url = http://127.0.0.1:9999\n")
        defer { box.remove() }
        #expect(try await box.resolve().endpoint.absoluteString == "http://127.0.0.1:9999")
    }

    @Test func invalidEndpointIsAnError() async throws {
        let box = try Sandbox(credentials: Self.credentials, config: Self.config)
        defer { box.remove() }
        let error = await #expect(throws: SQSConfigurationError.self) { try await box.resolve(endpoint: "127.0.0.1:4566") }
        #expect(error?.description.contains("--endpoint-url") == true)
    }

    @Test func tildeInFilePathsIsExpanded() async throws {
        let box = try Sandbox(credentials: Self.credentials, config: Self.config)
        defer { box.remove() }
        var environment = box.environment
        environment["AWS_SHARED_CREDENTIALS_FILE"] = "~/credentials"
        environment["AWS_CONFIG_FILE"] = "~/config"
        #expect(try await SQSConfiguration.resolve(environment: environment).credentials.accessKeyId == "AKIDDEFAULT")
    }

    @Test func iniParsing() {
        let file = SharedConfigFile(parsing: "[a]\nKey = v = w\n  # c\n[profile b]\nx=\n  y = 1\nz = 2\n")
        #expect(file.sections["a"]?["key"] == "v = w")
        #expect(file.configProfile("b")?["x.y"] == "1")
        #expect(file.configProfile("b")?["z"] == "2")
        #expect(file.configProfile("a") == nil, "config files name non-default profiles [profile NAME]")
    }
}

extension SQSConfiguration {
    /// The credentials the next request would be signed with.
    var credentials: AWSCredentials {
        get async throws { try await credentialsProvider.credentials() }
    }
}
