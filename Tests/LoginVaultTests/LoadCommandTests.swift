import Foundation
import LoginVault
import Postgres
import TestSupport
import Testing

/// `loginvault load` end to end: the built binary, a real PostgreSQL, a real moto.
@Suite("loginvault load", .enabled(if: Integration.postgres && Integration.sqs))
struct LoadCommandTests {
    @Test func theSampleFromTheQueue() async throws {
        try await LoadFixture.with("sample") { fixture in
            try await fixture.send(try LoadFixture.sampleBodies)
            let outcome = try fixture.load(["--json"])
            #expect(outcome.status == 0, "\(outcome.stderr)")
            let summary = try JSONSerialization.jsonObject(with: Data(outcome.stdout.utf8)) as? [String: Any]
            let statistics = summary?["statistics"] as? [String: Any]
            // moto may deliver a message twice to concurrent receivers: the copy is a duplicate.
            let received = try #require(statistics?["received"] as? Int)
            #expect(received >= 100)
            #expect(statistics?["staged"] as? Int == 100)
            #expect(statistics?["duplicates"] as? Int == received - 100)
            #expect(statistics?["deleted"] as? Int == received)
            #expect((summary?["process"] as? [String])?.first?.contains("process_raw_logins") == true)
            #expect(try fixture.count("SELECT count(*) FROM user_logins") == 99)
            #expect(try fixture.count("SELECT count(*) FROM user_logins WHERE locale IS NULL") == 29)
            #expect(try fixture.count("SELECT count(*) FROM rejected_logins") == 1)
            #expect(try fixture.count("SELECT count(*) FROM raw_logins") == 0)
            #expect(try await fixture.messagesLeft() == 0)
            // One 10-message receive and one 10-entry delete per ten messages, plus the empty polls.
            let perMessage = try #require(summary?["requests_per_message"] as? Double)
            #expect(perMessage < 0.4)
        }
    }

    @Test func processingWhileDrainingTakesEveryRowOnce() async throws {
        try await LoadFixture.with("bgprocess") { fixture in
            // 300 distinct logins, staged 20 at a time; a processing run on a second
            // session after every 40 staged, while the drain goes on, then the final one.
            let bodies = (0..<300).map { #"{"user_id":"bg-\#($0)","ip":"10.7.\#($0 / 250).\#($0 % 250)","device_id":"d-\#($0)"}"# }
            try await fixture.send(bodies)
            let outcome = try fixture.load(["--json", "--batch-size", "20", "--batch-window-ms", "50",
                                            "--process-after", "40", "--log-level", "info"])
            #expect(outcome.status == 0, "\(outcome.stderr)")
            let summary = try JSONSerialization.jsonObject(with: Data(outcome.stdout.utf8)) as? [String: Any]
            let statistics = summary?["statistics"] as? [String: Any]
            // SQS delivers at least once: a copy redelivered after its first was processed is staged
            // again and found unchanged by processing. Staged minus unchanged is every message, once.
            let runsForCount = try #require(summary?["process_runs"] as? [[String: Any]])
            let unchanged = runsForCount.compactMap { $0["unchanged"] as? Int }.reduce(0, +)
            #expect((statistics?["staged"] as? Int).map { $0 - unchanged } == 300)
            let notices = try #require(summary?["process"] as? [String])
            #expect(notices.count >= 2, "runs while draining, then the final one: \(notices)")
            // Each run reports the staged rows it took; together they are every row, once.
            let taken = notices.compactMap { notice -> Int? in
                guard let range = notice.range(of: #"process_raw_logins: \d+ staged"#, options: .regularExpression) else { return nil }
                return Int(notice[range].dropFirst("process_raw_logins: ".count).split(separator: " ")[0])
            }
            #expect(taken.count == notices.count)
            #expect(taken.reduce(0, +) - unchanged == 300, "\(notices)")
            // The same runs as values: their run-log rows (ProcessingRun), not parsed text.
            let runs = try #require(summary?["process_runs"] as? [[String: Any]])
            #expect(runs.count == notices.count)
            #expect(runs.compactMap { $0["staged"] as? Int }.reduce(0, +) - unchanged == 300)
            #expect(Set(runs.compactMap { $0["run_id"] as? Int }).count == runs.count)
            #expect(runs.allSatisfy { $0["finished_at"] is String && $0["upserted"] is Int })
            #expect(try fixture.count("SELECT count(*) FROM user_logins") == 300)
            #expect(try fixture.count("SELECT count(DISTINCT message_id) FROM user_logins") == 300)
            #expect(try fixture.count("SELECT count(*) FROM raw_logins") == 0)
            #expect(try fixture.count("SELECT count(*) FROM rejected_logins") == 0)
            #expect(try fixture.count("SELECT count(*) FROM loginvault.process_runs") == notices.count)
            #expect(try await fixture.messagesLeft() == 0)
        }
    }

    @Test func processAfterZeroProcessesOnlyAtTheEnd() async throws {
        try await LoadFixture.with("bgoff") { fixture in
            try await fixture.send(try LoadFixture.sampleBodies)
            let outcome = try fixture.load(["--json", "--batch-size", "10", "--process-after", "0", "--processing-sessions", "1"])
            #expect(outcome.status == 0, "\(outcome.stderr)")
            let summary = try JSONSerialization.jsonObject(with: Data(outcome.stdout.utf8)) as? [String: Any]
            #expect((summary?["process"] as? [String])?.count == 1)
            #expect(try fixture.count("SELECT count(*) FROM user_logins") == 99)
        }
    }

    @Test func theFinalProcessingRunsOnSeveralSessionsAndTakesEachRowOnce() async throws {
        try await LoadFixture.with("sessions") { fixture in
            try await fixture.send(try LoadFixture.sampleBodies)
            let outcome = try fixture.load(["--json", "--batch-size", "10", "--process-after", "0", "--processing-sessions", "3"])
            #expect(outcome.status == 0, "\(outcome.stderr)")
            let summary = try JSONSerialization.jsonObject(with: Data(outcome.stdout.utf8)) as? [String: Any]
            let runs = try #require(summary?["process_runs"] as? [[String: Any]])
            #expect(runs.count == 3, "one final run per session: \(runs)")
            // SKIP LOCKED: the sessions' claims are disjoint and add up to what was staged.
            let staged = (summary?["statistics"] as? [String: Any])?["staged"] as? Int
            #expect(runs.reduce(0) { $0 + (($1["staged"] as? Int) ?? 0) } == staged)
            #expect(try fixture.count("SELECT count(*) FROM user_logins") == 99)
            #expect(try fixture.count("SELECT count(*) FROM raw_logins") == 0)
        }
    }

    @Test func fromFileGivesTheSameLoginsAsTheQueue() async throws {
        try await LoadFixture.with("samefile") { fixture in
            try await fixture.send(try LoadFixture.sampleBodies)
            #expect(try fixture.load().status == 0)
            let file = try LoginVaultExecutable.run(
                ["load", "--from-file", LoadFixture.samplePath, "--database", fixture.database.connectionString])
            #expect(file.status == 0, "\(file.stderr)")
            #expect(file.stdout.contains("received 100, staged 100"))
            let columns = "user_id, device_type, masked_ip, masked_device_id, locale, app_version"
            let difference = try fixture.count("""
                SELECT count(*) FROM (
                  (SELECT \(columns) FROM user_logins WHERE message_id LIKE 'file-%'
                   EXCEPT ALL SELECT \(columns) FROM user_logins WHERE message_id NOT LIKE 'file-%')
                  UNION ALL
                  (SELECT \(columns) FROM user_logins WHERE message_id NOT LIKE 'file-%'
                   EXCEPT ALL SELECT \(columns) FROM user_logins WHERE message_id LIKE 'file-%')) d
                """)
            #expect(difference == 0)
            #expect(try fixture.count("SELECT count(*) FROM user_logins") == 198)
            // Replaying the file adds nothing: the same message ids upsert the same rows.
            let replay = try LoginVaultExecutable.run(
                ["load", "--from-file", LoadFixture.samplePath, "--database", fixture.database.connectionString])
            #expect(replay.status == 0)
            #expect(try fixture.count("SELECT count(*) FROM user_logins") == 198)
            #expect(try fixture.count("SELECT count(*) FROM rejected_logins") == 2)
        }
    }

    @Test func aRedeliveredMessageIsSkippedAndAnEqualBodyWithANewIdIsKept() async throws {
        try await LoadFixture.with("redelivery") { fixture in
            let body = try LoadFixture.sampleBodies[0]
            try await fixture.send([body, body])
            // A first loader stages without processing, then "crashes" before deleting:
            // receive and stage through the real paths, delete nothing, let them come back.
            let received = try await fixture.client.receiveMessages(queueURL: fixture.queueURL, maxMessages: 10,
                                                                    waitTimeSeconds: 1, visibilityTimeout: 1)
            #expect(received.count == 2)
            let staging = try fixture.database.connect()
            for message in received {
                try staging.query("INSERT INTO raw_logins (message_id, body) VALUES ($1, $2::jsonb)",
                                  [.text(message.messageId), .text(message.body)])
            }
            try await Task.sleep(for: .seconds(1.5))
            let outcome = try fixture.load()
            #expect(outcome.status == 0, "\(outcome.stderr)")
            #expect(outcome.stdout.contains("received 2, staged 0, duplicates 2"))
            #expect(outcome.stdout.contains("deleted 2"))
            #expect(try fixture.count("SELECT count(*) FROM user_logins") == 2)
            #expect(try fixture.count("SELECT count(DISTINCT message_id) FROM user_logins") == 2)
            #expect(try await fixture.messagesLeft() == 0)
        }
    }

    @Test func invalidBodiesAreQuarantinedAndDeleted() async throws {
        try await LoadFixture.with("invalid") { fixture in
            let bodies = [
                "not json at all", #"{"user_id": "x", "ip": "1.2.3.4""#, #"{"a": "\u0000"}"#, #""\ud800""#,
                "[1, 2, 3]", "null", #"{"foo": "oops_wrong_msg_type", "bar": "123"}"#,
            ]
            try await fixture.send(bodies + [try LoadFixture.sampleBodies[0]])
            let outcome = try fixture.load()
            #expect(outcome.status == 0, "\(outcome.stderr)")
            #expect(try fixture.count("SELECT count(*) FROM user_logins") == 1)
            #expect(try fixture.count("SELECT count(*) FROM rejected_logins") == bodies.count)
            #expect(try fixture.count("SELECT count(*) FROM rejected_logins WHERE reason IS NULL OR reason = ''") == 0)
            #expect(try await fixture.messagesLeft() == 0)
        }
    }

    @Test func messagesReceivedTooOftenAreQuarantined() async throws {
        try await LoadFixture.with("poison") { fixture in
            try await fixture.send([try LoadFixture.sampleBodies[1]])
            for _ in 0..<3 {
                let got = try await fixture.client.receiveMessages(queueURL: fixture.queueURL, maxMessages: 1,
                                                                   waitTimeSeconds: 1, visibilityTimeout: 0)
                #expect(got.count == 1)
            }
            let outcome = try fixture.load(["--max-receives", "3"])
            #expect(outcome.status == 0, "\(outcome.stderr)")
            #expect(outcome.stdout.contains("quarantined 1"))
            #expect(try fixture.count("SELECT count(*) FROM rejected_logins WHERE reason = 'too_many_receives'") == 1)
            #expect(try fixture.count("SELECT count(*) FROM user_logins") == 0)
            #expect(try await fixture.messagesLeft() == 0)
        }
    }

    @Test func followRunsUntilSIGTERMAndProcessesPeriodically() async throws {
        try await LoadFixture.with("follow") { fixture in
            let loader = try LoginVaultExecutable.start(
                fixture.loadArguments(["--follow", "--process-every", "1", "--wait-time-seconds", "1"]),
                environment: fixture.environment)
            // Messages sent while it runs are picked up and processed without a restart.
            try await Task.sleep(for: .seconds(1))
            try await fixture.send(Array(try LoadFixture.sampleBodies.filter { $0.contains("user_id") }.prefix(20)))
            var processed = 0
            for _ in 0..<100 where processed < 20 {
                try await Task.sleep(for: .milliseconds(200))
                processed = try fixture.count("SELECT count(*) FROM user_logins")
            }
            #expect(processed == 20)
            loader.signal(SIGTERM)
            let outcome = loader.wait()
            #expect(outcome.status == 0, "\(outcome.stderr)")
            #expect(outcome.stdout.contains("loginvault load (follow)"))
            #expect(try await fixture.messagesLeft() == 0)
        }
    }

    @Test func fromStandardInputAsJSONLines() async throws {
        try await ScratchDatabase.with("stdin") { db in
            let connection = try db.connect()
            let migrations = Integration.repositoryRoot.appendingPathComponent("sql/migrations")
            try Migrator(connection: connection, migrationsDirectory: migrations).migrate()
            let lines = try LoadFixture.sampleBodies.prefix(5).joined(separator: "\n") + "\nnot json\n"
            let outcome = try LoginVaultExecutable.run(
                ["load", "--from-file", "-", "--database", db.connectionString, "--json"], stdin: Data(lines.utf8))
            #expect(outcome.status == 0, "\(outcome.stderr)")
            #expect(outcome.stdout.contains("\"received\":6"))
            #expect(try connection.query("SELECT count(*) FROM user_logins").first?[0].int == 5)
            #expect(try connection.query("SELECT reason FROM rejected_logins").first?[0].string == "invalid_json")
        }
    }

    @Test func aMissingQueueIsExitFiveWithAWSsMessage() async throws {
        try await LoadFixture.with("missing") { fixture in
            let outcome = try LoginVaultExecutable.run(
                ["load", "--queue", "no-such-queue-\(UInt32.random(in: 0...UInt32.max))", "--database", fixture.database.connectionString],
                environment: fixture.environment)
            #expect(outcome.status == 5)
            #expect(outcome.stderr.contains("QueueDoesNotExist") || outcome.stderr.contains("NonExistentQueue"))
        }
    }

    @Test func usageErrorsAreExplained() throws {
        let both = try LoginVaultExecutable.run(["load", "--queue", "q", "--from-file", "f"])
        #expect(both.status == 64)
        #expect(both.stderr.contains("either --queue"))
        let help = try LoginVaultExecutable.run(["load", "--help"])
        for option in ["--queue", "--from-file", "--drain", "--follow", "--max-messages", "--receivers", "--no-process",
                       "--process-every", "--json", "--log-level", "--endpoint-url", "Exit codes"] {
            #expect(help.stdout.contains(option), "\(option) is not explained")
        }
    }
}
