import ArgumentParser
import Foundation
import LoginVault
import Logging
import Postgres

/// `loginvault migrate`: applies the versioned SQL of sql/migrations, then the
/// changed files of sql/definitions.
struct MigrateCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "migrate",
        abstract: "Apply the pending SQL migrations, in order, each in its own transaction.",
        discussion: """
            Migrations are the files sql/migrations/NNNN_description.sql. Each runs once, \
            in version order, inside a transaction: a failing one is rolled back completely \
            and stops the run. What was applied is recorded in loginvault.schema_migrations \
            (version, description, sha256 checksum, who, when, how long).

            Then the current definitions, sql/definitions/NN_concern.sql (functions, \
            procedures, grants; found beside the migrations directory): from the first \
            file that is new or changed since it was applied, that file and every later \
            one, in name order, in one transaction, recorded in \
            loginvault.schema_definitions. A changed definitions file is not drift. \
            Checksums ignore SQL comments: correcting a comment is not a change.

            Examples:
              loginvault migrate --database "$DATABASE_URL"
              loginvault migrate status --check
              loginvault migrate --target 18   # versions up to 0018 only, no definitions

            Two migrate processes at once are safe: an advisory lock makes the second \
            wait, then find nothing to do. An applied file that changed or disappeared \
            makes migrate refuse (exit 2) until it is restored, or --repair is given \
            (--repair records changed files; forgetting a missing one also needs \
            --forget-missing, and migrate first prints what it will forget). A \
            migrations folder without migration files is refused, naming the folder.

            Exit codes: 0 success (including nothing to do); 1 error (connection, file, \
            SQL); 2 applied migrations drifted from their files; 64 bad usage.

            Examples:
              loginvault migrate --database 'host=db.internal dbname=app user=owner'
              loginvault migrate --dry-run
              loginvault migrate status --check
              loginvault migrate --repair            # after a harmless edit (a comment) of an applied file
            """,
        subcommands: [MigrateStatusCommand.self]
    )

    @OptionGroup var database: DatabaseOptions
    @OptionGroup var location: MigrationsLocationOptions
    @OptionGroup var logging: LoggingOptions

    @Flag(help: "Show what would be applied, change nothing.")
    var dryRun = false

    @Option(help: ArgumentHelp(
        "Apply the versioned migrations up to this version only, and no definitions.",
        discussion: "To reproduce an older install (e.g. in an upgrade test).", valueName: "version"))
    var target: Int?

    @Flag(help: ArgumentHelp(
        "Accept applied files that changed (record their new checksum), then migrate.",
        discussion: "Use only when the change is harmless (a comment): the database is not changed to match."))
    var repair = false

    @Flag(help: ArgumentHelp(
        "With --repair: also forget applied migrations whose files are missing (printed first).",
        discussion: "Without it, --repair refuses while a file is missing: a wrong --migrations-dir must not erase the history."))
    var forgetMissing = false

    func validate() throws {
        if forgetMissing && !repair { throw ValidationError("--forget-missing only applies with --repair") }
    }

    func run() throws {
        let logger = logging.makeLogger("loginvault.migrate")
        do {
            let directory = try location.directory()
            let migrations = try MigrationDirectory.load(directory)
            let definitions = try location.definitions(besides: directory, logger: logger)
            let connection = try database.connect()
            connection.onNotice = { notice in logger.info("\(notice.severity): \(notice.message)") }
            let migrator = Migrator(connection: connection, migrations: migrations, definitions: definitions, logger: logger)
            if repair && forgetMissing {
                let missing = try migrator.status().filter { $0.status == .missing }
                for state in missing {
                    print("will forget  \(state.fileName) (applied, but its file is missing from \(directory.path))")
                }
            }
            let report = try migrator.migrate(dryRun: dryRun, repair: repair, forgetMissing: forgetMissing, target: target)
            for state in report.repaired {
                print("repaired  \(state.fileName) (\(state.status.rawValue))")
            }
            let verb = dryRun ? "would apply" : "applied"
            if report.applied.isEmpty {
                print("Nothing to migrate: all \(target.map { "\(min($0, migrations.count)) of the " } ?? "")\(migrations.count) migrations of \(directory.path) are applied.")
            } else {
                for migration in report.applied { print("\(verb)  \(migration.fileName)") }
                print(dryRun ? "Dry run: \(report.applied.count) pending, nothing changed."
                             : "Applied \(report.applied.count) migration(s).")
            }
            for definition in report.appliedDefinitions { print("\(verb)  definitions/\(definition.fileName)") }
            if !report.appliedDefinitions.isEmpty, !dryRun {
                print("Applied \(report.appliedDefinitions.count) definitions file(s).")
            }
        } catch {
            throw fail(error)
        }
    }
}

/// `--migrations-dir`: where the SQL files are.
struct MigrationsLocationOptions: ParsableArguments {
    @Option(help: ArgumentHelp(
        "The directory of NNNN_description.sql files.",
        discussion: """
            The current definitions are read from its sibling directory `definitions` \
            (sql/migrations and sql/definitions). \
            Default: LOGINVAULT_MIGRATIONS_DIR, else <prefix>/share/loginvault/sql/migrations \
            next to the installed executable, else the sql/migrations of the source tree \
            it was built in, else ./sql/migrations.
            """,
        valueName: "dir"))
    var migrationsDir: String?

    func directory() throws -> URL {
        try MigrationDirectory.locate(explicit: migrationsDir)
    }

    /// The definitions files of the sibling `definitions` directory.
    func definitions(besides directory: URL, logger: Logger) throws -> [Definition] {
        let place = MigrationDirectory.definitionsDirectory(besides: directory)
        let found = try MigrationDirectory.loadDefinitions(place)
        if found.isEmpty { logger.warning("no definitions in \(place.path): only versioned migrations are applied") }
        return found
    }
}

/// `loginvault migrate status`: applied, pending, changed and missing migrations.
struct MigrateStatusCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "status",
        abstract: "Show each migration: applied, pending, changed (file edited since) or missing (file gone).",
        discussion: """
            Exit codes: 0 no drift; 1 error; 2 a migration changed or is missing; 3 pending migrations with --check.

            Examples:
              loginvault migrate status
              loginvault migrate status --check && echo up to date
            """
    )

    @OptionGroup var database: DatabaseOptions
    @OptionGroup var location: MigrationsLocationOptions
    @OptionGroup var logging: LoggingOptions

    @Flag(help: "Exit with 3 when migrations are pending (for deploy scripts).")
    var check = false

    func run() throws {
        let logger = logging.makeLogger("loginvault.migrate")
        let states: [MigrationState]
        let definitionStates: [DefinitionState]
        do {
            let directory = try location.directory()
            let migrations = try MigrationDirectory.load(directory)
            let definitions = try location.definitions(besides: directory, logger: logger)
            let connection = try database.connect()
            let migrator = Migrator(connection: connection, migrations: migrations, definitions: definitions, logger: logger)
            states = try migrator.status()
            definitionStates = try migrator.definitionStatus()
        } catch {
            throw fail(error)
        }
        print(MigrationStatusTable.render(states))
        if !definitionStates.isEmpty {
            print("")
            print(MigrationStatusTable.render(definitionStates))
        }
        if states.contains(where: { $0.status == .changed || $0.status == .missing }) { throw ExitCodes.drift }
        if check, states.contains(where: { $0.status == .pending })
            || definitionStates.contains(where: { $0.status == .pending || $0.status == .changed }) {
            throw ExitCodes.pending
        }
    }
}

/// Renders migration states as an aligned text table.
enum MigrationStatusTable {
    static func render(_ states: [MigrationState]) -> String {
        let header = ["VERSION", "FILE", "STATE", "APPLIED AT (UTC)", "BY", "TIME"]
        let rows = states.map { state in
            [String(format: "%04d", state.version), state.fileName, state.status.rawValue,
             state.appliedAt ?? "-", state.appliedBy ?? "-",
             state.executionMilliseconds.map { "\($0) ms" } ?? "-"]
        }
        let counts = Dictionary(grouping: states, by: \.status).mapValues(\.count)
        let summary = [MigrationState.Status.applied, .pending, .changed, .missing]
            .map { "\(counts[$0] ?? 0) \($0.rawValue)" }.joined(separator: ", ")
        return table(header: header, rows: rows) + "\n\(summary)"
    }

    /// The definitions files: applied, pending (new), changed (applied again by
    /// the next migrate) or missing.
    static func render(_ states: [DefinitionState]) -> String {
        let header = ["DEFINITIONS", "STATE", "APPLIED AT (UTC)", "BY", "TIME"]
        let rows = states.map { state in
            [state.fileName, state.status.rawValue, state.appliedAt ?? "-", state.appliedBy ?? "-",
             state.executionMilliseconds.map { "\($0) ms" } ?? "-"]
        }
        let counts = Dictionary(grouping: states, by: \.status).mapValues(\.count)
        let summary = [DefinitionState.Status.applied, .pending, .changed, .missing]
            .map { "\(counts[$0] ?? 0) \($0.rawValue)" }.joined(separator: ", ")
        return table(header: header, rows: rows) + "\n\(summary)"
    }

    private static func table(header: [String], rows: [[String]]) -> String {
        let widths = header.indices.map { column in
            ([header] + rows).map { $0[column].count }.max() ?? 0
        }
        func line(_ cells: [String]) -> String {
            zip(cells, widths).map { $0.padding(toLength: $1, withPad: " ", startingAt: 0) }
                .joined(separator: "  ").trimmingCharacters(in: .whitespaces)
        }
        return ([line(header)] + rows.map(line)).joined(separator: "\n")
    }
}
