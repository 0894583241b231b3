import Foundation
@testable import LoginVault
import Postgres
import TestSupport
import Testing

@Suite("migrate against PostgreSQL", .enabled(if: Integration.postgres))
struct MigratorTests {
    static let basic = [
        "0001_create_things.sql": "CREATE TABLE things (id int PRIMARY KEY, name text NOT NULL);",
        "0002_seed_things.sql": "INSERT INTO things VALUES (1, 'one'), (2, 'two');",
    ]

    @Test func freshDatabaseGetsEverythingThenNothing() async throws {
        try await ScratchDatabase.with("fresh") { db in
            let files = try MigrationFiles(Self.basic)
            let connection = try db.connect()
            let migrator = Migrator(connection: connection, migrations: try files.load())

            let dry = try migrator.migrate(dryRun: true)
            #expect(dry.applied.map(\.version) == [1, 2])
            #expect(try connection.query("SELECT to_regclass('things') IS NULL").first?[0].bool == true)

            let first = try migrator.migrate()
            #expect(first.applied.map(\.fileName) == ["0001_create_things.sql", "0002_seed_things.sql"])
            #expect(try connection.query("SELECT count(*) FROM things").first?[0].int == 2)
            let history = try connection.query("""
                SELECT version, description, checksum, applied_by, execution_ms >= 0 AS timed
                FROM loginvault.schema_migrations ORDER BY version
                """).rows
            #expect(history.map { $0["version"].int } == [1, 2])
            #expect(history[0]["description"].string == "create things")
            #expect(history[0]["checksum"].string == (try files.load())[0].checksum)
            #expect(history[0]["applied_by"].string == "postgres" || history[0]["applied_by"].string?.isEmpty == false)
            #expect(history.allSatisfy { $0["timed"].bool == true })

            let second = try migrator.migrate()
            #expect(second.applied.isEmpty)
            #expect(try migrator.status().allSatisfy { $0.status == .applied })
        }
    }

    @Test func failingMigrationLeavesNoTraceAndNamesTheFile() async throws {
        try await ScratchDatabase.with("failing") { db in
            let files = try MigrationFiles([
                "0001_good.sql": "CREATE TABLE good (id int);",
                "0002_bad.sql": "CREATE TABLE half_done (id int);\nINSERT INTO half_done VALUES ('not a number');",
                "0003_never.sql": "CREATE TABLE never (id int);",
            ])
            let connection = try db.connect()
            let migrator = Migrator(connection: connection, migrations: try files.load())
            let error = try #require(throws: MigrationError.self) { try migrator.migrate() }
            #expect(error.description.contains("0002_bad.sql"))
            #expect(error.description.contains("22P02"))
            #expect(error.description.contains("invalid input syntax for type integer"))
            let state = try connection.query("""
                SELECT to_regclass('good') IS NOT NULL, to_regclass('half_done') IS NULL,
                       to_regclass('never') IS NULL, (SELECT array_agg(version) FROM loginvault.schema_migrations)::text
                """).first!
            #expect(state[0].bool == true)
            #expect(state[1].bool == true)
            #expect(state[2].bool == true)
            #expect(state[3].string == "{1}")
        }
    }

    @Test func editedOrVanishedFileIsRefusedUntilRepaired() async throws {
        try await ScratchDatabase.with("drift") { db in
            let files = try MigrationFiles(Self.basic)
            let connection = try db.connect()
            try Migrator(connection: connection, migrations: try files.load()).migrate()

            try files.write("0001_create_things.sql", "CREATE TABLE things (id int PRIMARY KEY); -- edited")
            try files.write("0003_more.sql", "CREATE TABLE more (id int);")
            let drifted = Migrator(connection: connection, migrations: try files.load())
            let error = try #require(throws: MigrationError.self) { try drifted.migrate() }
            #expect(error.description.contains("0001_create_things.sql"))
            #expect(error.description.contains("changed"))
            #expect(try connection.query("SELECT to_regclass('more') IS NULL").first?[0].bool == true)
            #expect(try drifted.status().map(\.status) == [.changed, .applied, .pending])

            let repaired = try drifted.migrate(repair: true)
            #expect(repaired.repaired.map(\.fileName) == ["0001_create_things.sql"])
            #expect(repaired.applied.map(\.fileName) == ["0003_more.sql"])
            #expect(try drifted.status().allSatisfy { $0.status == .applied })

            try files.remove("0003_more.sql")
            let vanished = Migrator(connection: connection, migrations: try files.load())
            let missing = try #require(throws: MigrationError.self) { try vanished.migrate() }
            #expect(missing.description.contains("0003_more.sql"))
            #expect(missing.description.contains("gone"))
            #expect(try vanished.status().last?.status == .missing)
        }
    }

    @Test func pendingFileBelowAnAppliedVersionIsRefused() async throws {
        try await ScratchDatabase.with("order") { db in
            let connection = try db.connect()
            let files = try MigrationFiles(["0001_a.sql": "SELECT 1;"])
            try Migrator(connection: connection, migrations: try files.load()).migrate()
            // Pretend version 2 was applied from another branch, then 0002 arrives as a file with 0003.
            try connection.query("""
                INSERT INTO loginvault.schema_migrations (version, description, file_name, checksum, execution_ms)
                VALUES (3, 'c', '0003_c.sql', $1, 0)
                """, [.text(String(repeating: "0", count: 64))])
            try files.write("0002_b.sql", "SELECT 2;")
            try files.write("0003_c.sql", "SELECT 3;")
            let error = try #require(throws: MigrationError.self) {
                try Migrator(connection: connection, migrations: try files.load()).migrate(repair: true)
            }
            #expect(error.description.contains("0002_b.sql"))
        }
    }

    @Test func settingsDoNotLeakFromOneMigrationToTheNext() async throws {
        try await ScratchDatabase.with("settings") { db in
            let connection = try db.connect()
            let files = try MigrationFiles([
                "0001_sets_path.sql": "CREATE SCHEMA elsewhere; SET search_path = elsewhere;",
                "0002_uses_default.sql": "CREATE TABLE where_am_i (id int);",
            ])
            try Migrator(connection: connection, migrations: try files.load()).migrate()
            #expect(try connection.query("SELECT to_regclass('public.where_am_i') IS NOT NULL").first?[0].bool == true)
        }
    }

    @Test func theProjectsOwnMigrationsApplyToAnEmptyDatabase() async throws {
        try await ScratchDatabase.with("project") { db in
            let dir = Integration.repositoryRoot.appendingPathComponent("sql/migrations")
            let migrations = try MigrationDirectory.load(dir)
            #expect(!migrations.isEmpty)
            let connection = try db.connect()
            let report = try Migrator(connection: connection, migrationsDirectory: dir).migrate()
            #expect(report.applied.count == migrations.count)
            #expect(!report.appliedDefinitions.isEmpty)
            let again = try Migrator(connection: connection, migrationsDirectory: dir).migrate()
            #expect(again.applied.isEmpty && again.appliedDefinitions.isEmpty)
        }
    }

    @Test func definitionsApplyAfterTheMigrationsThenOnlyWhenChanged() async throws {
        try await ScratchDatabase.with("definitions") { db in
            let files = try MigrationFiles(["0001_table.sql": "CREATE TABLE things (id int);"], definitions: [
                "10_count.sql": "-- how many\nCREATE OR REPLACE FUNCTION thing_count() RETURNS bigint LANGUAGE sql AS $$ SELECT count(*) FROM things $$;",
                "90_grants.sql": "REVOKE ALL ON FUNCTION thing_count() FROM PUBLIC;",
            ])
            let connection = try db.connect()
            func migrator() throws -> Migrator {
                Migrator(connection: connection, migrations: try files.load(), definitions: try files.loadDefinitions())
            }
            #expect(try migrator().migrate(target: 1).appliedDefinitions.isEmpty)
            #expect(try connection.query("SELECT to_regproc('thing_count') IS NULL").first?[0].bool == true)

            let first = try migrator().migrate()
            #expect(first.appliedDefinitions.map(\.fileName) == ["10_count.sql", "90_grants.sql"])
            #expect(try connection.query("SELECT thing_count()").first?[0].int == 0)
            #expect(try migrator().definitionStatus().allSatisfy { $0.status == .applied })
            #expect(try migrator().migrate().appliedDefinitions.isEmpty)

            // A comment is not a change; a statement is, and the files after it follow.
            try files.writeDefinition("90_grants.sql", "-- the grants\nREVOKE ALL ON FUNCTION thing_count() FROM PUBLIC;")
            #expect(try migrator().migrate().appliedDefinitions.isEmpty)
            try files.writeDefinition("10_count.sql",
                "CREATE OR REPLACE FUNCTION thing_count() RETURNS bigint LANGUAGE sql AS $$ SELECT count(*) + 1 FROM things $$;")
            #expect(try migrator().definitionStatus().map(\.status) == [.changed, .applied])
            let again = try migrator().migrate()
            #expect(again.appliedDefinitions.map(\.fileName) == ["10_count.sql", "90_grants.sql"])
            #expect(try connection.query("SELECT thing_count()").first?[0].int == 1)
            #expect(try migrator().migrate().appliedDefinitions.isEmpty)

            // A failing definitions file rolls back the whole set and names the file.
            try files.writeDefinition("10_count.sql", "CREATE OR REPLACE FUNCTION thing_count() RETURNS bigint LANGUAGE sql AS $$ SELECT 7 $$;")
            try files.writeDefinition("90_grants.sql", "GRANT EXECUTE ON FUNCTION no_such_function() TO PUBLIC;")
            let error = try #require(throws: MigrationError.self) { try migrator().migrate() }
            #expect(error.description.contains("definitions/90_grants.sql"))
            #expect(try connection.query("SELECT thing_count()").first?[0].int == 1)
        }
    }

    @Test func aLegacyFullTextChecksumIsAcceptedButARealChangeIsDrift() async throws {
        try await ScratchDatabase.with("legacy") { db in
            let files = try MigrationFiles(["0001_table.sql": "-- things\nCREATE TABLE things (id int);"])
            let connection = try db.connect()
            try Migrator(connection: connection, migrations: try files.load()).migrate()
            // What a migrate from before comment-free checksums recorded.
            let legacy = try files.load()[0].fullTextChecksum
            try connection.query("UPDATE loginvault.schema_migrations SET checksum = $1", [.text(legacy)])
            #expect(try Migrator(connection: connection, migrations: try files.load()).status().map(\.status) == [.applied])

            // An old full-text checksum of a file edited since is known only for the
            // project's own files (LegacyChecksums); here it is drift. Today's
            // checksum ignores the corrected comment.
            try files.write("0001_table.sql", "-- things, corrected\nCREATE TABLE things (id int);")
            try connection.query("UPDATE loginvault.schema_migrations SET checksum = $1", [.text(legacy)])
            #expect(try Migrator(connection: connection, migrations: try files.load()).status().map(\.status) == [.changed])
            try connection.query("UPDATE loginvault.schema_migrations SET checksum = $1", [.text(try files.load()[0].checksum)])
            #expect(try Migrator(connection: connection, migrations: try files.load()).migrate().applied.isEmpty)

            try files.write("0001_table.sql", "-- things\nCREATE TABLE things (id bigint);")
            let error = try #require(throws: MigrationError.self) {
                try Migrator(connection: connection, migrations: try files.load()).migrate()
            }
            #expect(error.description.contains("0001_table.sql"))
        }
    }

    @Test func aLegacyChecksumOfTheProjectIsUpgradedSilently() async throws {
        try await ScratchDatabase.with("legacyproject") { db in
            let dir = Integration.repositoryRoot.appendingPathComponent("sql/migrations")
            let connection = try db.connect()
            let migrator = try Migrator(connection: connection, migrationsDirectory: dir)
            try migrator.migrate(target: 3)
            try connection.query("UPDATE loginvault.schema_migrations SET checksum = $1 WHERE version = 1",
                                 [.text(LegacyChecksums.fullText[1]!)])
            try migrator.migrate()
            let recorded = try connection.query("SELECT checksum FROM loginvault.schema_migrations WHERE version = 1").first?[0].string
            #expect(recorded == (try MigrationDirectory.load(dir))[0].checksum)
        }
    }
}
