import Foundation
import NIOCore
import NIOPosix
import Postgres

/// The observability side's own database session: the readiness check and the
/// staging backlog poll, on a thread of its own (libpq blocks), so neither waits
/// behind a batch being staged, nor a batch behind them.
public actor ProbeDatabase {
    private let group: MultiThreadedEventLoopGroup
    private let loop: any EventLoop
    private let connectionString: String
    private let migrations: [Migration]?
    private var connection: PostgresConnection?

    public nonisolated var unownedExecutor: UnownedSerialExecutor { loop.executor.asUnownedSerialExecutor() }

    /// `migrations`: the shipped files, which the database's history must match to be ready
    /// (nil: none found; then only the loader's functions are looked for).
    public init(connectionString: String, migrations: [Migration]?) {
        self.group = MultiThreadedEventLoopGroup(numberOfThreads: 1)
        self.loop = group.next()
        self.connectionString = connectionString
        self.migrations = migrations
    }

    /// Throws unless the database answers and every shipped migration is applied unchanged;
    /// returns what it found, for the readiness answer.
    public func checkReady() throws -> String {
        let connection = try connected()
        _ = try connection.query("SELECT 1")
        do {
            guard let migrations else { return try loaderFunctionsPresent(connection, why: "no migration files found") }
            let states = try Migrator(connection: connection, migrations: migrations).status()
            let notCurrent = states.filter { $0.status != .applied }
            guard notCurrent.isEmpty else {
                throw NotReady("migrations not current: "
                               + notCurrent.map { "\($0.fileName) \($0.status.rawValue)" }.joined(separator: ", "))
            }
            return "\(states.count) migrations current"
        } catch let error as PostgresError where error.sqlState == "42501" {
            return try loaderFunctionsPresent(connection, why: "migration history not readable by this role")
        }
    }

    /// When the history cannot be compared: at least what the loader calls must be there.
    private func loaderFunctionsPresent(_ connection: PostgresConnection, why: String) throws -> String {
        let present = try connection.query("""
            SELECT to_regprocedure('public.stage_incoming_logins()') IS NOT NULL
               AND to_regprocedure('public.process_raw_logins(integer)') IS NOT NULL
            """).first?[0].bool ?? false
        guard present else { throw NotReady("the loader's functions are missing: run loginvault migrate") }
        return "\(why); the loader's functions are present"
    }

    /// Rows waiting in raw_logins and the age in seconds of the oldest (0 when empty), from
    /// `loginvault.staging_backlog()` (SECURITY DEFINER: the loader may read only `message_id`).
    /// Against a database whose definitions predate that function, or a role not granted it,
    /// the row count alone (age 0).
    public func stagingBacklog() throws -> (rows: Int, oldestAgeSeconds: Double) {
        let connection = try connected()
        do {
            let row = try connection.query("SELECT rows, oldest_age_seconds FROM loginvault.staging_backlog()").first
            return (row?[0].int ?? 0, row?[1].double ?? 0)
        } catch let error as PostgresError where error.sqlState == "42501" || error.sqlState == "42883" {
            let rows = try connection.query("SELECT count(message_id)::bigint FROM public.raw_logins").first?[0].int ?? 0
            return (rows, 0)
        }
    }

    /// Closes the connection and stops the thread; call once, after the last use.
    public func shutdown() async {
        connection?.close()
        connection = nil
        try? await group.shutdownGracefully()
    }

    private func connected() throws -> PostgresConnection {
        if let connection, connection.isOpen { return connection }
        connection?.close()
        connection = nil
        let fresh = try PostgresConnection(connectionString, applicationName: "loginvault-probe")
        connection = fresh
        return fresh
    }
}

/// Why a readiness check failed, in one line.
struct NotReady: Error, CustomStringConvertible {
    let description: String
    init(_ description: String) { self.description = description }
}
