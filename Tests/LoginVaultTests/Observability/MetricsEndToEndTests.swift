import Foundation
import LoginVault
import Postgres
import TestSupport
import Testing

/// Issue 16's done-when: `load --follow` with metrics on takes 5,000 messages; `/metrics`
/// and `/readyz` are scraped while it works and after; the counters agree with the
/// database and, after SIGTERM, with the final summary, to the message.
@Suite("Observability: load --follow with metrics", .enabled(if: Integration.postgres && Integration.sqs), .serialized)
struct MetricsEndToEndTests {
    static func bodies(_ range: Range<Int>) -> [String] {
        range.map { #"{"user_id":"obs-\#($0)","ip":"10.16.\#($0 / 250).\#($0 % 250)","device_id":"dev-\#($0)"}"# }
    }

    /// 25 bodies that end in rejected_logins: 5 rejected while staging (not JSON), 20 by
    /// processing, of four reasons (one of them an SNS envelope around something not JSON).
    static let rejectedBodies: [String] = (0..<5).flatMap { i in [
        "not json \(i) {",
        #"{"ip":"10.0.0.\#(i)"}"#,
        #"{"user_id":"bad-\#(i)","ip":17}"#,
        #"{"user_id":"bad-\#(i)","ip":"999.0.0.\#(i)"}"#,
        #"{"Type":"Notification","MessageId":"sns-\#(i)","TopicArn":"arn:aws:sns:us-east-1:123456789012:t","Message":"login \#(i)"}"#,
    ] }
    static let stagingRejects = 5, processingRejects = 20

    /// The samples of `loginvault_rejected_logins_total`, by their reason label.
    static func rejectsByReason(_ exposition: String) -> [String: Int] {
        var counts: [String: Int] = [:]
        let prefix = #"loginvault_rejected_logins_total{reason=""#
        for line in exposition.split(separator: "\n") where line.hasPrefix(prefix) {
            let rest = line.dropFirst(prefix.count)
            guard let quote = rest.firstIndex(of: "\""), let value = rest.split(separator: " ").last.flatMap({ Double($0) }) else { continue }
            counts[String(rest[..<quote])] = Int(value)
        }
        return counts
    }

    @Test func fiveThousandMessagesScrapedDuringAndAfter() async throws {
        try await LoadFixture.with("metrics") { fixture in
            let port = try Scrape.freePort()
            let base = "http://127.0.0.1:\(port)"
            var environment = fixture.environment
            environment["LOGINVAULT_LOG_FORMAT"] = "json"   // the variable, not the option
            let loader = try LoginVaultExecutable.start(
                fixture.loadArguments(["--follow", "--json", "--metrics-address", "127.0.0.1:\(port)", "--metrics-interval", "1",
                                       "--process-every", "2", "--wait-time-seconds", "1", "--log-level", "info"]),
                environment: environment)
            var stopped = false
            defer { if !stopped { loader.signal(SIGKILL); _ = loader.wait() } }

            // moto answers a receive slowly when thousands of messages wait (over the 11 s request
            // timeout at 2,500 here), so the messages arrive in waves, as a producer sends them.
            // Each wave waits for the loader to take the last one, for at most 5 minutes (a
            // loaded machine slows moto, not the contract; a loader that stops taking is caught
            // by the checks after, which compare everything sent with the database).
            func feed(_ range: Range<Int>) async throws {
                for start in stride(from: range.lowerBound, to: range.upperBound, by: 250) {
                    try await fixture.send(Self.bodies(start..<min(start + 250, range.upperBound)))
                    let waveDeadline = ContinuousClock.now + .seconds(300)
                    while ContinuousClock.now < waveDeadline, loader.process.isRunning, try await fixture.messagesLeft() > 500 {
                        try await Task.sleep(for: .milliseconds(200))
                    }
                }
            }
            try await fixture.send(Self.rejectedBodies)
            try await feed(0..<2500)

            // During: the listener is up, readiness holds, and the counters move.
            var during: String?
            var readyDuring: Scrape.Answer?
            var lastTry = ""
            let deadline = ContinuousClock.now + .seconds(120)
            while ContinuousClock.now < deadline, loader.process.isRunning {
                do {
                    let answer = try await Scrape.get(base + "/metrics")
                    lastTry = "HTTP \(answer.status): \(answer.body.prefix(300))"
                    if answer.status == 200, let received = Scrape.value(answer.body, "loginvault_messages_received_total"), received > 0 {
                        during = answer.body
                        readyDuring = try await Scrape.get(base + "/readyz")
                        break
                    }
                } catch {
                    lastTry = "\(error)"
                }
                try await Task.sleep(for: .milliseconds(100))
            }
            if during == nil {
                loader.signal(SIGKILL)
                stopped = true
                let outcome = loader.wait()
                Issue.record("no scrape showed received messages; last try: \(lastTry); loader: \(outcome.status) \(outcome.stderr.suffix(3000))")
                return
            }
            let midway = try #require(during)
            #expect(readyDuring?.status == 200, "\(readyDuring?.body ?? "")")
            #expect(readyDuring?.body.contains("migrations current") == true, "\(readyDuring?.body ?? "")")
            if let problems = try Scrape.promtoolProblems(midway) { #expect(problems.isEmpty, "\(problems)") }
            #expect(try await Scrape.get(base + "/healthz").status == 200)

            // The second half arrives while it runs.
            try await feed(2500..<5000)

            // After: everything processed and the queue empty. (A send that moto took but answered
            // too late is sent again under a new message id: a new login, by the contract, so the
            // database, not the number 5,000, is what the counters are compared with.)
            var final = ""
            func settled() async throws -> Bool {
                final = try await Scrape.get(base + "/metrics").body
                let users = try fixture.count("SELECT count(*) FROM user_logins")
                let left = try await fixture.messagesLeft()
                return try left == 0 && fixture.count("SELECT count(DISTINCT user_id) FROM user_logins") == 5000
                    && fixture.count("SELECT count(*) FROM raw_logins") == 0
                    && fixture.count("SELECT count(*) FROM rejected_logins") == Self.rejectedBodies.count
                    && Scrape.value(final, "loginvault_processing_rows_rejected_total") == Double(Self.processingRejects)
                    && Scrape.value(final, "loginvault_processing_rows_upserted_total") == Double(users)
                    && Scrape.value(final, "loginvault_messages_deleted_total") == Scrape.value(final, "loginvault_messages_received_total")
            }
            // Settling is timed from the last send (the feed's own pace depends on the machine's
            // load), and is checked at least once, so `final` is always a real scrape.
            let settleDeadline = ContinuousClock.now + .seconds(300)
            while try await !settled(), ContinuousClock.now < settleDeadline, loader.process.isRunning {
                try await Task.sleep(for: .milliseconds(500))
            }
            let received = try #require(Scrape.value(final, "loginvault_messages_received_total"))
            let staged = try #require(Scrape.value(final, "loginvault_messages_staged_total"))
            let duplicates = try #require(Scrape.value(final, "loginvault_messages_duplicate_total"))
            let users = try fixture.count("SELECT count(*) FROM user_logins")
            #expect(try fixture.count("SELECT count(DISTINCT user_id) FROM user_logins") == 5000, "every body landed")
            #expect(users >= 5000)
            #expect(try fixture.count("SELECT count(*) FROM raw_logins") == 0)
            #expect(try fixture.count("SELECT count(*) FROM rejected_logins") == Self.rejectedBodies.count)
            // Each staged row became a login, a reject, or (a copy of a message processed before:
            // moto handed it out again after its first copy left staging) an unchanged row.
            let unchanged = try fixture.count("SELECT coalesce(sum(unchanged), 0)::int FROM loginvault.process_runs")
            #expect(staged == Double(users + Self.processingRejects + unchanged), "every staged row accounted for")
            #expect(received == staged + duplicates + Double(Self.stagingRejects), "moto may hand a message out twice; the copy is a duplicate")
            #expect(Scrape.value(final, "loginvault_messages_deleted_total") == received)
            #expect(Scrape.value(final, "loginvault_messages_rejected_total") == Double(Self.stagingRejects))
            #expect(Scrape.value(final, "loginvault_processing_rows_rejected_total") == Double(Self.processingRejects))
            // Rejects by reason: the counters say what rejected_logins holds, reason by reason.
            var quarantine: [String: Int] = [:]
            for row in try fixture.database.connect().query("SELECT reason, count(*)::int FROM rejected_logins GROUP BY reason").rows {
                quarantine[row[0].string ?? ""] = row[1].int
            }
            #expect(Self.rejectsByReason(final) == quarantine, "loginvault_rejected_logins_total{reason} vs rejected_logins")
            #expect(quarantine == ["invalid_json": 5, "missing_user_id": 5, "wrong_type:ip": 5, "invalid_ip": 5, "sns_invalid_message": 5],
                    "(control: the reasons the test sent)")
            #expect(Scrape.value(final, "loginvault_processing_rows_upserted_total") == Double(users))
            #expect(try fixture.count("SELECT coalesce(sum(upserted), 0)::int FROM loginvault.process_runs") == users)
            // Runs go on every 2 s, so one may finish between the scrape and this query: at least 1, at most the log's.
            let runs = Scrape.value(final, "loginvault_processing_runs_total", labels: #"outcome="success""#) ?? 0
            let logged = Double(try fixture.count("SELECT count(*) FROM loginvault.process_runs"))
            #expect(runs >= 1 && runs <= logged)
            #expect(Scrape.value(final, "loginvault_messages_in_flight") == 0)
            #expect((Scrape.value(final, "loginvault_batch_size_messages_sum") ?? 0) == received)
            #expect(Scrape.value(final, "loginvault_receive_to_delete_seconds_count") == Scrape.value(final, "loginvault_messages_deleted_total"))
            #expect((Scrape.value(final, "loginvault_sqs_requests_total",
                                  labels: #"operation="ReceiveMessage",outcome="success""#) ?? 0) > 0)
            #expect((Scrape.value(final, "loginvault_last_commit_timestamp_seconds") ?? 0) > Date().timeIntervalSince1970 - 600)
            #expect(Scrape.value(final, "loginvault_credential_refreshes_total") == 0)
            if let problems = try Scrape.promtoolProblems(final) { #expect(problems.isEmpty, "\(problems)") }
            let readyAfter = try await Scrape.get(base + "/readyz")
            #expect(readyAfter.status == 200, "\(readyAfter.body)")
            #expect(try await Scrape.get(base + "/healthz").status == 200)
            // The poller saw the queue empty and the backlog gone (it polls every second).
            try await Task.sleep(for: .seconds(2.5))
            let polled = try await Scrape.get(base + "/metrics").body
            #expect(Scrape.value(polled, "loginvault_queue_messages_visible") == 0)
            #expect(Scrape.value(polled, "loginvault_staging_backlog_rows") == 0)

            // SIGTERM: the summary says what the last scrape said.
            loader.signal(SIGTERM)
            let outcome = loader.wait()
            stopped = true
            #expect(outcome.status == 0, "\(outcome.stderr.suffix(2000))")
            let summary = try #require(try JSONSerialization.jsonObject(with: Data(outcome.stdout.utf8)) as? [String: Any])
            let statistics = try #require(summary["statistics"] as? [String: Any])
            for (key, metric) in [("received", "loginvault_messages_received_total"), ("staged", "loginvault_messages_staged_total"),
                                  ("duplicates", "loginvault_messages_duplicate_total"), ("rejected", "loginvault_messages_rejected_total"),
                                  ("quarantined", "loginvault_messages_quarantined_total"), ("deleted", "loginvault_messages_deleted_total")] {
                #expect((statistics[key] as? Int).map(Double.init) == Scrape.value(polled, metric), "\(key) vs \(metric)")
            }
            // Every log line was one JSON object (LOGINVAULT_LOG_FORMAT=json).
            let lines = outcome.stderr.split(separator: "\n")
            #expect(!lines.isEmpty, "(control: it logged at info level)")
            for line in lines {
                let object = try? JSONSerialization.jsonObject(with: Data(line.utf8)) as? [String: Any]
                #expect(object?["level"] != nil && object?["logger"] != nil && object?["timestamp"] != nil, "not a JSON log line: \(line)")
            }
            #expect(outcome.stderr.contains("metrics on http://127.0.0.1:\(port)/metrics"))
        }
    }

    @Test func readinessFailsWhileMigrationsAreNotCurrent() async throws {
        try await LoadFixture.with("notready") { fixture in
            let port = try Scrape.freePort()
            let loader = try LoginVaultExecutable.start(
                fixture.loadArguments(["--follow", "--metrics-address", "127.0.0.1:\(port)", "--wait-time-seconds", "1"]),
                environment: fixture.environment)
            defer { loader.signal(SIGKILL); _ = loader.wait() }
            var ready: Scrape.Answer?
            for _ in 0..<200 {
                if let answer = try? await Scrape.get("http://127.0.0.1:\(port)/readyz") { ready = answer; break }
                try await Task.sleep(for: .milliseconds(100))
            }
            #expect(ready?.status == 200, "\(ready?.body ?? "no answer")")
            // A migration applied by hand that the files do not have: no longer current.
            try fixture.database.connect().runScript("""
                INSERT INTO loginvault.schema_migrations (version, description, file_name, checksum, execution_ms)
                VALUES (9999, 'from elsewhere', '9999_from_elsewhere.sql', repeat('0', 64), 1)
                """)
            let drifted = try await Scrape.get("http://127.0.0.1:\(port)/readyz")
            #expect(drifted.status == 503)
            #expect(drifted.body.contains("9999_from_elsewhere.sql missing"), "\(drifted.body)")
            try fixture.database.connect().runScript("DELETE FROM loginvault.schema_migrations WHERE version = 9999")
            #expect(try await Scrape.get("http://127.0.0.1:\(port)/readyz").status == 200)
        }
    }
}
