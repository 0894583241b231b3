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

/// What a `migrate` run did (or, with `dryRun`, would do).
public struct MigrationReport: Sendable {
    /// Migrations applied by this run (or that would be, in a dry run), in order.
    public var applied: [Migration] = []
    /// Migrations whose history was repaired (`--repair`).
    public var repaired: [MigrationState] = []
    /// Whether the run changed nothing because it was a dry run.
    public var dryRun = false
}

/// Applies the versioned SQL of `sql/migrations/` to a database, once each, in
/// order, each in its own transaction, under an advisory lock so that two
/// `migrate` processes at once apply each migration exactly once.
public struct Migrator {
    /// The advisory lock key every `migrate` takes: the ASCII bytes of "lvmigrat".
    public static let lockKey: Int = 0x6c76_6d69_6772_6174 // "lvmigrat"

    let connection: PostgresConnection
    let migrations: [Migration]
    let logger: Logger

    public init(connection: PostgresConnection, migrations: [Migration], logger: Logger = Logger(label: "loginvault.migrate")) {
        self.connection = connection
        self.migrations = migrations
        self.logger = logger
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
                                  status: entry.checksum == migration.checksum ? .applied : .changed,
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
    /// files as they are now and forgets the history of vanished ones.
    @discardableResult
    public func migrate(dryRun: Bool = false, repair: Bool = false) throws -> MigrationReport {
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
        let latestApplied = states.filter { $0.status != .pending }.map(\.version).max() ?? 0
        let pending = states.filter { $0.status == .pending }
        if let early = pending.first(where: { $0.version < latestApplied }) {
            throw MigrationError.outOfOrder(pending: early.fileName, latestApplied: latestApplied)
        }
        for state in pending {
            guard let migration = migrations.first(where: { $0.version == state.version }) else { continue }
            report.applied.append(migration)
            if dryRun { continue }
            try apply(migration, history: history)
        }
        return report
    }

    private func apply(_ migration: Migration, history: MigrationHistory) throws {
        logger.info("applying \(migration.fileName)")
        let clock = ContinuousClock()
        let start = clock.now
        do {
            try connection.transaction { connection in
                try connection.runScript(migration.sql)
                let elapsed = clock.now - start
                let ms = Int(elapsed.components.seconds * 1000 + elapsed.components.attoseconds / 1_000_000_000_000_000)
                try history.record(migration, milliseconds: ms)
            }
        } catch let error as PostgresError {
            throw MigrationError.failed(fileName: migration.fileName, error: error)
        }
        // Settings a migration changed with SET (not SET LOCAL) must not leak into the next.
        try connection.runScript("RESET ALL; RESET ROLE")
    }
}
