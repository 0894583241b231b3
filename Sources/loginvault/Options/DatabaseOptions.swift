import ArgumentParser
import Foundation
import Postgres

/// `--database`: which PostgreSQL to use, the libpq way.
struct DatabaseOptions: ParsableArguments {
    @Option(name: [.customShort("d"), .long], help: ArgumentHelp(
        "A libpq connection string or URI (e.g. 'host=db dbname=app user=loader').",
        discussion: """
            Default: DATABASE_URL when set, else libpq's defaults (PGHOST, PGPORT, PGUSER, \
            PGDATABASE, PGSERVICE, ...). Never put a password here: anyone on the machine \
            can read a command line. Use ~/.pgpass, PGPASSWORD, a service file or DATABASE_URL.
            """,
        valueName: "conninfo"))
    var database: String?

    func validate() throws {
        if let database, (try? ConnectionString.containsPassword(database)) == true {
            throw ValidationError("--database must not contain a password (it would be visible in ps); use ~/.pgpass, PGPASSWORD, a service file or DATABASE_URL")
        }
    }

    /// The connection string to use (see the option's help).
    var connectionString: String {
        ConnectionString.resolve(explicit: database, environment: ProcessInfo.processInfo.environment)
    }

    /// Opens a connection, turning failures into a one-line error.
    func connect() throws -> PostgresConnection {
        try PostgresConnection(connectionString)
    }
}
