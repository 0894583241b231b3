import Postgres

/// The `loginvault.schema_migrations` table: which versions were applied,
/// from which file content, by whom, when, and how long they took; and
/// `loginvault.schema_definitions`: which checksum of each definitions file
/// was applied last.
struct MigrationHistory {
    static let table = "loginvault.schema_migrations"
    static let definitionsTable = "loginvault.schema_definitions"

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
            COMMENT ON SCHEMA loginvault IS 'loginvault internals: keys, masking helpers, run log, reveal audit, migration history';
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
            CREATE TABLE IF NOT EXISTS \(Self.definitionsTable) (
                file_name     text        PRIMARY KEY,
                checksum      text        NOT NULL CHECK (checksum ~ '^[0-9a-f]{64}$'),
                applied_by    text        NOT NULL DEFAULT current_user,
                applied_at    timestamptz NOT NULL DEFAULT now(),
                execution_ms  integer     NOT NULL
            );
            COMMENT ON TABLE \(Self.definitionsTable) IS
              'One row per file of sql/definitions, with the checksum it was last applied with (written by loginvault migrate)';
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

    /// Records today's checksum for a row that holds a legacy full-text one
    /// (the same SQL: not a repair).
    func upgradeChecksum(_ migration: Migration) throws {
        try connection.query("UPDATE \(Self.table) SET checksum = $2 WHERE version = $1",
                             [.int(migration.version), .text(migration.checksum)])
    }

    /// What one definitions history row says.
    struct DefinitionEntry {
        let fileName: String
        let checksum: String
        let appliedBy: String
        let appliedAt: String
        let executionMilliseconds: Int
    }

    func definitionEntries() throws -> [String: DefinitionEntry] {
        guard try connection.query("SELECT to_regclass($1) IS NOT NULL", [.text(Self.definitionsTable)]).first?[0].bool ?? false else {
            return [:]
        }
        let rows = try connection.query("""
            SELECT file_name, checksum, applied_by,
                   to_char(applied_at AT TIME ZONE 'UTC', 'YYYY-MM-DD HH24:MI:SS') AS applied_at, execution_ms
            FROM \(Self.definitionsTable) ORDER BY file_name
            """).rows
        var entries: [String: DefinitionEntry] = [:]
        for row in rows {
            let entry = DefinitionEntry(fileName: row["file_name"].string ?? "", checksum: row["checksum"].string ?? "",
                                        appliedBy: row["applied_by"].string ?? "", appliedAt: row["applied_at"].string ?? "",
                                        executionMilliseconds: row["execution_ms"].int ?? 0)
            entries[entry.fileName] = entry
        }
        return entries
    }

    func record(_ definition: Definition, milliseconds: Int) throws {
        try connection.query("""
            INSERT INTO \(Self.definitionsTable) (file_name, checksum, execution_ms) VALUES ($1, $2, $3)
            ON CONFLICT (file_name) DO UPDATE
               SET checksum = EXCLUDED.checksum, applied_by = DEFAULT, applied_at = DEFAULT,
                   execution_ms = EXCLUDED.execution_ms
            """, [.text(definition.fileName), .text(definition.checksum), .int(milliseconds)])
    }

    func forgetDefinition(_ fileName: String) throws {
        try connection.query("DELETE FROM \(Self.definitionsTable) WHERE file_name = $1", [.text(fileName)])
    }
}
