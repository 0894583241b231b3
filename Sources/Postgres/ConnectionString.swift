import CLibPQ

/// Choosing and checking libpq connection strings the way PostgreSQL's own
/// tools do.
public enum ConnectionString {
    /// The connection string to use: an explicit one (e.g. `--database`), else
    /// `DATABASE_URL` when set, else the empty string (libpq's `PG*` defaults).
    public static func resolve(explicit: String?, environment: [String: String]) -> String {
        if let explicit, !explicit.isEmpty { return explicit }
        if let url = environment["DATABASE_URL"], !url.isEmpty { return url }
        return ""
    }

    /// Whether the string sets a password. Passwords on a command line are seen
    /// by every user of the machine (`ps`), so the CLI refuses them there.
    /// Throws when libpq cannot parse the string, with libpq's message.
    public static func containsPassword(_ connectionString: String) throws -> Bool {
        guard !connectionString.isEmpty else { return false }
        var error: UnsafeMutablePointer<CChar>?
        guard let options = PQconninfoParse(connectionString, &error) else {
            let message = error.map { String(cString: $0).trimmingTrailingNewlines() } ?? "invalid connection string"
            if let error { PQfreemem(error) }
            throw PostgresError(kind: .connection, message: message)
        }
        defer { PQconninfoFree(options) }
        var option = options
        while let keyword = option.pointee.keyword {
            if String(cString: keyword) == "password", let value = option.pointee.val, value.pointee != 0 {
                return true
            }
            option = option.advanced(by: 1)
        }
        return false
    }
}
