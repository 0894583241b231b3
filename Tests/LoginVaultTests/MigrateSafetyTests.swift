import Foundation
import Postgres
import TestSupport
import Testing

/// A wrong `--migrations-dir` is refused, not a silent no-op, and `--repair` never forgets
/// the history of applied migrations whose files are missing unless told so explicitly.
@Suite("loginvault migrate safety", .enabled(if: Integration.postgres))
struct MigrateSafetyTests {
    @Test func aFolderWithoutMigrationFilesIsRefusedByName() async throws {
        try await ScratchDatabase.with("emptydir") { db in
            let files = try MigrationFiles(["README.md": "not a migration"])
            let outcome = try LoginVaultExecutable.run(["migrate", "--database", db.connectionString,
                                                        "--migrations-dir", files.url.path])
            #expect(outcome.status == 1, "\(outcome.stderr)")
            #expect(outcome.stderr.contains(files.url.path), "names the folder: \(outcome.stderr)")
            #expect(!outcome.stdout.contains("Nothing to migrate"))
        }
    }

    @Test func repairDoesNotForgetMissingFilesWithoutConsent() async throws {
        try await ScratchDatabase.with("repairmissing") { db in
            let files = try MigrationFiles(["0001_a.sql": "CREATE TABLE a (id int);", "0002_b.sql": "CREATE TABLE b (id int);"])
            let args = ["--database", db.connectionString, "--migrations-dir", files.url.path]
            #expect(try LoginVaultExecutable.run(["migrate"] + args).status == 0)
            try FileManager.default.removeItem(at: files.url.appendingPathComponent("0002_b.sql"))
            let history = { try db.connect().query("SELECT count(*) FROM loginvault.schema_migrations").first?[0].int }

            let refused = try LoginVaultExecutable.run(["migrate", "--repair"] + args)
            #expect(refused.status == 2, "\(refused.stderr)")
            #expect(refused.stderr.contains("0002_b.sql") && refused.stderr.contains("--forget-missing"), "\(refused.stderr)")
            #expect(try history() == 2, "nothing forgotten")

            let forgotten = try LoginVaultExecutable.run(["migrate", "--repair", "--forget-missing"] + args)
            #expect(forgotten.status == 0, "\(forgotten.stderr)")
            #expect(forgotten.stdout.contains("will forget  0002_b.sql"), "says what it will do first: \(forgotten.stdout)")
            #expect(try history() == 1)

            let alone = try LoginVaultExecutable.run(["migrate", "--forget-missing"] + args)
            #expect(alone.status == 64)
        }
    }
}
