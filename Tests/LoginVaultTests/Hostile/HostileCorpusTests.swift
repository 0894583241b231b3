import Foundation
import Postgres
import TestSupport
import Testing

/// Issue 6, hostile input: every case of `corpus.json` goes through the real path
/// (one moto queue -> `loginvault load` -> `process_raw_logins`), all in one queue, so
/// that none may stop a batch and none may be lost. Each message id must end in exactly
/// one of user_logins / rejected_logins, with the expected values or reason.
@Suite("Hostile input corpus", .enabled(if: Integration.postgres && Integration.sqs))
struct HostileCorpusTests {
    @Test func theCorpusReadsAndCoversTheIssue() throws {
        let cases = try HostileCorpus.load()
        #expect(cases.count >= 100)
        #expect(Set(cases.map(\.name)).count == cases.count, "case names must be unique")
        let groups = Set(cases.map { $0.name.split(separator: "/").first.map(String.init) ?? "" })
        for group in ["shape", "unicode", "size", "duplicate-keys", "wrong-type", "too-long", "sql-injection", "ip", "empty", "missing"] {
            #expect(groups.contains(group), "no \(group)/ cases")
        }
        let big = try #require(cases.first { $0.name == "size/256KiB-valid" })
        #expect(big.body.utf8.count == 256 * 1024)
    }

    @Test func everyCaseEndsAsExpectedThroughTheRealPath() async throws {
        let cases = try HostileCorpus.load()
        try await LoadFixture.with("hostile") { fixture in
            // Send in batches of at most 10 messages and 200 KB (SQS's batch limit is 256 KiB).
            var caseOf: [String: HostileCase] = [:]
            var pending: [HostileCase] = []
            func flush() async throws {
                guard !pending.isEmpty else { return }
                let result = try await fixture.client.sendMessageBatch(queueURL: fixture.queueURL, bodies: pending.map(\.body))
                #expect(result.failed.isEmpty, "moto refused \(result.failed)")
                for (index, hostile) in pending.enumerated() {
                    if let id = result.messageIds[String(index)] { caseOf[id] = hostile }
                }
                pending = []
            }
            for hostile in cases {
                let bytes = hostile.body.utf8.count
                if pending.count == 10 || pending.reduce(0, { $0 + $1.body.utf8.count }) + bytes > 200_000 { try await flush() }
                pending.append(hostile)
            }
            try await flush()
            try #require(caseOf.count == cases.count, "every case was sent and has a message id")

            let outcome = try fixture.load(["--json", "--give-up-after", "20"])
            #expect(outcome.status == 0, "\(outcome.stderr)")
            let summary = try JSONSerialization.jsonObject(with: Data(outcome.stdout.utf8)) as? [String: Any]
            let statistics = try #require(summary?["statistics"] as? [String: Any], "\(outcome.stdout)")
            let batchErrors = outcome.stderr.split(separator: "\n").filter { $0.contains("failed") }.prefix(3)
            #expect(statistics["failed_batches"] as? Int == 0, "a hostile message stopped a batch: \(batchErrors)")
            #expect(statistics["released"] as? Int == 0)
            #expect((statistics["received"] as? Int ?? 0) >= cases.count)
            #expect(statistics["deleted"] as? Int == statistics["received"] as? Int)
            // Once, on a loaded machine, a message was counted as left although every received
            // message was deleted (cause not found): read moto's counters again for a while, and
            // if something is still left, say whether it is in flight, with the loader's summary.
            var left = try await fixture.messagesLeft()
            let countersDeadline = ContinuousClock.now + .seconds(10)
            while left != 0, ContinuousClock.now < countersDeadline {
                try await Task.sleep(for: .milliseconds(500))
                left = try await fixture.messagesLeft()
            }
            let inFlight = left == 0 ? 0 : try await fixture.messagesInvisible()
            #expect(left == 0, "messages left in the queue (\(inFlight) of them in flight); summary: \(statistics)")

            let database = try fixture.database.connect()
            #expect(try database.query("SELECT count(*) FROM raw_logins").first?[0].int == 0, "messages left in staging")
            var placed: [String: [String]] = [:]
            for row in try database.query("""
                SELECT message_id, 'user_logins' FROM user_logins
                UNION ALL SELECT message_id, 'rejected_logins' FROM rejected_logins
                """).rows {
                placed[row[0].string!, default: []].append(row[1].string!)
            }
            #expect(Set(placed.keys) == Set(caseOf.keys), "rows for message ids that were never sent, or ids lost")
            let twice = placed.filter { $0.value.count != 1 }
            #expect(twice.isEmpty, "message ids in more than one place: \(twice.map { "\(caseOf[$0.key]?.name ?? $0.key): \($0.value)" })")

            var endedAsExpected = 0
            for (messageId, hostile) in caseOf.sorted(by: { $0.value.name < $1.value.name }) {
                let problems: [String]
                do {
                    problems = try Self.problems(of: hostile, messageId: messageId, on: database)
                } catch {
                    problems = ["checking it failed: \(error)"]
                }
                if let known = hostile.knownIssue {
                    withKnownIssue(Comment(rawValue: "\(hostile.name): \(known)")) {
                        for problem in problems { Issue.record(Comment(rawValue: "\(hostile.name): \(problem)")) }
                    }
                } else {
                    for problem in problems { Issue.record(Comment(rawValue: "\(hostile.name): \(problem)")) }
                }
                if problems.isEmpty && hostile.knownIssue == nil { endedAsExpected += 1 }
            }
            SecurityFigures.record(test: #function, kind: .hostile, checks: endedAsExpected,
                                   what: "hostile-input cases that ended exactly as expected, of \(cases.count)")
        }
    }

    /// What is wrong with where `hostile` ended (empty: nothing).
    static func problems(of hostile: HostileCase, messageId: String, on database: PostgresConnection) throws -> [String] {
        // Superuser here: the owner's keys decrypt what was stored, loginvault.mask gives the expected masks.
        let row = try database.query("""
            SELECT u.user_id, u.device_type, u.locale, u.app_version,
                   u.masked_ip, u.masked_device_id, o.ip, o.device_id,
                   u.create_date BETWEEN (now() AT TIME ZONE 'UTC')::date - 1 AND (now() AT TIME ZONE 'UTC')::date AS date_ok
              FROM user_logins u CROSS JOIN LATERAL (
                     SELECT j->>'ip' AS ip, j->>'device_id' AS device_id
                       FROM loginvault.user_login_originals x,
                            LATERAL (SELECT loginvault.decrypt(x.originals, loginvault.originals_passphrase(x.key_id, NULL, NULL))::jsonb) d(j)
                      WHERE x.login_id = u.login_id) o
             WHERE u.message_id = $1
            """, [.text(messageId)]).first
        let reject = try database.query("""
            SELECT r.reason, loginvault.decrypt(r.body_encrypted, loginvault.originals_passphrase(r.key_id, NULL, NULL)) AS body
              FROM rejected_logins r
             WHERE r.message_id = $1
            """, [.text(messageId)]).first

        switch hostile.expected {
        case .reject(let reason):
            guard let reject else {
                return ["expected a reject (\(reason)), got \(row == nil ? "nothing" : "a user_logins row")"]
            }
            var problems: [String] = []
            let actual = reject["reason"].string ?? ""
            if actual != reason { problems.append("reason \(actual), expected \(reason)") }
            let stored = reject["body"].string
            if HostileCorpus.stagingReasons.contains(actual) {
                // Kept exactly as received (a NUL byte, which text cannot hold, as a space).
                let sent = hostile.body.replacingOccurrences(of: "\u{0}", with: " ")
                if stored != sent { problems.append("the quarantined body does not decrypt to the body as sent") }
            } else {
                let same = try database.query("SELECT $1::jsonb = $2::jsonb", [.optional(stored), .text(hostile.body)]).first?[0].bool
                if same != true { problems.append("the quarantined body does not decrypt to the JSON sent") }
            }
            return problems

        case .row(let expected):
            guard let row else {
                return ["expected a user_logins row, got \(reject.map { "a reject (\($0["reason"].string ?? "?"))" } ?? "nothing")"]
            }
            var problems: [String] = []
            func check(_ column: String, _ want: String?) {
                let got = row[column].string
                if got != want {
                    problems.append("\(column) is \(got.map { "\"\($0.prefix(80))\"" } ?? "NULL"), expected \(want.map { "\"\($0.prefix(80))\"" } ?? "NULL")")
                }
            }
            check("user_id", expected.userId)
            check("device_type", expected.deviceType)
            check("locale", expected.locale)
            check("app_version", expected.appVersion)
            let masks = try database.query("""
                SELECT loginvault.mask('ip', $1, loginvault.mask_key()), loginvault.mask('device_id', $2, loginvault.mask_key())
                """, [.optional(expected.ip), .optional(expected.deviceId)]).first
            if row["masked_ip"].string != masks?[0].string {
                problems.append("masked_ip is not the mask of \(expected.ip.map { "\"\($0)\"" } ?? "nothing (NULL)")")
            }
            if row["masked_device_id"].string != masks?[1].string {
                problems.append("masked_device_id is not the mask of \(expected.deviceId.map { "\"\($0.prefix(40))\"" } ?? "nothing (NULL)")")
            }
            if row["date_ok"].bool != true { problems.append("create_date is not the UTC date it was sent") }
            // The encrypted originals hold ip and device_id exactly as sent.
            let sent = try database.query("SELECT $1::jsonb->>'ip', $1::jsonb->>'device_id'", [.text(hostile.body)]).first
            if row["ip"].string != sent?[0].string || row["device_id"].string != sent?[1].string {
                problems.append("the encrypted originals are not the ip and device_id as sent")
            }
            return problems
        }
    }
}
