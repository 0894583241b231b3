import ArgumentParser

/// The `loginvault` command line: subcommands for each job.
@main
struct LoginVaultCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "loginvault",
        abstract: "Move login events from SQS into PostgreSQL, where their PII is masked.",
        discussion: """
            loginvault only moves raw JSON from an SQS queue into the raw_logins staging \
            table; the masking, validation and upsert into user_logins happen inside \
            PostgreSQL (sql/definitions, one file per concern, over the tables of \
            sql/migrations), where a DBA can read and run them.

            Connections follow libpq: --database takes a connection string or URI, \
            else DATABASE_URL, else the PG* variables, ~/.pgpass and service files.

            Examples:
              loginvault migrate --database 'host=db.internal dbname=app user=owner'
              loginvault check --queue login-queue
              loginvault load --queue login-queue
              loginvault load --from-file examples/login-queue-sample.json
              loginvault requeue --reason too_many_receives
              loginvault reveal --login-id 42 --reason 'ticket SEC-1234'
              loginvault rotate-mask-key --private-key-file ~/pii-private.asc

            Shell completions: loginvault --generate-completion-script bash (or zsh, fish).
            """,
        version: BuildInfo.versionLine,
        subcommands: [MigrateCommand.self, LoadCommand.self, CheckCommand.self, StatusCommand.self, RequeueCommand.self, RevealCommand.self, UsePublicKeyCommand.self,
                      RotateMaskKeyCommand.self,
                      VersionCommand.self]
    )
}
