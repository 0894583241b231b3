import Foundation
import TestSupport
import Testing

/// Credentials that are not there yet when `load` starts (a container whose credentials
/// endpoint answers only after a few seconds): `--follow` waits for them with backoff, says so,
/// and answers `/readyz` with 503 and the reason meanwhile; drain mode fails at once.
@Suite("credentials unavailable at start", .enabled(if: Integration.postgres && Integration.sqs))
struct CredentialsAtStartTests {
    /// The loader's environment: credentials from `credentialsURL` (the container provider) only,
    /// as in an ECS task (also used by `ExpiringCredentialsLoadTests`).
    static func environment(_ fixture: LoadFixture, _ credentialsURL: URL) -> [String: String?] {
        var environment = fixture.environment
        for name in ["AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY", "AWS_SESSION_TOKEN", "AWS_WEB_IDENTITY_TOKEN_FILE",
                     "AWS_CONTAINER_CREDENTIALS_RELATIVE_URI"] {
            environment[name] = .some(nil)
        }
        environment["AWS_CONTAINER_CREDENTIALS_FULL_URI"] = credentialsURL.absoluteString + "/v2/credentials/task"
        environment["AWS_EC2_METADATA_DISABLED"] = "true"
        return environment
    }

    @Test func followWaitsForCredentialsThatAreNotThereYetAndLosesNothing() async throws {
        let container = FakeContainerCredentials(token: nil, lifetime: .seconds(600))
        container.outage = true   // refuses (503) from the start
        try await container.run { credentialsURL in
            try await LoadFixture.with("late-creds") { fixture in
                try await fixture.send((0..<200).map { ExpiringCredentialsLoadTests.body($0) })
                let port = try Scrape.freePort()
                let loader = try LoginVaultExecutable.start(
                    fixture.loadArguments(["--follow", "--process-every", "1", "--wait-time-seconds", "1",
                                           "--metrics-address", "127.0.0.1:\(port)"]),
                    environment: Self.environment(fixture, credentialsURL))
                // While the endpoint refuses: the process stays up and says why it is not ready.
                var notReady: Scrape.Answer?
                for _ in 0..<100 where notReady == nil {
                    try await Task.sleep(for: .milliseconds(100))
                    notReady = try? await Scrape.get("http://127.0.0.1:\(port)/readyz")
                }
                try await Task.sleep(for: .seconds(3))
                #expect(loader.process.isRunning, "--follow does not give up on credentials that are not there yet")
                let answer = try #require(notReady)
                #expect(answer.status == 503, "\(answer.body)")
                #expect(answer.body.contains("credentials"), "the reason names the credentials: \(answer.body)")
                #expect(try await Scrape.get("http://127.0.0.1:\(port)/healthz").status == 200, "alive while it waits")
                let later = try await Scrape.get("http://127.0.0.1:\(port)/readyz")
                #expect(later.status == 503 && later.body.contains("credentials"), "\(later.body)")
                #expect(try fixture.count("SELECT count(*) FROM raw_logins") + (try fixture.count("SELECT count(*) FROM user_logins")) == 0)

                container.outage = false
                var processed = 0
                for _ in 0..<300 where processed < 200 {
                    try await Task.sleep(for: .milliseconds(200))
                    processed = try fixture.count("SELECT count(*) FROM user_logins")
                }
                let ready = try await Scrape.get("http://127.0.0.1:\(port)/readyz")
                #expect(ready.status == 200, "ready once the credentials came: \(ready.body)")
                try await fixture.send((200..<300).map { ExpiringCredentialsLoadTests.body($0) })
                for _ in 0..<300 where processed < 300 {
                    try await Task.sleep(for: .milliseconds(200))
                    processed = try fixture.count("SELECT count(*) FROM user_logins")
                }
                loader.signal(SIGTERM)
                let outcome = await loader.finished()
                #expect(outcome.status == 0, "\(outcome.stderr)")
                #expect(outcome.stderr.contains("AWS credentials are not available yet"), "a clear line: \(outcome.stderr.suffix(3000))")
                #expect(!outcome.stderr.contains("Fatal error") && !outcome.stderr.contains("fake-secret"))
                #expect(try fixture.count("SELECT count(*) FROM user_logins") == 300, "none lost, none duplicated")
                #expect(try fixture.count("SELECT count(DISTINCT user_id) FROM user_logins") == 300, "each login once")
                #expect(try await fixture.messagesLeft() == 0, "every message deleted")
            }
        }
    }

    @Test func followStopsCleanlyOnSigtermWhileStillWaitingForCredentials() async throws {
        let container = FakeContainerCredentials(token: nil, lifetime: .seconds(600))
        container.outage = true
        try await container.run { credentialsURL in
            try await LoadFixture.with("never-creds") { fixture in
                let loader = try LoginVaultExecutable.start(fixture.loadArguments(["--follow"]),
                                                            environment: Self.environment(fixture, credentialsURL))
                try await Task.sleep(for: .seconds(3))
                #expect(loader.process.isRunning)
                let signalled = ContinuousClock.now
                loader.signal(SIGTERM)
                let outcome = await loader.finished()
                #expect(ContinuousClock.now - signalled < .seconds(5), "SIGTERM is not held up by the backoff")
                #expect(outcome.status == 5, "stopped before any credentials came: the queue's exit code, \(outcome.status): \(outcome.stderr)")
                #expect(outcome.stderr.contains("AWS credentials are not available yet"), "\(outcome.stderr)")
            }
        }
    }

    @Test func drainFailsFastWithAClearMessage() async throws {
        let container = FakeContainerCredentials(token: nil, lifetime: .seconds(600))
        container.outage = true
        try await container.run { credentialsURL in
            try await LoadFixture.with("drain-no-creds") { fixture in
                try await fixture.send((0..<10).map { ExpiringCredentialsLoadTests.body($0) })
                let started = ContinuousClock.now
                let outcome = try await LoginVaultExecutable.runDetached(fixture.loadArguments([]),
                                                                         environment: Self.environment(fixture, credentialsURL))
                #expect(ContinuousClock.now - started < .seconds(30), "drain does not wait for credentials")
                #expect(outcome.status == 5, "the queue's exit code: \(outcome.status) \(outcome.stderr)")
                #expect(outcome.stderr.contains("loginvault: credentials: cannot get AWS credentials from container credentials endpoint"),
                        "names where it looked: \(outcome.stderr)")
                #expect(outcome.stderr.contains("--follow"), "says what would wait: \(outcome.stderr)")
                #expect(try await fixture.messagesLeft() == 10, "nothing received")
            }
        }
    }
}
