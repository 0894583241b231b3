import ArgumentParser
import Foundation
import Postgres

/// `--private-key-file` and `--key-passphrase-file`: the PII admins' PGP private key of the
/// public-key mode (sql/definitions/15_public_key.sql), for the commands that decrypt
/// originals or batch keys (`reveal`, `rotate-mask-key`, `use-public-key --rewrap`). Never an
/// argument value: a file, or standard input.
///
/// The key reaches the server only as COPY data into this session's temporary tables
/// `loginvault_private_key` and `loginvault_key_password` (COPY data is not written to the
/// server log by log_statement, unlike SQL text and bind parameters), where
/// `loginvault.session_private_key()` reads it (sql/definitions/70_reveal.sql).
struct PrivateKeyOptions: ParsableArguments {
    @Option(name: .customLong("private-key-file"),
            help: ArgumentHelp("The armored PGP private key (public-key mode); - reads standard input.", valueName: "path"))
    var privateKeyFile: String?

    @Option(name: .customLong("key-passphrase-file"),
            help: ArgumentHelp("A file whose first line is the private key's passphrase; - reads standard input.", valueName: "path"))
    var keyPassphraseFile: String?

    func validate() throws {
        if privateKeyFile == "-" && keyPassphraseFile == "-" {
            throw ValidationError("only one of --private-key-file and --key-passphrase-file can read standard input")
        }
        if keyPassphraseFile != nil && privateKeyFile == nil {
            throw ValidationError("--key-passphrase-file needs --private-key-file")
        }
    }

    /// The key's lines and its passphrase, read and checked before any connection is made.
    func read() throws -> (key: [String], passphrase: String?)? {
        guard let privateKeyFile else { return nil }
        let key = try Self.readLines(privateKeyFile, what: "private key")
        let passphrase = try keyPassphraseFile.map { try Self.readLines($0, what: "key passphrase").first ?? "" }
        if !key.contains(where: { $0.hasPrefix("-----BEGIN PGP PRIVATE KEY BLOCK-----") }) {
            throw RevealError("\(privateKeyFile) is not an armored PGP private key (-----BEGIN PGP PRIVATE KEY BLOCK-----); export it with gpg --armor --export-secret-keys")
        }
        return (key, passphrase)
    }

    /// Copies what `read()` returned into this session's temporary tables.
    static func supply(_ secret: (key: [String], passphrase: String?), to connection: PostgresConnection) throws {
        try copyTemporaryTable(connection, "loginvault_private_key", column: "line", rows: secret.key)
        if let passphrase = secret.passphrase {
            try copyTemporaryTable(connection, "loginvault_key_password", column: "password", rows: [passphrase])
        }
    }

    /// Drops the temporary tables again (they would go with the session anyway).
    static func remove(from connection: PostgresConnection) {
        _ = try? connection.query("DROP TABLE IF EXISTS pg_temp.loginvault_private_key, pg_temp.loginvault_key_password")
    }

    /// The lines of a file (or standard input for `-`), without their line ends.
    static func readLines(_ path: String, what: String) throws -> [String] {
        let data: Data
        if path == "-" {
            data = FileHandle.standardInput.readDataToEndOfFile()
        } else {
            guard let contents = FileManager.default.contents(atPath: path) else {
                throw RevealError("cannot read the \(what) file \(path)")
            }
            data = contents
        }
        guard let text = String(data: data, encoding: .utf8), !text.isEmpty else {
            throw RevealError("the \(what) (\(path == "-" ? "standard input" : path)) is empty or not UTF-8")
        }
        return text.split(omittingEmptySubsequences: false, whereSeparator: { $0 == "\n" || $0 == "\r\n" })
            .map { $0.hasSuffix("\r") ? String($0.dropLast()) : String($0) }
    }

    /// A temporary table of this session filled by binary COPY: its rows never
    /// appear in SQL text, bind parameters or the server log.
    static func copyTemporaryTable(_ connection: PostgresConnection, _ table: String, column: String, rows: [String]) throws {
        try connection.query("DROP TABLE IF EXISTS pg_temp.\(table)")
        try connection.query("CREATE TEMPORARY TABLE \(table) (\(column) text)")
        try connection.copyIn("COPY pg_temp.\(table) (\(column)) FROM STDIN WITH (FORMAT binary)", format: .binary) { writer in
            for line in rows {
                try writer.beginRow(fieldCount: 1)
                writer.append(line)
            }
        }
    }
}
