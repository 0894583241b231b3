import Foundation
import Postgres

/// A database of its own for one test, created empty and dropped afterwards,
/// on the server the `PG*` variables point at.
public struct ScratchDatabase: Sendable {
    public let name: String

    /// The connection string for the scratch database (libpq defaults for the rest).
    public var connectionString: String { "dbname=\(name)" }

    /// Creates `loginvault_t_<label>_<random>`.
    public static func create(_ label: String) throws -> ScratchDatabase {
        let safe = label.lowercased().filter { $0.isLetter || $0.isNumber || $0 == "_" }
        let name = "lv_t_\(safe.prefix(30))_\(UInt32.random(in: 0...UInt32.max))"
        let admin = try PostgresConnection()
        try admin.runScript("CREATE DATABASE \(name)")
        return ScratchDatabase(name: name)
    }

    /// A new connection to the scratch database.
    public func connect() throws -> PostgresConnection {
        try PostgresConnection(connectionString)
    }

    /// Drops the database, ending any sessions still in it.
    public func drop() {
        guard let admin = try? PostgresConnection() else { return }
        _ = try? admin.runScript("DROP DATABASE IF EXISTS \(name) WITH (FORCE)")
    }

    /// Runs `body` with a fresh scratch database, dropping it afterwards.
    public static func with<T>(_ label: String, _ body: (ScratchDatabase) async throws -> T) async throws -> T {
        let db = try create(label)
        defer { db.drop() }
        return try await body(db)
    }
}
