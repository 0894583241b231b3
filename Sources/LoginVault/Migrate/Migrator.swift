import Foundation
import Logging
import Postgres

/// Where one migration stands, comparing the files with the history table.
public struct MigrationState: Sendable {
    public enum Status: String, Sendable {
        /// Applied, and the file is unchanged.
        case applied
        /// Not applied yet.
        case pending
        /// Applied, but the file changed since (checksums differ).
        case changed
        /// Applied, but the file is gone.
        case missing
    }

    public let version: Int
    public let description: String
    public let fileName: String
    public let status: Status
    public let fileChecksum: String?
    public let appliedChecksum: String?
    public let appliedAt: String?
    public let appliedBy: String?
    public let executionMilliseconds: Int?
}

/// Where one file of `sql/definitions/` stands.
public struct DefinitionState: Sendable {
    public enum Status: String, Sendable {
        /// Applied with the file's current checksum.
        case applied
        /// Never applied.
        case pending
        /// Applied, but the file changed since: the next `migrate` applies it again.
        case changed
        /// Applied, but the file is gone (its objects stay until a migration drops them).
        case missing
    }

    public let fileName: String
    public let status: Status
    public let fileChecksum: String?
    public let appliedChecksum: String?
    public let appliedAt: String?
    public let appliedBy: String?
    public let executionMilliseconds: Int?
}

/// What a `migrate` run did (or, with `dryRun`, would do).
public struct MigrationReport: Sendable {
    /// Migrations applied by this run (or that would be, in a dry run), in order.
    public var applied: [Migration] = []
    /// Definitions files applied by this run (or that would be), in order.
    public var appliedDefinitions: [Definition] = []
    /// Migrations whose history was repaired (`--repair`).
    public var repaired: [MigrationState] = []
    /// Whether the run changed nothing because it was a dry run.
    public var dryRun = false
}

/// Applies the versioned SQL of `sql/migrations/` to a database, once each, in
/// order, each in its own transaction, then the current definitions of
/// `sql/definitions/` that changed, all under an advisory lock so that two
/// `migrate` processes at once apply each migration exactly once.
///
/// Definitions (Flyway's "repeatable migrations"): after the versioned
/// migrations, if a definitions file is new or its checksum differs from the
/// one recorded, that file and every file after it (in name order: a later
/// file may depend on an earlier one, and the privileges come last) are applied
/// again, together in one transaction, and recorded with their checksums.
/// When a versioned migration was applied in the same run, every definitions
/// file is applied again (a migration may have dropped or rebuilt what they
/// define). A definitions file never counts as drift: changing it is how a
/// function is changed.
public struct Migrator {
    /// The advisory lock key every `migrate` takes: the ASCII bytes of "lvmigrat".
    public static let lockKey: Int = 0x6c76_6d69_6772_6174 // "lvmigrat"

    let connection: PostgresConnection
    let migrations: [Migration]
    let definitions: [Definition]
    let logger: Logger

    public init(connection: PostgresConnection, migrations: [Migration], definitions: [Definition] = [],
                logger: Logger = Logger(label: "loginvault.migrate")) {
        self.connection = connection
        self.migrations = migrations
        self.definitions = definitions
        self.logger = logger
    }

    /// The migrations of `migrationsDirectory` and the definitions beside it
    /// (`MigrationDirectory.definitionsDirectory(besides:)`).
    public init(connection: PostgresConnection, migrationsDirectory: URL,
                logger: Logger = Logger(label: "loginvault.migrate")) throws {
        self.init(connection: connection, migrations: try MigrationDirectory.load(migrationsDirectory),
                  definitions: try MigrationDirectory.loadDefinitions(MigrationDirectory.definitionsDirectory(besides: migrationsDirectory)),
                  logger: logger)
    }

    /// Each definitions file's state, then recorded files that are gone.
    public func definitionStatus() throws -> [DefinitionState] {
        let entries = try MigrationHistory(connection: connection).definitionEntries()
        var states = definitions.map { definition -> DefinitionState in
            let entry = entries[definition.fileName]
            let status: DefinitionState.Status = entry == nil ? .pending
                : entry?.checksum == definition.checksum ? .applied : .changed
            return DefinitionState(fileName: definition.fileName, status: status, fileChecksum: definition.checksum,
                                   appliedChecksum: entry?.checksum, appliedAt: entry?.appliedAt,
                                   appliedBy: entry?.appliedBy, executionMilliseconds: entry?.executionMilliseconds)
        }
        let known = Set(definitions.map(\.fileName))
        for entry in entries.values.sorted(by: { $0.fileName < $1.fileName }) where !known.contains(entry.fileName) {
            states.append(DefinitionState(fileName: entry.fileName, status: .missing, fileChecksum: nil,
                                          appliedChecksum: entry.checksum, appliedAt: entry.appliedAt,
                                          appliedBy: entry.appliedBy, executionMilliseconds: entry.executionMilliseconds))
        }
        return states
    }

    /// Every migration's state, files and history merged, in version order.
    public func status() throws -> [MigrationState] {
        let history = MigrationHistory(connection: connection)
        let entries = try history.entries()
        var states: [MigrationState] = migrations.map { migration in
            guard let entry = entries[migration.version] else {
                return MigrationState(version: migration.version, description: migration.description,
                                      fileName: migration.fileName, status: .pending,
                                      fileChecksum: migration.checksum, appliedChecksum: nil,
                                      appliedAt: nil, appliedBy: nil, executionMilliseconds: nil)
            }
            return MigrationState(version: migration.version, description: migration.description,
                                  fileName: migration.fileName,
                                  status: migration.matches(recorded: entry.checksum) ? .applied : .changed,
                                  fileChecksum: migration.checksum, appliedChecksum: entry.checksum,
                                  appliedAt: entry.appliedAt, appliedBy: entry.appliedBy,
                                  executionMilliseconds: entry.executionMilliseconds)
        }
        let known = Set(migrations.map(\.version))
        for entry in entries.values where !known.contains(entry.version) {
            states.append(MigrationState(version: entry.version, description: entry.description,
                                         fileName: entry.fileName, status: .missing,
                                         fileChecksum: nil, appliedChecksum: entry.checksum,
                                         appliedAt: entry.appliedAt, appliedBy: entry.appliedBy,
                                         executionMilliseconds: entry.executionMilliseconds))
        }
        return states.sorted { $0.version < $1.version }
    }

    /// Applies what is pending. Refuses (`MigrationError.drift`) when an applied
    /// file changed or disappeared, unless `repair` is set, which records the
    /// files as they are now; the history of vanished ones is forgotten only
    /// with `forgetMissing` as well (else `MigrationError.forgetNeedsConsent`).
    /// With `target`, stops after that version and applies no definitions
    /// (to reproduce an older install; Flyway's `-target`).
    @discardableResult
    public func migrate(dryRun: Bool = false, repair: Bool = false, forgetMissing: Bool = false,
                        target: Int? = nil) throws -> MigrationReport {
        var report = MigrationReport()
        report.dryRun = dryRun
        if !dryRun {
            try connection.query("SELECT pg_advisory_lock($1)", [.int(Self.lockKey)])
            logger.debug("holding the migration lock")
        }
        defer {
            if !dryRun, connection.isOpen {
                _ = try? connection.query("SELECT pg_advisory_unlock($1)", [.int(Self.lockKey)])
            }
        }
        let history = MigrationHistory(connection: connection)
        if !dryRun { try history.ensure() }

        // Read the history only now, under the lock: a concurrent run has finished.
        let states = try status()
        let drifted = states.filter { $0.status == .changed || $0.status == .missing }
        if !drifted.isEmpty {
            guard repair else { throw MigrationError.drift(drifted) }
            let missing = drifted.filter { $0.status == .missing }
            if !missing.isEmpty && !forgetMissing { throw MigrationError.forgetNeedsConsent(missing) }
            for state in drifted {
                if !dryRun {
                    if state.status == .changed, let migration = migrations.first(where: { $0.version == state.version }) {
                        try history.repair(migration)
                    } else {
                        try history.forget(version: state.version)
                    }
                }
                logger.warning("repaired the history of \(state.fileName) (\(state.status.rawValue))")
                report.repaired.append(state)
            }
        }
        // Rows recorded by an older migrate (full-text checksums) of files whose
        // SQL is unchanged: record today's checksum, silently.
        if !dryRun {
            for state in states where state.status == .applied {
                if let migration = migrations.first(where: { $0.version == state.version }),
                   let recorded = state.appliedChecksum, migration.isLegacy(recorded: recorded) {
                    try history.upgradeChecksum(migration)
                }
            }
        }
        let latestApplied = states.filter { $0.status != .pending }.map(\.version).max() ?? 0
        let pending = states.filter { $0.status == .pending }
        if let early = pending.first(where: { $0.version < latestApplied }) {
            throw MigrationError.outOfOrder(pending: early.fileName, latestApplied: latestApplied)
        }
        for state in pending {
            if let target, state.version > target { break }
            guard let migration = migrations.first(where: { $0.version == state.version }) else { continue }
            report.applied.append(migration)
            if dryRun { continue }
            try apply(migration, history: history)
        }
        if target == nil {
            report.appliedDefinitions = try applyDefinitions(all: !report.applied.isEmpty, dryRun: dryRun, history: history)
        }
        return report
    }

    /// The definitions files from the first new or changed one on (all of
    /// them with `all`), applied in one transaction and recorded.
    private func applyDefinitions(all: Bool, dryRun: Bool, history: MigrationHistory) throws -> [Definition] {
        let states = try definitionStatus()
        for state in states where state.status == .missing {
            logger.warning("sql/definitions/\(state.fileName) was applied but is gone; what it defined stays until a migration drops it")
            if !dryRun { try history.forgetDefinition(state.fileName) }
        }
        guard let first = all ? 0 : states.firstIndex(where: { $0.status == .pending || $0.status == .changed }) else {
            return []
        }
        let due = Array(definitions[first...])
        if dryRun || due.isEmpty { return due }
        var current = due[0]
        do {
            try connection.transaction { connection in
                for definition in due {
                    current = definition
                    logger.info("applying definitions/\(definition.fileName)")
                    let clock = ContinuousClock()
                    let start = clock.now
                    try connection.runScript(definition.sql)
                    try history.record(definition, milliseconds: Self.milliseconds(clock.now - start))
                }
            }
        } catch let error as PostgresError {
            throw MigrationError.failed(fileName: "definitions/\(current.fileName)", error: error)
        }
        try connection.runScript("RESET ALL; RESET ROLE")
        return due
    }

    private static func milliseconds(_ elapsed: Duration) -> Int {
        Int(elapsed.components.seconds * 1000 + elapsed.components.attoseconds / 1_000_000_000_000_000)
    }

    private func apply(_ migration: Migration, history: MigrationHistory) throws {
        logger.info("applying \(migration.fileName)")
        let clock = ContinuousClock()
        let start = clock.now
        do {
            try connection.transaction { connection in
                try connection.runScript(migration.sql)
                try history.record(migration, milliseconds: Self.milliseconds(clock.now - start))
            }
        } catch let error as PostgresError {
            throw MigrationError.failed(fileName: migration.fileName, error: error)
        }
        // Settings a migration changed with SET (not SET LOCAL) must not leak into the next.
        try connection.runScript("RESET ALL; RESET ROLE")
    }
}
