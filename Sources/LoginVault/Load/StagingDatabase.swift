import Logging
import NIOCore
import NIOPosix
import Postgres

/// The loader's database session: stages batches of messages into
/// `raw_logins` and calls `process_raw_logins`.
///
/// libpq blocks, so this actor runs on a thread of its own (a one-thread NIO
/// event loop) instead of Swift's small shared pool; the connection lives inside
/// the actor, so only one call uses it at a time.
public actor StagingDatabase {
    private let group: MultiThreadedEventLoopGroup
    private let loop: any EventLoop
    private let connectionString: String
    private let logger: Logger
    private var connection: PostgresConnection?
    /// Told of every `process_raw_logins` call, successful or not (for metrics).
    private let onProcessRun: (@Sendable (ProcessRun) -> Void)?
    /// Told, after its commit, of what a staging batch put in rejected_logins, by reason (for metrics).
    private let onStagingRejects: (@Sendable ([String: Int]) -> Void)?
    /// The mask key held outside the database, supplied before each processing run.
    private let maskKeyFile: MaskKeyFile?

    public nonisolated var unownedExecutor: UnownedSerialExecutor { loop.executor.asUnownedSerialExecutor() }

    public init(connectionString: String, logger: Logger, onProcessRun: (@Sendable (ProcessRun) -> Void)? = nil,
                onStagingRejects: (@Sendable ([String: Int]) -> Void)? = nil,
                maskKeyFile: MaskKeyFile? = nil) {
        self.group = MultiThreadedEventLoopGroup(numberOfThreads: 1)
        self.loop = group.next()
        self.connectionString = connectionString
        self.logger = logger
        self.onProcessRun = onProcessRun
        self.onStagingRejects = onStagingRejects
        self.maskKeyFile = maskKeyFile
    }

    /// Another session to the same database, with a thread of its own (for work
    /// that must not wait behind staging, such as processing while loading).
    public nonisolated func sibling() -> StagingDatabase {
        StagingDatabase(connectionString: connectionString, logger: logger, onProcessRun: onProcessRun,
                        onStagingRejects: onStagingRejects, maskKeyFile: maskKeyFile)
    }

    /// Connects (or reconnects) now, so a bad connection string fails early.
    public func connect() throws {
        _ = try connected()
    }

    /// Supplies the mask key file's keys to this session (no-op without a file), so that a
    /// missing or wrong key fails before anything is received. Processing does it again
    /// before each run, which picks up a key added to the file for a rotation.
    public func supplyMaskKeys() throws {
        guard let maskKeyFile else { return }
        try maskKeyFile.supply(to: try connected())
    }

    /// Whether the last connection is still healthy.
    public var isConnected: Bool { connection?.isOpen ?? false }

    /// Stages one batch in one transaction: a COPY of every message, body as
    /// bytes, into the session temp table (`IncomingTable`), then
    /// `stage_incoming_logins(maxReceives)`, which judges them all: stages the
    /// valid ones into `raw_logins`, quarantines poison (received more than
    /// `maxReceives` times), NUL bytes, invalid UTF-8 and bodies that are not
    /// JSON, each with a reason. No body travels as a bind parameter. Throws if
    /// anything fails: then nothing of the batch is committed.
    public func stage(_ batch: [IncomingMessage], maxReceives: Int?) throws -> StagingOutcome {
        guard !batch.isEmpty else { return StagingOutcome() }
        let connection = try connected()
        let outcome = try connection.transaction { connection in
            try connection.copyIn(IncomingTable.copy, format: .binary) { writer in
                for message in batch { try IncomingTable.write(message, to: &writer) }
            }
            // One set-based INSERT when every body is valid jsonb and none is poison;
            // otherwise the database judges each message (sql/definitions/40_staging.sql).
            let row = try connection.query(
                "SELECT staged, duplicates, rejected, quarantined FROM public.stage_incoming_logins($1::integer)",
                [.optional(maxReceives)]).first
            var outcome = StagingOutcome(staged: row?["staged"].int ?? 0, duplicates: row?["duplicates"].int ?? 0,
                                         rejected: row?["rejected"].int ?? 0, quarantined: row?["quarantined"].int ?? 0)
            if outcome.rejected + outcome.quarantined > 0 {
                // Their reasons, as quarantine_raw_login recorded them in this transaction (30_quarantine.sql).
                let reasons = try connection.query("SELECT current_setting('loginvault.rejected_reasons', true)").first
                outcome.rejectedReasons = ProcessingRun.reasonCounts(reasons?[0].string)
            }
            return outcome
        }
        if !outcome.rejectedReasons.isEmpty { onStagingRejects?(outcome.rejectedReasons) }
        return outcome
    }

    /// `CALL process_raw_logins()`, then its run-log row (`loginvault.last_process_run()`).
    /// `onProcessRun` is told of the call either way.
    public func processRawLogins(batchSize: Int? = nil) throws -> ProcessingRun {
        let started = ContinuousClock.now
        do {
            let run = try callProcessRawLogins(batchSize: batchSize)
            onProcessRun?(ProcessRun(duration: ContinuousClock.now - started, run: run))
            return run
        } catch {
            onProcessRun?(ProcessRun(duration: ContinuousClock.now - started, run: nil))
            throw error
        }
    }

    private func callProcessRawLogins(batchSize: Int?) throws -> ProcessingRun {
        let connection = try connected()
        try maskKeyFile?.supply(to: connection)
        if let batchSize {
            try connection.query("CALL public.process_raw_logins($1::int)", [.int(batchSize)])
        } else {
            try connection.query("CALL public.process_raw_logins()")
        }
        guard let row = try connection.query(ProcessingRun.lastRunQuery).first, let run = ProcessingRun(row: row) else {
            throw PostgresError(kind: .query, message: "process_raw_logins left no run log row for this session (loginvault.last_process_run())")
        }
        return run
    }

    /// Closes the connection and stops the thread.
    public func close() {
        connection?.close()
        connection = nil
    }

    /// Stops the actor's thread; call once, after the last use.
    public nonisolated func shutdown() async {
        try? await group.shutdownGracefully()
    }

    private func connected() throws -> PostgresConnection {
        if let connection, connection.isOpen { return connection }
        connection?.close()
        connection = nil
        let fresh = try PostgresConnection(connectionString)
        try fresh.runScript("""
            SET client_min_messages = warning;
            \(IncomingTable.create);
            RESET client_min_messages;
            """)
        logger.debug("connected to PostgreSQL (backend \(fresh.backendPID))")
        connection = fresh
        return fresh
    }
}
