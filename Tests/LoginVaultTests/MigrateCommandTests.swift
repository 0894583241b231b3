import Foundation
import Postgres
import TestSupport
import Testing

/// `loginvault migrate` as a user runs it: a separate process, its output and exit code.
@Suite("loginvault migrate (command line)", .enabled(if: Integration.postgres))
struct MigrateCommandTests {
    @Test func twoConcurrentProcessesApplyEachMigrationOnce() async throws {
        try await ScratchDatabase.with("concurrent") { db in
            // Not idempotent on purpose: running any of them twice would fail.
            let files = try MigrationFiles([
                "0001_slow.sql": "CREATE TABLE slow (id int); SELECT pg_sleep(1);",
                "0002_counter.sql": "CREATE TABLE counter (n int); INSERT INTO counter VALUES (1);",
                "0003_slow_again.sql": "CREATE TABLE slow_again (id int); SELECT pg_sleep(0.5);",
            ])
            let args = ["migrate", "--database", db.connectionString, "--migrations-dir", files.url.path]
            let first = try LoginVaultExecutable.start(args)
            let second = try LoginVaultExecutable.start(args)
            let outcomes = [first.wait(), second.wait()]
            #expect(outcomes.map(\.status) == [0, 0], "\(outcomes.map(\.stderr))")
            let applied = outcomes.map { $0.stdout.components(separatedBy: "applied  ").count - 1 }
            #expect(applied.sorted() == [0, 3])
            #expect(outcomes.contains { $0.stdout.contains("Nothing to migrate") })
            let connection = try db.connect()
            #expect(try connection.query("SELECT count(*) FROM loginvault.schema_migrations").first?[0].int == 3)
            #expect(try connection.query("SELECT count(*) FROM counter").first?[0].int == 1)
        }
    }

    @Test func exitCodesAndMessages() async throws {
        try await ScratchDatabase.with("cli") { db in
            let files = try MigrationFiles(["0001_a.sql": "CREATE TABLE a (id int);"])
            let args = ["--database", db.connectionString, "--migrations-dir", files.url.path]

            let dry = try LoginVaultExecutable.run(["migrate", "--dry-run"] + args)
            #expect(dry.status == 0)
            #expect(dry.stdout.contains("would apply  0001_a.sql"))

            let pending = try LoginVaultExecutable.run(["migrate", "status", "--check"] + args)
            #expect(pending.status == 3)
            #expect(pending.stdout.contains("pending"))

            #expect(try LoginVaultExecutable.run(["migrate"] + args).status == 0)
            let status = try LoginVaultExecutable.run(["migrate", "status"] + args)
            #expect(status.status == 0)
            let lines = status.stdout.split(separator: "\n")
            #expect(lines.first?.hasPrefix("VERSION  FILE") == true)
            #expect(lines.contains { $0.hasPrefix("0001") && $0.contains("0001_a.sql") && $0.contains("applied") })
            #expect(status.stdout.contains("1 applied, 0 pending, 0 changed, 0 missing"))

            try files.write("0001_a.sql", "CREATE TABLE a (id bigint);")
            let drift = try LoginVaultExecutable.run(["migrate"] + args)
            #expect(drift.status == 2)
            #expect(drift.stderr.contains("0001_a.sql"))
            #expect(drift.stderr.contains("--repair"))
            #expect(try LoginVaultExecutable.run(["migrate", "status"] + args).status == 2)
            let repaired = try LoginVaultExecutable.run(["migrate", "--repair"] + args)
            #expect(repaired.status == 0)
            #expect(repaired.stdout.contains("repaired  0001_a.sql"))

            try files.write("0002_broken.sql", "SELECT * FROM no_such_table;")
            let broken = try LoginVaultExecutable.run(["migrate"] + args)
            #expect(broken.status == 1)
            #expect(broken.stderr.contains("0002_broken.sql"))
            #expect(broken.stderr.contains("42P01"))
        }
    }

    @Test func definitionsBesideTheMigrationsAreAppliedAndShown() async throws {
        try await ScratchDatabase.with("clidefs") { db in
            let files = try MigrationFiles(["0001_a.sql": "CREATE TABLE a (id int);"], definitions: [
                "10_count.sql": "CREATE OR REPLACE FUNCTION a_count() RETURNS bigint LANGUAGE sql AS $$ SELECT count(*) FROM a $$;",
            ])
            let args = ["--database", db.connectionString, "--migrations-dir", files.url.path]
            let upTo = try LoginVaultExecutable.run(["migrate", "--target", "1"] + args)
            #expect(upTo.status == 0, "\(upTo.stderr)")
            #expect(!upTo.stdout.contains("definitions/"))
            let pending = try LoginVaultExecutable.run(["migrate", "status", "--check"] + args)
            #expect(pending.status == 3)
            #expect(pending.stdout.contains("DEFINITIONS") && pending.stdout.contains("10_count.sql"))

            let applied = try LoginVaultExecutable.run(["migrate"] + args)
            #expect(applied.status == 0, "\(applied.stderr)")
            #expect(applied.stdout.contains("applied  definitions/10_count.sql"))
            #expect(try LoginVaultExecutable.run(["migrate", "status", "--check"] + args).status == 0)

            try files.writeDefinition("10_count.sql",
                "CREATE OR REPLACE FUNCTION a_count() RETURNS bigint LANGUAGE sql AS $$ SELECT count(*) + 0 FROM a $$;")
            let changed = try LoginVaultExecutable.run(["migrate", "status", "--check"] + args)
            #expect(changed.status == 3, "a changed definition is pending, not drift")
            #expect(changed.stdout.contains("1 changed"))
        }
    }

    @Test func passwordOnTheCommandLineIsRefused() throws {
        let outcome = try LoginVaultExecutable.run(["migrate", "--database", "postgresql://u:hunter2@127.0.0.1/x"])
        #expect(outcome.status == 64)
        #expect(outcome.stderr.contains("must not contain a password"))
        #expect(!outcome.stderr.contains("hunter2"))
    }

    @Test func unreachableDatabaseIsExitOne() throws {
        let outcome = try LoginVaultExecutable.run(["migrate", "--database", "host=127.0.0.1 port=1 connect_timeout=2"])
        #expect(outcome.status == 1)
        #expect(outcome.stderr.contains("could not connect to PostgreSQL"))
    }

    @Test func helpExplainsEveryOption() throws {
        let help = try LoginVaultExecutable.run(["migrate", "--help"])
        #expect(help.status == 0)
        for option in ["--database", "--migrations-dir", "--target", "definitions", "--log-level", "--dry-run", "--repair",
                       "status", "Exit codes"] {
            #expect(help.stdout.contains(option), "\(option) is not explained")
        }
    }
}
