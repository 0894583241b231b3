import Foundation
import Postgres

/// A private cluster logging as a DBA has it in production (every statement, every
/// duration, bind parameters in full, auto_explain of every nested statement with verbose,
/// analysed plans) and a migrated database `loginvault` in it: where the security tests
/// run the real commands and then search the server log for PII and keys.
/// Started by the test, destroyed by it (`destroy()`).
public final class ProductionLoggingCluster: Sendable {
    /// The postgresql.conf lines of production logging.
    public static let settings = """
        session_preload_libraries = 'auto_explain'
        auto_explain.log_min_duration = 0
        auto_explain.log_analyze = on
        auto_explain.log_verbose = on
        auto_explain.log_nested_statements = on
        log_statement = 'all'
        log_min_duration_statement = 0
        log_parameter_max_length = -1
        log_parameter_max_length_on_error = -1
        log_min_error_statement = error
        log_error_verbosity = verbose
        """

    public let cluster: PrivateCluster
    /// The connection string of the migrated database.
    public let connectionString: String
    /// Where the log stood after the migration (its SQL text, whose comments quote example
    /// addresses, is not searched).
    public let logStart: Int

    /// Starts the cluster, creates the database and migrates it with `loginvault migrate`.
    public init() throws {
        cluster = try PrivateCluster(settings: Self.settings)
        do {
            try PostgresConnection(cluster.connectionString()).runScript("CREATE DATABASE loginvault")
            connectionString = cluster.connectionString("loginvault")
            let migrated = try LoginVaultExecutable.run(["migrate", "--database", connectionString, "--log-level", "warning",
                                                         "--migrations-dir", Integration.repositoryRoot.appendingPathComponent("sql/migrations").path])
            guard migrated.status == 0 else { throw ClusterError(message: "loginvault migrate failed: \(migrated.stderr)") }
            logStart = try Data(contentsOf: try cluster.logFile).count
        } catch {
            cluster.destroy()
            throw error
        }
    }

    /// The server log written since the migration.
    public func log() throws -> String {
        String(decoding: try Data(contentsOf: try cluster.logFile).dropFirst(logStart), as: UTF8.self)
    }

    public func destroy() { cluster.destroy() }
}
