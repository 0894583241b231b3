import Foundation
@testable import LoginVault
import TestSupport
import Testing

/// A throwaway directory of migration files.
struct MigrationFiles {
    let url: URL

    init(_ files: [String: String]) throws {
        url = FileManager.default.temporaryDirectory.appendingPathComponent("lv-migrations-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: url, withIntermediateDirectories: true)
        for (name, sql) in files { try write(name, sql) }
    }

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

    @Test func checksumIsSHA256OfTheBytes() throws {
        let files = try MigrationFiles(["0001_a.sql": "abc"])
        // The well-known SHA-256 of "abc".
        #expect(try files.load()[0].checksum == "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad")
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
