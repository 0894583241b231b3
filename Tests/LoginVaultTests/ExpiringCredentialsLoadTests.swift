import Foundation
import NIOConcurrencyHelpers
import NIOHTTP1
import TestSupport
import Testing

/// `load --follow` as an ECS task: credentials from the container endpoint only, valid for a
/// few seconds each, while a proxy in front of SQS refuses every request signed with
/// credentials that have expired (as AWS does).
@Suite("load with expiring credentials", .enabled(if: Integration.postgres && Integration.sqs))
struct ExpiringCredentialsLoadTests {
    /// A login body like the sample's, with a user id of its own.
    static func body(_ n: Int) -> String {
        #"{"user_id": "\#(UUID().uuidString.lowercased())", "app_version": "2.3.\#(n % 10)", "device_type": "android", "#
            + #""ip": "10.\#(n / 256 % 256).\#(n % 256).7", "locale": "RU", "device_id": "593-47-\#(1000 + n)"}"#
    }

    @Test func followLoadsAThousandMessagesThroughSeveralRefreshesWithNoneLostOrDuplicated() async throws {
        let container = FakeContainerCredentials(token: "ecs-task-token", lifetime: .seconds(4))
        struct Seen: Sendable { var keys: Set<String> = []; var expiredRefused = 0; var unknownRefused = 0 }
        let seen = NIOLockedValueBox(Seen())
        try await container.run { credentialsURL in
            try await LoadFixture.with("refresh") { fixture in
                let sqs = LoopbackHTTPProxy(upstream: URL(string: fixture.endpoint)!) { exchange in
                    let authorization = exchange.head.headers.first(name: "Authorization") ?? ""
                    let key = authorization.components(separatedBy: "Credential=").last?.split(separator: "/").first.map(String.init) ?? ""
                    let expiration = container.expiration(of: key)
                    let refusal: (String, String)? = switch expiration {
                    case nil: ("InvalidClientTokenId", "The security token included in the request is invalid")
                    case let date? where date <= Date(): ("ExpiredToken", "The security token included in the request is expired")
                    default: nil
                    }
                    seen.withLockedValue { s in
                        s.keys.insert(key)
                        if refusal?.0 == "ExpiredToken" { s.expiredRefused += 1 }
                        if refusal?.0 == "InvalidClientTokenId" { s.unknownRefused += 1 }
                    }
                    if let (code, message) = refusal {
                        try await exchange.respond(status: 400, headers: ["Content-Type": "application/x-amz-json-1.0"],
                                                   body: Data(#"{"__type":"com.amazonaws.sqs#\#(code)","message":"\#(message)"}"#.utf8))
                        return true
                    }
                    let answer = try await exchange.forward()
                    try await exchange.respond(status: answer.status, headers: answer.headers, body: answer.body)
                    return true
                }
                try await sqs.run { sqsURL in
                    var environment = CredentialsAtStartTests.environment(fixture, credentialsURL)
                    environment["AWS_ENDPOINT_URL_SQS"] = sqsURL.absoluteString
                    environment["AWS_CONTAINER_AUTHORIZATION_TOKEN"] = "ecs-task-token"
                    let loader = try LoginVaultExecutable.start(
                        fixture.loadArguments(["--follow", "--process-every", "1", "--wait-time-seconds", "1"]), environment: environment)
                    // 1,000 messages over about 10 s: the 4-second credentials are refreshed several times meanwhile.
                    for round in 0..<10 {
                        try await fixture.send((0..<100).map { Self.body(round * 100 + $0) })
                        try await Task.sleep(for: .seconds(1))
                    }
                    var processed = 0
                    for _ in 0..<150 where processed < 1000 {
                        try await Task.sleep(for: .milliseconds(200))
                        processed = try fixture.count("SELECT count(*) FROM user_logins")
                    }
                    loader.signal(SIGTERM)
                    let outcome = await loader.finished()
                    #expect(outcome.status == 0, "\(outcome.stderr)")
                    #expect(try fixture.count("SELECT count(*) FROM user_logins") == 1000, "none lost, none duplicated")
                    #expect(try fixture.count("SELECT count(DISTINCT user_id) FROM user_logins") == 1000, "each login once")
                    #expect(try fixture.count("SELECT count(*) FROM rejected_logins") == 0)
                    #expect(try await fixture.messagesLeft() == 0, "every message deleted: \(outcome.stderr.suffix(3000))")
                    let keysUsed = seen.withLockedValue { $0.keys }
                    #expect(container.issuedKeys.count >= 3, "several refreshes: \(container.issuedKeys.count) credentials issued")
                    #expect(keysUsed.count >= 3, "requests signed with \(keysUsed.count) successive credentials")
                    #expect(seen.withLockedValue { $0.unknownRefused } == 0)
                    for key in container.issuedKeys { #expect(!outcome.stderr.contains("fake-secret-\(key)") && !outcome.stdout.contains("fake-session-token")) }
                }
            }
        }
    }

    @Test func followWaitsOutACredentialsOutageAndLosesNothing() async throws {
        let container = FakeContainerCredentials(token: nil, lifetime: .seconds(3))
        try await container.run { credentialsURL in
            try await LoadFixture.with("outage") { fixture in
                var environment = fixture.environment
                for name in ["AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY"] { environment[name] = .some(nil) }
                environment["AWS_CONTAINER_CREDENTIALS_FULL_URI"] = credentialsURL.absoluteString + "/creds"
                environment["AWS_EC2_METADATA_DISABLED"] = "true"
                let loader = try LoginVaultExecutable.start(
                    fixture.loadArguments(["--follow", "--process-every", "1", "--wait-time-seconds", "1"]), environment: environment)
                func waitFor(_ wanted: Int) async throws -> Int {
                    var processed = 0
                    for _ in 0..<300 where processed < wanted {
                        try await Task.sleep(for: .milliseconds(200))
                        processed = try fixture.count("SELECT count(*) FROM user_logins")
                    }
                    return processed
                }
                try await fixture.send((0..<100).map { Self.body($0) })
                #expect(try await waitFor(100) == 100)
                // The endpoint goes down for longer than the credentials live: they expire.
                container.outage = true
                try await fixture.send((100..<200).map { Self.body($0) })
                try await Task.sleep(for: .seconds(6))
                #expect(loader.process.isRunning, "--follow keeps going without credentials")
                container.outage = false
                #expect(try await waitFor(200) == 200, "loaded once credentials are back")
                loader.signal(SIGTERM)
                let outcome = await loader.finished()
                #expect(outcome.status == 0, "\(outcome.stderr)")
                #expect(outcome.stderr.contains("expired at"), "the operator is told why: \(outcome.stderr.suffix(2000))")
                #expect(try fixture.count("SELECT count(DISTINCT user_id) FROM user_logins") == 200)
                #expect(try await fixture.messagesLeft() == 0)
            }
        }
    }
}
