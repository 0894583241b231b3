import Foundation
import TestSupport
import Testing

/// `loginvault load` with nothing exported but what AWS users have: a profile name, or an
/// EC2 instance's metadata service. (moto stands in for STS, SQS and IMDS; the endpoints come
/// from the profile's `services` section, or the variables a test cannot do without.)
@Suite("load with the credential chain", .enabled(if: Integration.postgres && Integration.sqs))
struct CredentialChainLoadTests {
    /// The fixture's environment without any AWS setting.
    static func bare(_ fixture: LoadFixture) -> [String: String?] {
        var environment = fixture.environment
        for name in ProcessInfo.processInfo.environment.keys where name.hasPrefix("AWS_") { environment[name] = .some(nil) }
        for name in environment.keys where name.hasPrefix("AWS_") { environment[name] = .some(nil) }
        return environment
    }

    @Test func nothingButAWSProfileNamingARoleProfile() async throws {
        try await LoadFixture.with("profile-only") { fixture in
            try await fixture.send(Array(try LoadFixture.sampleBodies.prefix(20)))
            let home = FileManager.default.temporaryDirectory.appendingPathComponent("lv-home-\(UUID().uuidString)")
            try FileManager.default.createDirectory(at: home.appendingPathComponent(".aws"), withIntermediateDirectories: true)
            defer { try? FileManager.default.removeItem(at: home) }
            try """
                [profile loginvault]
                role_arn = arn:aws:iam::123456789012:role/loginvault-loader
                source_profile = base
                region = us-east-1
                services = local-aws

                [profile base]
                aws_access_key_id = AKIDBASEPROFILE
                aws_secret_access_key = base-secret

                [services local-aws]
                sqs =
                  endpoint_url = \(fixture.endpoint)
                sts =
                  endpoint_url = \(fixture.endpoint)
                """.write(to: home.appendingPathComponent(".aws/config"), atomically: true, encoding: .utf8)
            var environment = Self.bare(fixture)
            environment["HOME"] = home.path
            environment["AWS_PROFILE"] = "loginvault"
            let outcome = try await LoginVaultExecutable.runDetached(Array(fixture.loadArguments([]).dropLast(2)) + ["--log-level", "info"],
                                                       environment: environment)
            #expect(outcome.status == 0, "\(outcome.stderr)")
            #expect(outcome.stderr.contains("AWS credentials from role arn:aws:iam::123456789012:role/loginvault-loader assumed with STS AssumeRole"))
            #expect(outcome.stderr.contains("region us-east-1 from region of profile \"loginvault\""))
            #expect(try fixture.count("SELECT (SELECT count(*) FROM user_logins) + (SELECT count(*) FROM rejected_logins)") == 20)
            #expect(try await fixture.messagesLeft() == 0)
        }
    }

    @Test func nothingButAnEC2InstanceProfile() async throws {
        try await LoadFixture.with("ec2-only") { fixture in
            try await fixture.send(Array(try LoadFixture.sampleBodies.prefix(20)))
            var environment = Self.bare(fixture)
            environment["HOME"] = FileManager.default.temporaryDirectory.appendingPathComponent("lv-empty-home-\(UUID().uuidString)").path
            // What a test cannot do without: where the instance metadata and SQS are.
            environment["AWS_EC2_METADATA_SERVICE_ENDPOINT"] = fixture.endpoint
            environment["AWS_ENDPOINT_URL_SQS"] = fixture.endpoint
            environment["AWS_METADATA_SERVICE_TIMEOUT"] = "10"  // a loaded test machine answers slower than an instance
            let outcome = try await LoginVaultExecutable.runDetached(Array(fixture.loadArguments([]).dropLast(2)) + ["--log-level", "info"],
                                                       environment: environment)
            #expect(outcome.status == 0, "\(outcome.stderr)")
            #expect(outcome.stderr.contains("AWS credentials from EC2 instance metadata"))
            #expect(outcome.stderr.contains("region us-east-1 from EC2 instance metadata"))
            #expect(try fixture.count("SELECT (SELECT count(*) FROM user_logins) + (SELECT count(*) FROM rejected_logins)") == 20)
        }
    }
}
