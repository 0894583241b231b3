import Postgres

/// Whether a database is ready for `load`: reachable, migrated, and the role
/// connected may do what loading needs. Asked once before the first receive
/// (and by `loginvault check`), so that a wrong role or an unmigrated database
/// is one clear line instead of batches received and released again and again.
public struct DatabaseReadiness: Sendable {
    /// Who and where the connection is (never a password).
    public var role = ""
    public var database = ""
    public var server = ""
    /// loginvault roles the connected role is a member of.
    public var memberships: [String] = []
    /// Objects of loginvault that `load` calls and that do not exist.
    public var missingObjects: [String] = []
    /// Objects that exist but the role may not use.
    public var forbidden: [String] = []
    /// The highest migration version applied, when the role may read the history.
    public var appliedVersion: Int?
    public var historyReadable = false
    public var isSuperuser = false

    /// What loading calls, and the privilege each needs. Processing adds the procedure.
    static let stagingObjects: [(kind: String, signature: String, privilege: String)] = [
        ("table", "public.raw_logins", "INSERT"),
        ("function", "public.stage_incoming_logins(integer)", "EXECUTE"),
    ]
    static let processingObjects: [(kind: String, signature: String, privilege: String)] = [
        ("procedure", "public.process_raw_logins(integer)", "EXECUTE"),
    ]

    /// Reads the facts in two small catalog queries; changes nothing.
    public static func inspect(_ connection: PostgresConnection, processing: Bool) throws -> DatabaseReadiness {
        var readiness = DatabaseReadiness()
        let identity = try connection.query("""
            SELECT current_user::text, current_database()::text,
                   coalesce(inet_server_addr()::text || ':' || inet_server_port(), 'local socket')
                     || ', PostgreSQL ' || current_setting('server_version'),
                   (SELECT rolsuper FROM pg_roles WHERE rolname = current_user),
                   (SELECT string_agg(rolname, ',' ORDER BY rolname) FROM pg_roles
                     WHERE rolname LIKE 'loginvault\\_%' AND pg_has_role(current_user, oid, 'MEMBER')),
                   CASE WHEN has_schema_privilege((SELECT oid FROM pg_namespace WHERE nspname = 'loginvault'), 'USAGE')
                        THEN has_table_privilege(to_regclass('loginvault.schema_migrations'), 'SELECT') END,
                   has_schema_privilege((SELECT oid FROM pg_namespace WHERE nspname = 'loginvault'), 'USAGE')
            """).first
        readiness.role = identity?[0].string ?? "?"
        readiness.database = identity?[1].string ?? "?"
        readiness.server = identity?[2].string ?? "?"
        readiness.isSuperuser = identity?[3].bool ?? false
        readiness.memberships = (identity?[4].string ?? "").split(separator: ",").map(String.init)
        readiness.historyReadable = identity?[5].bool ?? false
        // Processing calls loginvault's functions; a schema that is there but not usable is a privilege problem.
        if processing, identity?[6].bool == false {
            readiness.forbidden.append("USAGE on schema loginvault")
        }

        let objects = stagingObjects + (processing ? processingObjects : [])
        for object in objects {
            let lookup = object.kind == "table" ? "to_regclass($1)" : "to_regprocedure($1)"
            let check = object.kind == "table" ? "has_table_privilege" : "has_function_privilege"
            let row = try connection.query("SELECT \(lookup) IS NOT NULL, \(check)(\(lookup), $2)",
                                           [.text(object.signature), .text(object.privilege)]).first
            if row?[0].bool != true {
                readiness.missingObjects.append("\(object.kind) \(object.signature)")
            } else if row?[1].bool != true {
                readiness.forbidden.append("\(object.privilege) on \(object.kind) \(object.signature)")
            }
        }
        if readiness.historyReadable {
            readiness.appliedVersion = try connection.query("SELECT max(version) FROM loginvault.schema_migrations").first?[0].int
        }
        return readiness
    }

    /// One line per part, for `check` and the pre-flight. `expectedVersion`: the newest
    /// migration file this binary knows of, when its files were found.
    public func results(expectedVersion: Int?) -> [CheckResult] {
        var results = [CheckResult("database", .ok, "connected to \(database) on \(server) as \(role)")]
        if isSuperuser {
            results.append(CheckResult("role", .ok, "\(role) is a superuser"))
        } else if forbidden.isEmpty {
            results.append(CheckResult("role", .ok, "\(role) is a member of \(memberships.isEmpty ? "no loginvault role" : memberships.joined(separator: ", "))"))
        }
        if !missingObjects.isEmpty {
            results.append(CheckResult("migrations", .failed,
                                       "database \(database) is not migrated for loginvault (missing \(missingObjects.joined(separator: ", ")))",
                                       fix: "run `loginvault migrate --database ...` against it as the schema owner"))
        } else if let expectedVersion, let appliedVersion, appliedVersion < expectedVersion {
            results.append(CheckResult("migrations", .warning,
                                       "database \(database) has migrations up to \(String(format: "%04d", appliedVersion)); this loginvault has \(String(format: "%04d", expectedVersion))",
                                       fix: "run `loginvault migrate` as the schema owner"))
        } else if let appliedVersion {
            results.append(CheckResult("migrations", .ok, "applied up to \(String(format: "%04d", appliedVersion))"))
        } else {
            results.append(CheckResult("migrations", .ok, "loginvault's objects are there (the migration history is not readable by \(role), which is normal for a loader)"))
        }
        if !forbidden.isEmpty {
            results.append(CheckResult("role", .failed,
                                       "\(role) may not \(forbidden.joined(separator: ", ")) (member of \(memberships.isEmpty ? "no loginvault role" : memberships.joined(separator: ", ")))",
                                       fix: "as the schema owner: GRANT loginvault_loader TO \(role)"))
        }
        return results
    }
}
