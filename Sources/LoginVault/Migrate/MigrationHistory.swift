import Postgres

/// The `loginvault.schema_migrations` table: which versions were applied,
/// from which file content, by whom, when, and how long they took.
struct MigrationHistory {
    static let table = "loginvault.schema_migrations"

    /// What one history row says.
    struct Entry {
        let version: Int
        let description: String
        let fileName: String
        let checksum: String
        let appliedBy: String
        let appliedAt: String
        let executionMilliseconds: Int
    }

    let connection: PostgresConnection

    /// Creates the schema and table if needed. Runs under the migration lock.
    func ensure() throws {
        try connection.runScript("""
            SET client_min_messages = warning;
            CREATE SCHEMA IF NOT EXISTS loginvault;
            COMMENT ON SCHEMA loginvault IS 'loginvault internals: keys, helpers, logs, migration history';
            CREATE TABLE IF NOT EXISTS \(Self.table) (
                version       integer     PRIMARY KEY CHECK (version > 0),
                description   text        NOT NULL,
                file_name     text        NOT NULL,
                checksum      text        NOT NULL CHECK (checksum ~ '^[0-9a-f]{64}$'),
                applied_by    text        NOT NULL DEFAULT current_user,
                applied_at    timestamptz NOT NULL DEFAULT now(),
                execution_ms  integer     NOT NULL,
                repaired_at   timestamptz
            );
            COMMENT ON TABLE \(Self.table) IS 'One row per applied migration (written by loginvault migrate)';
            RESET client_min_messages;
            """)
    }

    /// Whether the table exists yet (a database `migrate` never ran on has none).
    func exists() throws -> Bool {
        try connection.query("SELECT to_regclass($1) IS NOT NULL", [.text(Self.table)]).first?[0].bool ?? false
    }

    func entries() throws -> [Int: Entry] {
        guard try exists() else { return [:] }
        let rows = try connection.query("""
            SELECT version, description, file_name, checksum, applied_by,
                   to_char(applied_at AT TIME ZONE 'UTC', 'YYYY-MM-DD HH24:MI:SS') AS applied_at, execution_ms
            FROM \(Self.table) ORDER BY version
            """).rows
        var entries: [Int: Entry] = [:]
        for row in rows {
            let entry = Entry(version: row["version"].int ?? 0, description: row["description"].string ?? "",
                              fileName: row["file_name"].string ?? "", checksum: row["checksum"].string ?? "",
                              appliedBy: row["applied_by"].string ?? "", appliedAt: row["applied_at"].string ?? "",
                              executionMilliseconds: row["execution_ms"].int ?? 0)
            entries[entry.version] = entry
        }
        return entries
    }

    func record(_ migration: Migration, milliseconds: Int) throws {
        try connection.query("""
            INSERT INTO \(Self.table) (version, description, file_name, checksum, execution_ms)
            VALUES ($1, $2, $3, $4, $5)
            """, [.int(migration.version), .text(migration.description), .text(migration.fileName),
                  .text(migration.checksum), .int(milliseconds)])
    }

    func repair(_ migration: Migration) throws {
        try connection.query("""
            UPDATE \(Self.table)
            SET checksum = $2, description = $3, file_name = $4, repaired_at = now()
            WHERE version = $1
            """, [.int(migration.version), .text(migration.checksum), .text(migration.description),
                  .text(migration.fileName)])
    }

    func forget(version: Int) throws {
        try connection.query("DELETE FROM \(Self.table) WHERE version = $1", [.int(version)])
    }
}
