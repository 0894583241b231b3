import Foundation
import Logging
@testable import LoginVault
import Postgres
import TestSupport
import Testing

/// The staging session against a real PostgreSQL: the plain-INSERT fast path of
/// stage_incoming_logins (sql/definitions/40_staging.sql) and what happens when it cannot be taken.
@Suite("Staging database", .enabled(if: Integration.postgres))
struct StagingDatabaseTests {
    static func migrated(_ label: String, _ body: (ScratchDatabase) async throws -> Void) async throws {
        try await ScratchDatabase.with(label) { database in
            let connection = try database.connect()
            let migrations = Integration.repositoryRoot.appendingPathComponent("sql/migrations")
            try Migrator(connection: connection, migrationsDirectory: migrations).migrate()
            connection.close()
            try await body(database)
        }
    }

    /// A staging session, closed (and its thread stopped) afterwards, also on failure.
    static func withStaging(_ database: ScratchDatabase, _ body: (StagingDatabase) async throws -> Void) async throws {
        let staging = StagingDatabase(connectionString: database.connectionString, logger: Logger(label: "test"))
        do {
            try await body(staging)
        } catch {
            await staging.close()
            await staging.shutdown()
            throw error
        }
        await staging.close()
        await staging.shutdown()
    }

    static func messages(_ ids: [String], receiveCount: Int = 1) -> [IncomingMessage] {
        ids.map { IncomingMessage(messageId: $0, body: #"{"user_id":"\#($0)","ip":"10.3.0.1"}"#,
                                  sentAt: Date(timeIntervalSince1970: 1_700_000_000.123456), receiveCount: receiveCount) }
    }

    @Test func batchesWithAndWithoutDuplicates() async throws {
        try await Self.migrated("staging_dups") { database in try await Self.withStaging(database) { staging in
            #expect(try await staging.stage(Self.messages(["a", "b", "c"]), maxReceives: 10)
                    == StagingOutcome(staged: 3))
            // a redelivery among new ones, and one id twice in the batch
            #expect(try await staging.stage(Self.messages(["d", "b", "e", "e"], receiveCount: 2), maxReceives: 10)
                    == StagingOutcome(staged: 2, duplicates: 2))
            // bad bodies next to a redelivery: quarantined, never an error
            let bad = [IncomingMessage(messageId: "f", body: "{not json", receiveCount: 1),
                       IncomingMessage(messageId: "g", body: #"{"x":"\u0000"}"#, receiveCount: 1)]
            #expect(try await staging.stage(Self.messages(["a", "h"]) + bad, maxReceives: 10)
                    == StagingOutcome(staged: 1, duplicates: 1, rejected: 2,
                                      rejectedReasons: ["invalid_json": 1, "unsupported_unicode_escape": 1]),
                    "the reasons come from the database")
            let check = try database.connect()
            #expect(try check.query("SELECT string_agg(message_id, ',' ORDER BY message_id) FROM raw_logins").first?[0].string
                    == "a,b,c,d,e,h")
            #expect(try check.query("SELECT receive_count FROM raw_logins WHERE message_id = 'b'").first?[0].int == 1,
                    "a duplicate never overwrites the staged row")
            #expect(try check.query("SELECT sent_at = to_timestamp(1700000000.123456) FROM raw_logins WHERE message_id = 'a'")
                        .first?[0].bool == true, "sent_at arrives to the microsecond (binary COPY)")
            #expect(try check.query("SELECT string_agg(message_id || ':' || reason, ',' ORDER BY message_id) FROM rejected_logins")
                        .first?[0].string == "f:invalid_json,g:unsupported_unicode_escape")
        } }
    }

    /// The database judges what Swift used to: poison, a NUL byte, invalid UTF-8.
    /// Every body travels by COPY, none as a bind parameter.
    @Test func poisonNulBytesAndInvalidUTF8AreJudgedInTheDatabase() async throws {
        try await Self.migrated("staging_judged") { database in try await Self.withStaging(database) { staging in
            let batch = Self.messages(["ok"]) + [
                IncomingMessage(messageId: "poison", body: #"{"user_id":"p"}"#, receiveCount: 11),
                IncomingMessage(messageId: "nul", body: "{\"user_id\":\"n\u{0}\"}", receiveCount: 1),
                IncomingMessage(messageId: "utf8", rawBody: .bytes(Array(#"{"user_id":""#.utf8) + [0xFF] + Array(#""}"#.utf8))),
            ]
            #expect(try await staging.stage(batch, maxReceives: 10)
                    == StagingOutcome(staged: 1, quarantined: 3, rejectedReasons: ["too_many_receives": 1, "nul_byte": 1, "invalid_utf8": 1]))
            // Again: each is already quarantined or staged.
            #expect(try await staging.stage(batch, maxReceives: 10) == StagingOutcome(duplicates: 4))
            let check = try database.connect()
            let rows = try check.query("""
                SELECT string_agg(r.message_id || ':' || r.reason || ':'
                                  || loginvault.decrypt(r.body_encrypted, loginvault.originals_passphrase(r.key_id, NULL, NULL)),
                                  ',' ORDER BY r.message_id)
                FROM rejected_logins r
                """).first?[0].string
            #expect(rows == #"nul:nul_byte:{"user_id":"n "},poison:too_many_receives:{"user_id":"p"},utf8:invalid_utf8:{"user_id":"\377"}"#)
            // No maxReceives: a high receive count is no reason.
            #expect(try await staging.stage([IncomingMessage(messageId: "many", body: "{}", receiveCount: 99)], maxReceives: nil)
                    == StagingOutcome(staged: 1))
        } }
    }

    /// An empty or 3 KB message id (a file replay, a broken producer) does not stop
    /// its batch: it is quarantined as invalid_message_id under a key derived from the
    /// id and the body (sql/definitions/30_quarantine.sql), and the rest lands.
    @Test func invalidMessageIdsAreQuarantinedAndTheBatchLands() async throws {
        try await Self.migrated("staging_bad_ids") { database in try await Self.withStaging(database) { staging in
            let long = String(repeating: "x", count: 3000)
            let batch = Self.messages(["good-1"]) + [
                IncomingMessage(messageId: "", body: #"{"user_id":"empty"}"#, receiveCount: 1),
                IncomingMessage(messageId: long, body: #"{"user_id":"long"}"#, receiveCount: 1),
            ] + Self.messages(["good-2"])
            #expect(try await staging.stage(batch, maxReceives: 10)
                    == StagingOutcome(staged: 2, quarantined: 2, rejectedReasons: ["invalid_message_id": 2]))
            #expect(try await staging.stage(batch, maxReceives: 10) == StagingOutcome(duplicates: 4))
            let check = try database.connect()
            #expect(try check.query("SELECT string_agg(message_id, ',' ORDER BY message_id) FROM raw_logins").first?[0].string
                    == "good-1,good-2")
            let keys = try check.query("""
                SELECT count(*) FROM rejected_logins
                WHERE reason = 'invalid_message_id'
                  AND message_id IN (loginvault.invalid_message_id_key('', '{"user_id":"empty"}'),
                                     loginvault.invalid_message_id_key(repeat('x', 3000), '{"user_id":"long"}'))
                """).first?[0].int
            #expect(keys == 2)
        } }
    }

    /// Two loaders stage the same redelivered id at once: the second one's plain INSERT
    /// waits for the first transaction and then fails with unique_violation; the
    /// function catches it and stages the rest of that batch with ON CONFLICT.
    @Test func aConcurrentLoaderWithTheSameIdIsADuplicateNotAnError() async throws {
        try await Self.migrated("staging_race") { database in
            for firstCommits in [true, false] {
                let racer = "race-\(firstCommits)"
                let first = try database.connect()
                try first.runScript("BEGIN")
                try first.query("INSERT INTO raw_logins (message_id, body) VALUES ($1, '{}')", [.text(racer)])

                let staging = StagingDatabase(connectionString: database.connectionString, logger: Logger(label: "test"))
                let second = Task { try await staging.stage(Self.messages([racer, "\(racer)-other"]), maxReceives: 10) }
                // Wait until the second session is blocked on the first one's row.
                let watcher = try database.connect()
                let waited = try await LockWait.sessionWaits(watcher, queryContaining: "stage_incoming_logins")
                #expect(waited, "(control: the second loader waited for the first)")
                try first.runScript(firstCommits ? "COMMIT" : "ROLLBACK")
                let outcome = try await second.value
                await staging.close()
                await staging.shutdown()
                #expect(outcome == (firstCommits ? StagingOutcome(staged: 1, duplicates: 1) : StagingOutcome(staged: 2)))
                #expect(try watcher.query("SELECT count(*) FROM raw_logins WHERE message_id LIKE $1 || '%'", [.text(racer)])
                            .first?[0].int == 2)
                watcher.close()
                first.close()
            }
        }
    }
}
