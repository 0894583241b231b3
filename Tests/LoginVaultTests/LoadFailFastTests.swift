import Foundation
import LoginVault
import Postgres
import TestSupport
import Testing

/// The first-hour mistakes (a role without rights, a database without migrations, a
/// permanent SQL error while loading): `load` stops at once with one line that says what
/// to do, the messages are not received again and again (their receive count does not
/// climb), and a later, correct load makes every one of them a login, none a
/// `too_many_receives` reject.
@Suite("loginvault load fails fast", .enabled(if: Integration.postgres && Integration.sqs), .serialized)
struct LoadFailFastTests {
    static func logins(_ count: Int, tag: String) -> [String] {
        (0..<count).map { #"{"user_id":"\#(tag)-\#($0)","ip":"10.9.\#($0 / 250).\#($0 % 250)","device_id":"d-\#($0)","device_type":"ios"}"# }
    }

    /// The correct load afterwards: with `--max-receives 3`, a message the failed load had
    /// received again and again (the old retry loop: 5 or more times within its give-up bound)
    /// would be quarantined as too_many_receives. 3, not 2: moto, like SQS, may hand a message
    /// to two receives at once, which raises its count once more without anything being wrong.
    static func expectCleanRerun(_ fixture: LoadFixture, count: Int) throws {
        let rerun = try fixture.load(["--max-receives", "3", "--wait-time-seconds", "1"])
        #expect(rerun.status == 0, "\(rerun.stderr)")
        #expect(try fixture.count("SELECT count(*) FROM user_logins") == count)
        #expect(try fixture.count("SELECT count(*) FROM rejected_logins WHERE reason = 'too_many_receives'") == 0)
    }

    @Test func aRoleWithoutLoaderRightsStopsAtOnceWithTheGrant() async throws {
        try await LoadFixture.with("norights") { fixture in
            try await fixture.send(Self.logins(30, tag: "norights"))
            let role = "lv_t_norights_\(UInt32.random(in: 0...UInt32.max))"
            let admin = try fixture.database.connect()
            try admin.runScript("CREATE ROLE \(role) LOGIN PASSWORD 'norights-pw'")
            defer { _ = try? PostgresConnection().runScript("DROP ROLE IF EXISTS \(role)") }
            let port = try admin.query("SELECT current_setting('port')").first![0].string!
            var environment = fixture.environment
            environment["PGPASSWORD"] = "norights-pw"
            let database = "host=127.0.0.1 port=\(port) dbname=\(fixture.database.name) user=\(role)"
            let outcome = try LoginVaultExecutable.run(
                ["load", "--queue", fixture.queueName, "--database", database, "--give-up-after", "10",
                 "--wait-time-seconds", "1", "--log-level", "warning"], environment: environment)
            #expect(outcome.status == 1, "\(outcome.stderr)")
            let lines = outcome.stderr.split(separator: "\n")
            #expect(lines.count == 1, "one line, no empty summary ahead of it: \(outcome.stderr)")
            #expect(outcome.stderr.contains("GRANT loginvault_loader TO \(role)"), "\(outcome.stderr)")
            #expect(outcome.stdout.isEmpty, "\(outcome.stdout)")
            #expect(try await fixture.messagesLeft() == 30)
            try admin.runScript("DROP OWNED BY \(role); DROP ROLE \(role)")
            try Self.expectCleanRerun(fixture, count: 30)
        }
    }

    @Test func aDatabaseWithoutMigrationsSaysRunMigrate() async throws {
        try await LoadFixture.with("unmigrated") { fixture in
            try await fixture.send(Self.logins(30, tag: "unmigrated"))
            let empty = try ScratchDatabase.create("unmigrated_target")
            defer { empty.drop() }
            let outcome = try LoginVaultExecutable.run(
                ["load", "--queue", fixture.queueName, "--database", empty.connectionString, "--give-up-after", "10",
                 "--wait-time-seconds", "1", "--log-level", "warning", "--json"], environment: fixture.environment)
            #expect(outcome.status == 1, "\(outcome.stderr)")
            #expect(outcome.stderr.split(separator: "\n").count == 1, "\(outcome.stderr)")
            #expect(outcome.stderr.contains("loginvault migrate"), "\(outcome.stderr)")
            #expect(outcome.stderr.contains(empty.name), "names the database: \(outcome.stderr)")
            #expect(!outcome.stderr.contains("type casts"), "PostgreSQL's hint for a missing function misleads: \(outcome.stderr)")
            // --json: the summary with the error, typed.
            let summary = try #require(try JSONSerialization.jsonObject(with: Data(outcome.stdout.utf8)) as? [String: Any])
            #expect((summary["error"] as? String)?.contains("loginvault migrate") == true)
            #expect((summary["statistics"] as? [String: Any])?["received"] as? Int == 0)
            #expect(try await fixture.messagesLeft() == 30)
            try Self.expectCleanRerun(fixture, count: 30)
        }
    }

    /// What the pre-flight cannot see: a permanent error on the first batch (here a trigger
    /// raising 42501). The batches in hand are released once, and the load stops.
    @Test func aPermanentErrorWhileStagingStopsAndReleasesOnce() async throws {
        try await LoadFixture.with("permanent") { fixture in
            try fixture.database.connect().runScript("""
                CREATE FUNCTION pg_temp_deny() RETURNS trigger LANGUAGE plpgsql AS
                  $$ BEGIN RAISE EXCEPTION 'permission denied for table raw_logins' USING ERRCODE = 'insufficient_privilege'; END $$;
                CREATE TRIGGER deny_staging BEFORE INSERT ON raw_logins FOR EACH STATEMENT EXECUTE FUNCTION pg_temp_deny();
                """)
            try await fixture.send(Self.logins(60, tag: "permanent"))
            let outcome = try fixture.load(["--json", "--batch-size", "10", "--give-up-after", "30", "--wait-time-seconds", "1"])
            #expect(outcome.status == 1, "\(outcome.stderr)")
            #expect(outcome.stderr.contains("42501"), "\(outcome.stderr)")
            let summary = try #require(try JSONSerialization.jsonObject(with: Data(outcome.stdout.utf8)) as? [String: Any])
            let statistics = try #require(summary["statistics"] as? [String: Any])
            let received = try #require(statistics["received"] as? Int)
            #expect(received >= 1 && received <= 60, "each message received at most once")
            #expect(statistics["failed_batches"] as? Int == 1, "stopped after the first failure, not a retry loop")
            #expect(statistics["released"] as? Int == received)
            #expect(statistics["deleted"] as? Int == 0)
            #expect(try await fixture.messagesLeft() == 60)
            #expect(try await fixture.messagesInvisible() == 0, "every message in hand was made visible again")
            try fixture.database.connect().runScript("DROP TRIGGER deny_staging ON raw_logins")
            try Self.expectCleanRerun(fixture, count: 60)
        }
    }

    /// In --follow, a permanent error is no retry loop either: the load ends, and nothing is
    /// left invisible (a long poll still running when the batch was released would have
    /// taken it again, then been cancelled with it).
    @Test func aPermanentErrorInFollowModeEndsTheLoad() async throws {
        try await LoadFixture.with("permfollow") { fixture in
            try fixture.database.connect().runScript("""
                CREATE FUNCTION pg_temp_deny() RETURNS trigger LANGUAGE plpgsql AS
                  $$ BEGIN RAISE EXCEPTION 'permission denied for table raw_logins' USING ERRCODE = 'insufficient_privilege'; END $$;
                CREATE TRIGGER deny_staging BEFORE INSERT ON raw_logins FOR EACH STATEMENT EXECUTE FUNCTION pg_temp_deny();
                """)
            try await fixture.send(Self.logins(40, tag: "permfollow"))
            let loader = try LoginVaultExecutable.start(
                fixture.loadArguments(["--follow", "--batch-size", "10", "--wait-time-seconds", "5"]), environment: fixture.environment)
            var ended = false
            for _ in 0..<300 where !ended {
                try await Task.sleep(for: .milliseconds(100))
                ended = !loader.process.isRunning
            }
            if !ended { loader.signal(SIGKILL) }
            let outcome = loader.wait()
            #expect(ended, "--follow kept retrying a permanent error")
            #expect(outcome.status == 1, "\(outcome.stderr)")
            #expect(try await fixture.messagesInvisible() == 0)
            #expect(try await fixture.messagesLeft() == 40)
            try fixture.database.connect().runScript("DROP TRIGGER deny_staging ON raw_logins")
            try Self.expectCleanRerun(fixture, count: 40)
        }
    }

    @Test func anUnreachableEndpointGivesUpInTimeWithACleanMessage() async throws {
        try await LoadFixture.with("unreachable") { fixture in
            let started = Date()
            let outcome = try fixture.load(["--endpoint-url", "http://127.0.0.1:1", "--give-up-after", "5"])
            let seconds = Date().timeIntervalSince(started)
            #expect(outcome.status == 5, "\(outcome.stderr)")
            // --give-up-after bounds what the endpoint costs (plus the start and the shutdown).
            #expect(seconds < 20, "took \(seconds) s")
            let last = outcome.stderr.split(separator: "\n").last.map(String.init) ?? ""
            #expect(last.contains("127.0.0.1:1"), "\(outcome.stderr)")
            #expect(!outcome.stderr.contains("NIOConnectionError") && !outcome.stderr.contains("SingleConnectionFailure"),
                    "\(outcome.stderr)")
            #expect(last.contains("--endpoint-url"), "says what to check: \(last)")
        }
    }

    @Test func aQueueURLNamingAnotherRegionSaysSo() async throws {
        try await LoadFixture.with("region") { fixture in
            let outcome = try fixture.load(["--queue", "https://sqs.eu-west-1.amazonaws.com/123456789012/no-such-\(UInt32.random(in: 0...UInt32.max))"])
            #expect(outcome.status == 5, "\(outcome.stderr)")
            #expect(outcome.stderr.contains("--region eu-west-1"), "\(outcome.stderr)")
        }
    }
}
