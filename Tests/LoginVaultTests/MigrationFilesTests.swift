import Foundation
@testable import LoginVault
import TestSupport
import Testing

/// A throwaway directory of migration files (`<tmp>/lv-sql-<uuid>/migrations`),
/// with an optional sibling `definitions` directory.
struct MigrationFiles {
    let url: URL
    var definitionsURL: URL { url.deletingLastPathComponent().appendingPathComponent("definitions") }

    init(_ files: [String: String], definitions: [String: String] = [:]) throws {
        url = FileManager.default.temporaryDirectory.appendingPathComponent("lv-sql-\(UUID().uuidString)/migrations")
        try FileManager.default.createDirectory(at: url, withIntermediateDirectories: true)
        for (name, sql) in files { try write(name, sql) }
        for (name, sql) in definitions { try writeDefinition(name, sql) }
    }

    func writeDefinition(_ name: String, _ sql: String) throws {
        try FileManager.default.createDirectory(at: definitionsURL, withIntermediateDirectories: true)
        try Data(sql.utf8).write(to: definitionsURL.appendingPathComponent(name))
    }

    func loadDefinitions() throws -> [Definition] { try MigrationDirectory.loadDefinitions(definitionsURL) }

    func write(_ name: String, _ sql: String) throws {
        try Data(sql.utf8).write(to: url.appendingPathComponent(name))
    }

    func remove(_ name: String) throws {
        try FileManager.default.removeItem(at: url.appendingPathComponent(name))
    }

    func load() throws -> [Migration] { try MigrationDirectory.load(url) }
}

@Suite("Migration files")
struct MigrationFilesTests {
    @Test func loadsInVersionOrderWithChecksums() throws {
        let files = try MigrationFiles([
            "0002_second_step.sql": "SELECT 2;",
            "0001_first.sql": "SELECT 1;",
            "README.md": "not a migration",
        ])
        let migrations = try files.load()
        #expect(migrations.map(\.version) == [1, 2])
        #expect(migrations.map(\.description) == ["first", "second step"])
        #expect(migrations[0].checksum != migrations[1].checksum)
    }

    @Test func checksumIsSHA256OfTheSQLWithoutComments() throws {
        let files = try MigrationFiles(["0001_a.sql": "abc", "0002_b.sql": "-- a header\nabc  -- why\n/* old /* nested */ note */\n\n"])
        let migrations = try files.load()
        // The well-known SHA-256 of "abc".
        #expect(migrations[0].checksum == "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad")
        #expect(migrations[1].checksum == migrations[0].checksum)
        #expect(migrations[1].fullTextChecksum != migrations[0].fullTextChecksum)
    }

    @Test func commentsInsideQuotesAndBodiesCount() {
        #expect(SQLText.withoutComments("SELECT '-- kept', \"a--b\" -- dropped") == "SELECT '-- kept', \"a--b\"")
        #expect(SQLText.withoutComments("SELECT 'it''s -- kept'") == "SELECT 'it''s -- kept'")
        #expect(SQLText.withoutComments("SELECT E'\\' -- x' -- dropped") == "SELECT E'\\' -- x'")
        let body = "CREATE FUNCTION f() RETURNS int LANGUAGE sql AS $fn$\n  -- in the body\n  SELECT 1\n$fn$; -- after"
        #expect(SQLText.withoutComments(body) == "CREATE FUNCTION f() RETURNS int LANGUAGE sql AS $fn$\n  -- in the body\n  SELECT 1\n$fn$;")
        #expect(SQLText.checksum("SELECT $1 -- x") == SQLText.checksum("SELECT $1"))
        #expect(SQLText.checksum("SELECT 2") != SQLText.checksum("SELECT 1"))
    }

    @Test func definitionsLoadInNameOrderAndNeedANumberedName() throws {
        let files = try MigrationFiles(["0001_a.sql": ""], definitions: ["20_b.sql": "", "10_a.sql": "", "README.md": ""])
        #expect(try files.loadDefinitions().map(\.fileName) == ["10_a.sql", "20_b.sql"])
        try files.writeDefinition("processing.sql", "")
        let error = try #require(throws: MigrationError.self) { try files.loadDefinitions() }
        #expect(error.description.contains("processing.sql"))
        #expect(try MigrationDirectory.loadDefinitions(files.url.appendingPathComponent("nowhere")).isEmpty)
    }

    @Test func theProjectsMigrationsKeepTheirLegacyChecksumsOrSQL() throws {
        // Every project migration either still has its old full text, or only
        // its comments changed (its legacy checksum is listed). The upgrade test
        // (Tests/upgrade) proves the SQL of the listed ones is unchanged.
        let migrations = try MigrationDirectory.load(Integration.repositoryRoot.appendingPathComponent("sql/migrations"))
        for migration in migrations where migration.version <= 18 {
            #expect(LegacyChecksums.fullText[migration.version] != nil, "\(migration.fileName)")
        }
    }

    @Test func theSupersededSQLOf0001IsAcceptedAndNothingElse() throws {
        // 0001 changed in issue 13 (pgcrypto wherever it is installed): the
        // checksum an install recorded for its old SQL is accepted (and
        // upgraded), any other checksum is still drift.
        let migrations = try MigrationDirectory.load(Integration.repositoryRoot.appendingPathComponent("sql/migrations"))
        let first = try #require(migrations.first { $0.version == 1 })
        let old = try #require(LegacyChecksums.superseded[1])
        #expect(first.checksum != old)
        #expect(first.matches(recorded: old) && first.isLegacy(recorded: old))
        #expect(!first.matches(recorded: String(repeating: "0", count: 64)))
        let second = try #require(migrations.first { $0.version == 2 })
        #expect(!second.matches(recorded: old), "a superseded checksum counts for its own version only")
    }

    @Test func gapIsAnError() throws {
        let files = try MigrationFiles(["0001_a.sql": "", "0003_c.sql": ""])
        let error = try #require(throws: MigrationError.self) { try files.load() }
        #expect(error.description.contains("version 2 is missing"))
        #expect(error.description.contains("0003_c.sql"))
    }

    @Test func duplicateVersionIsAnError() throws {
        let files = try MigrationFiles(["0001_a.sql": "", "0001_b.sql": ""])
        let error = try #require(throws: MigrationError.self) { try files.load() }
        #expect(error.description.contains("0001_a.sql"))
        #expect(error.description.contains("0001_b.sql"))
    }

    @Test(arguments: ["1_short.sql", "abcd_x.sql", "0001.sql", "0001_Bad-Name.sql", "0000_zero.sql"])
    func badNamesAreErrors(_ name: String) throws {
        let files = try MigrationFiles([name: ""])
        let error = try #require(throws: MigrationError.self) { try files.load() }
        #expect(error.description.contains(name))
    }

    @Test func locatesTheSourceTreeFromADevelopmentBuild() throws {
        let root = Integration.repositoryRoot
        let exe = root.appendingPathComponent(".build/x86_64-unknown-linux-gnu/debug/loginvault")
        let found = try MigrationDirectory.locate(explicit: nil, environment: [:], executable: exe,
                                                  currentDirectory: URL(fileURLWithPath: "/"))
        #expect(found.path == root.appendingPathComponent("sql/migrations").standardizedFileURL.path)
    }

    @Test func explicitDirectoryWinsAndMissingOneListsWhereItLooked() throws {
        let error = try #require(throws: MigrationError.self) {
            try MigrationDirectory.locate(explicit: "/nonexistent/migrations", environment: [:])
        }
        #expect(error.description.contains("/nonexistent/migrations"))
        let candidates = MigrationDirectory.candidates(
            explicit: nil, environment: [:], executable: URL(fileURLWithPath: "/opt/lv/bin/loginvault"),
            currentDirectory: URL(fileURLWithPath: "/tmp"))
        #expect(candidates.first?.path == "/opt/lv/share/loginvault/sql/migrations")
        #expect(candidates.last?.path == "/tmp/sql/migrations")
    }
}
