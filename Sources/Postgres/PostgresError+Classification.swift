extension PostgresError {
    /// Whether trying the same thing again cannot help until someone changes the
    /// database or the configuration: missing privileges, undefined objects, a
    /// database or role that does not exist, a read-only server, bad syntax.
    ///
    /// Everything else counts as transient: a lost or refused connection, a
    /// serialization failure or deadlock, a server shutting down or out of
    /// resources, a cancelled statement, and errors whose class is unknown
    /// (waiting and retrying is the safe default for those).
    public var isPermanent: Bool {
        guard kind == .query || kind == .copy, let sqlState, sqlState.count == 5 else { return false }
        if Self.permanentCodes.contains(sqlState) { return true }
        return Self.permanentClasses.contains(String(sqlState.prefix(2)))
    }

    /// SQLSTATE classes that no retry can heal: 0A feature not supported, 0P invalid role,
    /// 28 invalid authorization, 2F/38/39 routine exceptions of the SQL itself, 3D invalid
    /// database, 3F invalid schema, 42 syntax error or access rule violation, 44 WITH CHECK.
    static let permanentClasses: Set<String> = ["0A", "0P", "28", "2F", "38", "39", "3D", "3F", "42", "44"]

    /// Single codes outside those classes: 25006 read-only transaction (a standby or a
    /// read-only database), 55000 object not in prerequisite state.
    static let permanentCodes: Set<String> = ["25006", "55000"]

    /// One sentence on what to do, for the errors an operator meets first; nil otherwise.
    public var advice: String? {
        switch sqlState {
        case "42501":
            return "the role lacks loginvault's privileges: grant it the role it needs (e.g. GRANT loginvault_loader TO <role>, as the schema owner)"
        case "42883", "42P01", "3F000", "42704":
            return "the database is missing loginvault's objects: run `loginvault migrate` against it as the schema owner"
        case "25006":
            return "the server is read-only (a standby?): point --database at the primary"
        default:
            return nil
        }
    }
}

extension PostgresError {
    /// The error on one line: PostgreSQL's message and SQLSTATE, then `advice` when
    /// there is some (instead of PostgreSQL's own hint, which for a missing function
    /// suggests type casts), else PostgreSQL's hint.
    public var oneLine: String {
        var text = message
        if let sqlState { text += " (SQLSTATE \(sqlState))" }
        if let advice {
            text += ": \(advice)"
        } else if let hint {
            text += " (hint: \(hint))"
        }
        return text
    }
}
