import ArgumentParser
import Foundation
import LoginVault
import Postgres

/// `loginvault rotate-mask-key`: `CALL loginvault.rotate_mask_key()`
/// (sql/definitions/82_mask_rotation.sql) with what the session needs for it: in the
/// public-key mode the private key (as `loginvault reveal` gives it: COPY data, never SQL
/// text or a bind parameter), and, for a mask key held outside the database, the keys of
/// `LOGINVAULT_MASK_KEY_FILE` and the new key.
struct RotateMaskKeyCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "rotate-mask-key",
        abstract: "Rotate the mask key: re-mask every login in batches, then switch atomically (owner).",
        discussion: """
            Runs CALL loginvault.rotate_mask_key(batch_size) as the schema owner: it begins a \
            rotation (a new mask key version) unless one is in progress, re-masks the existing \
            logins from their originals in committed batches while loading goes on, then, in one \
            transaction, puts every new mask into user_logins and erases the old key. Analysts' \
            duplicate detection stays correct throughout: every mask they see is under one key. \
            Run it again, with the same options, to finish a rotation that stopped (an error, \
            a lost connection).

            Public-key mode (loginvault use-public-key): re-masking needs the originals, so the \
            PII admins' private key. Give it with --private-key-file (a file, or - for standard \
            input), never on the command line, and its passphrase with --key-passphrase-file. \
            It is sent as COPY data into a temporary table of this session (COPY data is not \
            written to the server log by log_statement), read inside each statement that needs \
            it, and each batch's wrapped data key is decrypted once per re-mask batch, not per \
            row. Without it (or with a key that does not open the originals) nothing begins.

            A mask key held outside the database (LOGINVAULT_MASK_KEY_FILE): first add the new \
            key as a second line to every loader's key file, then run this with \
            --new-mask-key-file naming a file with the new key alone; when it is done the old \
            line may go. The same option moves an installation with a stored key to one held \
            outside. With LOGINVAULT_MASK_KEY_FILE set, its keys are supplied to this session \
            first (needed to resume a rotation to a key held outside).

            Exit codes: 0 rotated; 1 error (no private key, wrong key, permission, SQL; nothing \
            switched); 64 bad usage.

            Examples:
              loginvault rotate-mask-key
              loginvault rotate-mask-key --private-key-file ~/pii-private.asc --key-passphrase-file ~/.pii-pass
              gpg --armor --export-secret-keys pii@example.com | loginvault rotate-mask-key --private-key-file -
              openssl rand -hex 32 > new-mask.key   # and add it to every loader's LOGINVAULT_MASK_KEY_FILE
              LOGINVAULT_MASK_KEY_FILE=/run/secrets/mask.key loginvault rotate-mask-key --new-mask-key-file new-mask.key
            """
    )

    @OptionGroup var database: DatabaseOptions

    @OptionGroup var privateKey: PrivateKeyOptions

    @Option(name: .customLong("batch-size"), help: ArgumentHelp("Logins re-masked per committed batch.", valueName: "n"))
    var batchSize = 10_000

    @Option(name: .customLong("new-mask-key-file"),
            help: ArgumentHelp("Begin a rotation to a key held outside the database: a file with the new hex key.", valueName: "path"))
    var newMaskKeyFile: String?

    func validate() throws {
        if batchSize < 1 { throw ValidationError("--batch-size must be a positive integer") }
        if newMaskKeyFile == "-" { throw ValidationError("--new-mask-key-file must name a file") }
    }

    func run() throws {
        do {
            let secret = try privateKey.read()
            let newKey = try newMaskKeyFile.map { try PrivateKeyOptions.readLines($0, what: "new mask key").joined(separator: "\n") }
            let connection = try database.connect()
            defer { connection.close() }
            if let keyFile = MaskKeyFile.fromEnvironment() {
                try keyFile.supply(to: connection)
            }
            if let secret { try PrivateKeyOptions.supply(secret, to: connection) }
            let before = try activeVersion(connection)
            if let newKey {
                try PrivateKeyOptions.copyTemporaryTable(connection, "loginvault_mask_key", column: "key_hex", rows: [newKey])
            }
            // A top-level CALL (outside a transaction block), so the procedure may COMMIT between
            // batches; its values are bind parameters, as use-public-key --rewrap passes them. It
            // checks the private key before it begins anything.
            _ = try connection.query("CALL loginvault.rotate_mask_key($1::integer, $2::boolean)",
                                     [.int(batchSize), newKey == nil ? .null : .bool(true)])
            if secret != nil { PrivateKeyOptions.remove(from: connection) }
            let after = try activeVersion(connection)
            print("mask key version \(after) is active (was \(before)); every login is re-masked under it and the previous key is erased")
        } catch {
            throw fail(error)
        }
    }

    private func activeVersion(_ connection: PostgresConnection) throws -> Int {
        try connection.query("SELECT version FROM loginvault.mask_keys WHERE state = 'active'").first?[0].int ?? 0
    }
}
