import Postgres

/// Why `migrate` stopped. Each case names the file it is about.
public enum MigrationError: Error, Sendable, CustomStringConvertible {
    /// No migrations directory was found; lists where it looked.
    case directoryNotFound([String])
    /// The directory has no migration file (a wrong `--migrations-dir`).
    case noMigrations(String)
    /// `--repair` would forget applied migrations whose files are missing; that needs `--forget-missing`.
    case forgetNeedsConsent([MigrationState])
    /// A `.sql` file whose name is not `NNNN_description.sql`, or unreadable.
    case invalidFile(String, String)
    /// A file of `sql/definitions/` whose name is not `NN_concern.sql`.
    case invalidDefinitionFile(String)
    /// Two files with the same version.
    case duplicateVersion(Int, [String])
    /// Versions must run 1, 2, 3... with no hole.
    case gap(missing: Int, before: String)
    /// Applied migrations whose files changed or disappeared.
    case drift([MigrationState])
    /// A file with a version lower than one already applied, that was never applied.
    case outOfOrder(pending: String, latestApplied: Int)
    /// A migration failed; it was rolled back completely.
    case failed(fileName: String, error: PostgresError)

    public var description: String {
        switch self {
        case .directoryNotFound(let places):
            return "no migrations directory found; looked in:\n" + places.map { "  \($0)" }.joined(separator: "\n")
                + "\nPass --migrations-dir DIR (or set LOGINVAULT_MIGRATIONS_DIR)."
        case .noMigrations(let directory):
            return "no migration files (NNNN_description.sql) in \(directory): is --migrations-dir (or LOGINVAULT_MIGRATIONS_DIR) right?"
        case .forgetNeedsConsent(let states):
            return "--repair would forget applied migrations whose files are missing: "
                + states.map(\.fileName).joined(separator: ", ")
                + ". Restore the files (or check --migrations-dir); to forget them anyway, add --forget-missing"
        case .invalidFile(let file, let why):
            return "\(file) \(why) (expected NNNN_description.sql, e.g. 0001_create_schema.sql)"
        case .invalidDefinitionFile(let file):
            return "\(file) is not a definitions file name (expected NN_concern.sql, e.g. 50_processing.sql)"
        case .duplicateVersion(let version, let files):
            return "version \(version) is used by more than one file: \(files.joined(separator: ", "))"
        case .gap(let missing, let before):
            return "migration version \(missing) is missing (the next file is \(before)); versions must have no gaps"
        case .drift(let states):
            let lines = states.map { state -> String in
                switch state.status {
                case .changed:
                    return "  \(state.fileName): changed since it was applied (checksum \(state.appliedChecksum ?? "?") -> \(state.fileChecksum ?? "?"))"
                case .missing:
                    return "  \(state.fileName): applied, but the file is gone"
                default:
                    return "  \(state.fileName)"
                }
            }
            return "refusing to migrate: applied migrations differ from their files:\n" + lines.joined(separator: "\n")
                + "\nMigrations are forward-only: put the change in a new migration and restore the file."
                + "\nIf the edit is deliberate and harmless (a comment), run `loginvault migrate --repair` to record the files as they are now."
        case .outOfOrder(let pending, let latest):
            return "\(pending) was never applied, but version \(latest) already was; give it a version after \(latest)"
        case .failed(let file, let error):
            var text = "\(file.contains("/") ? "" : "migration ")\(file) failed and was rolled back: "
            if let state = error.sqlState { text += "SQLSTATE \(state): " }
            text += error.message
            if let detail = error.detail { text += "\nDETAIL: \(detail)" }
            if let hint = error.hint { text += "\nHINT: \(hint)" }
            if let context = error.context { text += "\nCONTEXT: \(context)" }
            return text
        }
    }
}
