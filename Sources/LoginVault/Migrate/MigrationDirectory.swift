import Foundation

/// Finds and reads the versioned SQL files of `sql/migrations/`.
public enum MigrationDirectory {
    /// Where `migrate` looks, in order: `--migrations-dir`, `LOGINVAULT_MIGRATIONS_DIR`,
    /// the install prefix of the executable (`<prefix>/share/loginvault/sql/migrations`,
    /// as `make install` lays it out), the source tree the executable was built in,
    /// and `./sql/migrations`.
    public static func candidates(explicit: String?, environment: [String: String],
                                  executable: URL, currentDirectory: URL) -> [URL] {
        if let explicit { return [URL(fileURLWithPath: explicit, relativeTo: currentDirectory)] }
        if let fromEnv = environment["LOGINVAULT_MIGRATIONS_DIR"], !fromEnv.isEmpty {
            return [URL(fileURLWithPath: fromEnv, relativeTo: currentDirectory)]
        }
        let binDir = executable.resolvingSymlinksInPath().deletingLastPathComponent()
        var places = [binDir.deletingLastPathComponent().appendingPathComponent("share/loginvault/sql/migrations")]
        // A development build lives in <repo>/.build/<triple>/debug/.
        var dir = binDir
        for _ in 0..<4 {
            dir = dir.deletingLastPathComponent()
            places.append(dir.appendingPathComponent("sql/migrations"))
        }
        places.append(currentDirectory.appendingPathComponent("sql/migrations"))
        return places
    }

    /// The first candidate that is a directory.
    public static func locate(explicit: String?, environment: [String: String] = ProcessInfo.processInfo.environment,
                              executable: URL = URL(fileURLWithPath: CommandLine.arguments[0]),
                              currentDirectory: URL = URL(fileURLWithPath: FileManager.default.currentDirectoryPath)) throws -> URL {
        let places = candidates(explicit: explicit, environment: environment,
                                executable: executable, currentDirectory: currentDirectory)
        for place in places {
            var isDirectory: ObjCBool = false
            if FileManager.default.fileExists(atPath: place.path, isDirectory: &isDirectory), isDirectory.boolValue {
                return place.standardizedFileURL
            }
        }
        throw MigrationError.directoryNotFound(places.map(\.standardizedFileURL.path))
    }

    /// Reads every `*.sql` file of `directory`, checks names, duplicates and
    /// gaps, and returns the migrations in version order. Other files (a README)
    /// are ignored.
    public static func load(_ directory: URL) throws -> [Migration] {
        let names = try FileManager.default.contentsOfDirectory(atPath: directory.path)
            .filter { $0.hasSuffix(".sql") }
            .sorted()
        guard !names.isEmpty else { throw MigrationError.noMigrations(directory.standardizedFileURL.path) }
        var migrations: [Migration] = []
        for name in names {
            let (version, description) = try parse(fileName: name)
            let contents = try Data(contentsOf: directory.appendingPathComponent(name))
            migrations.append(try Migration(version: version, description: description,
                                            fileName: name, contents: contents))
        }
        migrations.sort { ($0.version, $0.fileName) < ($1.version, $1.fileName) }
        var expected = 1
        for (index, migration) in migrations.enumerated() {
            if index > 0, migrations[index - 1].version == migration.version {
                throw MigrationError.duplicateVersion(migration.version,
                                                      migrations.filter { $0.version == migration.version }.map(\.fileName))
            }
            if migration.version != expected {
                throw MigrationError.gap(missing: expected, before: migration.fileName)
            }
            expected += 1
        }
        return migrations
    }

    /// The definitions directory that belongs to a migrations directory: its
    /// sibling `definitions` (`sql/migrations` and `sql/definitions`, as in the
    /// source tree and as `make install` lays them out).
    public static func definitionsDirectory(besides migrations: URL) -> URL {
        migrations.standardizedFileURL.deletingLastPathComponent().appendingPathComponent("definitions")
    }

    /// Reads every `NN_concern.sql` file of `directory` (the number is the
    /// order they are applied in), sorted by name. No directory: no definitions.
    public static func loadDefinitions(_ directory: URL) throws -> [Definition] {
        var isDirectory: ObjCBool = false
        guard FileManager.default.fileExists(atPath: directory.path, isDirectory: &isDirectory), isDirectory.boolValue else {
            return []
        }
        let names = try FileManager.default.contentsOfDirectory(atPath: directory.path)
            .filter { $0.hasSuffix(".sql") }
            .sorted()
        return try names.map { name in
            let stem = name.dropLast(4)
            guard let underscore = stem.firstIndex(of: "_"), stem[..<underscore].count >= 2,
                  stem[..<underscore].allSatisfy({ $0.isASCII && $0.isNumber }),
                  stem[stem.index(after: underscore)...].allSatisfy({ $0.isASCII && ($0.isLowercase || $0.isNumber || $0 == "_") }),
                  stem.index(after: underscore) < stem.endIndex else {
                throw MigrationError.invalidDefinitionFile(name)
            }
            return try Definition(fileName: name, contents: try Data(contentsOf: directory.appendingPathComponent(name)))
        }
    }

    /// `0012_add_index.sql` -> (12, "add index").
    static func parse(fileName: String) throws -> (Int, String) {
        let stem = fileName.dropLast(4) // ".sql"
        guard let underscore = stem.firstIndex(of: "_") else {
            throw MigrationError.invalidFile(fileName, "has no version prefix")
        }
        let digits = stem[..<underscore]
        let words = stem[stem.index(after: underscore)...]
        guard digits.count >= 4, digits.allSatisfy(\.isASCII), digits.allSatisfy(\.isNumber),
              let version = Int(digits), version > 0 else {
            throw MigrationError.invalidFile(fileName, "does not start with a zero-padded version of at least 4 digits")
        }
        guard !words.isEmpty, words.allSatisfy({ $0.isASCII && ($0.isLowercase || $0.isNumber || $0 == "_") }) else {
            throw MigrationError.invalidFile(fileName, "needs a description of lowercase letters, digits and underscores")
        }
        return (version, words.replacingOccurrences(of: "_", with: " "))
    }
}
