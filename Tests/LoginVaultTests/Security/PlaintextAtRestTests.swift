import Foundation
import LoginVault
import Postgres
import TestSupport
import Testing

/// Issue 6, security: no plaintext PII at rest after processing. A `pg_dump` of the
/// whole database (every schema, every table, the keys included) holds no sample ip
/// or device id in clear text: staging is scrubbed, the quarantine and the originals
/// are encrypted, the run and audit logs hold counts and ids.
@Suite("Security: no plaintext at rest", .enabled(if: Integration.postgres && Integration.sqs))
struct PlaintextAtRestTests {
    /// Rejects that carry PII: one refused by the database's JSON parser at staging,
    /// one refused by process_raw_logins. Both must be stored encrypted.
    static let rejectsWithPII = [
        #"{"user_id": "u-trunc", "ip": "203.0.113.78", "device_id": "888-88-8888""#,
        #"{"user_id": 42, "ip": "203.0.113.77", "device_id": "777-77-7777"}"#,
    ]
    static let rejectedPII = ["203.0.113.78", "888-88-8888", "203.0.113.77", "777-77-7777"]

    static func dump(_ database: ScratchDatabase) throws -> String {
        let dump = try Tool.run([Tool.postgresProgram("pg_dump"), "--no-owner", "--dbname", database.name])
        #expect(dump.status == 0, "pg_dump failed: \(dump.stderr)")
        return dump.stdout
    }

    @Test func aDumpOfTheWholeDatabaseHoldsNoSampleIPOrDeviceIDAfterProcessing() async throws {
        let needles = try SamplePII.values + Self.rejectedPII
        #expect(needles.count == 198 + 4)
        try await LoadFixture.with("dump") { fixture in
            try await fixture.send(try LoadFixture.sampleBodies + Self.rejectsWithPII)

            // Staged but not processed: the scan must see the plaintext (it is not vacuous).
            let staged = try fixture.load(["--no-process"])
            #expect(staged.status == 0, "\(staged.stderr)")
            let before = try Self.dump(fixture.database)
            let seenBefore = SamplePII.found(needles, in: before)
            #expect(seenBefore.count == needles.count - 2,
                    "before processing the dump shows the staged plaintext (all but the ip and device id of the staging reject)")

            // `load` processes at the end, also when the queue is already empty.
            let processed = try fixture.load()
            #expect(processed.status == 0, "\(processed.stderr)")
            #expect(try fixture.count("SELECT count(*) FROM user_logins") == 99)
            #expect(try fixture.count("SELECT count(*) FROM rejected_logins") == 3)
            #expect(try fixture.count("SELECT count(*) FROM raw_logins") == 0)

            let after = try Self.dump(fixture.database)
            #expect(after.contains("COPY public.user_logins"), "the dump has the data")
            #expect(after.contains("COPY loginvault.keys"), "the dump covers the loginvault schema")
            let seenAfter = SamplePII.found(needles, in: after)
            #expect(seenAfter.isEmpty, "plaintext PII in pg_dump after processing: \(seenAfter.prefix(10))")

            // The ciphertext still holds them: the PII is encrypted, not lost.
            let revealed = try fixture.count("""
                SELECT count(*) FROM rejected_logins r
                 WHERE loginvault.decrypt(r.body_encrypted, loginvault.originals_passphrase(r.key_id, NULL, NULL)) LIKE '%203.0.113.7%'
                """)
            #expect(revealed == 2)
            SecurityFigures.record(test: #function, kind: .security, checks: needles.count,
                                   what: "sample and reject ips / device ids absent from a pg_dump after processing")
        }
    }

    @Test func twoInstallationsMaskTheSameValuesDifferently() async throws {
        // The mask key is random per installation: a mask from one database says
        // nothing about the same ip in another (no global rainbow table).
        let first = try ScratchDatabase.create("masks_a")
        defer { first.drop() }
        let second = try ScratchDatabase.create("masks_b")
        defer { second.drop() }
        let migrations = Integration.repositoryRoot.appendingPathComponent("sql/migrations")
        for database in [first, second] {
            try Migrator(connection: try database.connect(), migrationsDirectory: migrations).migrate()
            let load = try LoginVaultExecutable.run(["load", "--from-file", LoadFixture.samplePath,
                                                     "--database", database.connectionString, "--log-level", "warning"])
            #expect(load.status == 0, "\(load.stderr)")
        }
        func masks(_ database: ScratchDatabase) throws -> Set<String> {
            Set(try database.connect().query("SELECT masked_ip FROM user_logins UNION SELECT masked_device_id FROM user_logins")
                .rows.compactMap { $0[0].string })
        }
        let a = try masks(first), b = try masks(second)
        #expect(a.count == 198 && b.count == 198)
        #expect(a.isDisjoint(with: b), "the same sample gave equal masks in two installations")
        SecurityFigures.record(test: #function, kind: .security, checks: a.count,
                               what: "masks of one installation that no other installation repeats")
    }
}
