import ArgumentParser
import Foundation
import Postgres

/// `loginvault reveal`: the originals of one login (or the body of one
/// rejected message), through the audited procedures of
/// sql/definitions/70_reveal.sql. The private key (public-key mode) reaches
/// the server only as COPY data, never as SQL text or a bind parameter.
struct RevealCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "reveal",
        abstract: "Show the original ip and device id of a login, or a rejected body (PII admin; audited).",
        discussion: """
            Runs CALL reveal_login(...) (or reveal_rejected) in the database as a member of \
            loginvault_pii_admin. The procedure first commits an audit row (who, when, which \
            row, the reason), chained to the previous one by a hash, and only then decrypts: \
            no value is shown without a durable audit row. --reason is required.

            Public-key mode (the installation encrypts originals to a PGP public key, chosen \
            with loginvault use-public-key): give the private key with --private-key-file (a \
            file, or - for standard input), never on the command line. It is sent to the \
            server as COPY data into a temporary table of this session (COPY data is not \
            written to the server log by log_statement, unlike SQL text and parameters), \
            read by the decrypting function and dropped afterwards. If the key has a passphrase, --key-passphrase-file gives it \
            the same way. In the symmetric mode no key is needed.

            Exit codes: 0 shown; 1 error (connection, permission, wrong key, SQL); \
            3 no such login or rejected message (the attempt is audited); 64 bad usage.

            Examples:
              loginvault reveal --login-id 42 --reason 'ticket SEC-1234'
              loginvault reveal --login-id 42 --reason 'ticket SEC-1234' --private-key-file ~/pii-private.asc
              gpg --armor --export-secret-keys pii@example.com | \\
                loginvault reveal --login-id 42 --reason 'SEC-1234' --private-key-file - --key-passphrase-file ~/.pii-pass
              loginvault reveal --message-id 5f1c2d3e-... --reason 'debug reject' --json
            """
    )

    @OptionGroup var database: DatabaseOptions

    @Option(name: .customLong("login-id"), help: ArgumentHelp("The user_logins.login_id to reveal.", valueName: "n"))
    var loginId: Int?

    @Option(name: .customLong("message-id"), help: ArgumentHelp("A rejected message's id: reveal its quarantined body.", valueName: "id"))
    var messageId: String?

    @Option(help: ArgumentHelp("Why (3 to 500 characters, e.g. a ticket number); stored in the audit.", valueName: "text"))
    var reason: String

    @Option(name: .customLong("private-key-file"),
            help: ArgumentHelp("The armored PGP private key (public-key mode); - reads standard input.", valueName: "path"))
    var privateKeyFile: String?

    @Option(name: .customLong("key-passphrase-file"),
            help: ArgumentHelp("A file whose first line is the private key's passphrase; - reads standard input.", valueName: "path"))
    var keyPassphraseFile: String?

    @Flag(help: "Print the result as one JSON object.")
    var json = false

    func validate() throws {
        if (loginId == nil) == (messageId == nil) {
            throw ValidationError("give exactly one of --login-id N or --message-id ID")
        }
        if let messageId, messageId.isEmpty { throw ValidationError("--message-id must not be empty") }
        if reason.trimmingCharacters(in: .whitespacesAndNewlines).count < 3 {
            throw ValidationError("--reason is required: say why (3 to 500 characters, e.g. --reason 'ticket SEC-1234')")
        }
        if privateKeyFile == "-" && keyPassphraseFile == "-" {
            throw ValidationError("only one of --private-key-file and --key-passphrase-file can read standard input")
        }
        if keyPassphraseFile != nil && privateKeyFile == nil {
            throw ValidationError("--key-passphrase-file needs --private-key-file")
        }
    }

    func run() throws {
        let outcome: RevealOutcome
        do {
            let key = try privateKeyFile.map { try Self.readLines($0, what: "private key") }
            let passphrase = try keyPassphraseFile.map { try Self.readLines($0, what: "key passphrase").first ?? "" }
            if let key, !key.contains(where: { $0.hasPrefix("-----BEGIN PGP PRIVATE KEY BLOCK-----") }) {
                throw RevealError("\(privateKeyFile ?? "") is not an armored PGP private key (-----BEGIN PGP PRIVATE KEY BLOCK-----); export it with gpg --armor --export-secret-keys")
            }
            let connection = try database.connect()
            defer { connection.close() }
            if let key {
                try Self.copyTemporaryTable(connection, "loginvault_private_key", column: "line", rows: key)
            }
            if let passphrase {
                try Self.copyTemporaryTable(connection, "loginvault_key_password", column: "password", rows: [passphrase])
            }
            outcome = try reveal(connection)
            if key != nil {
                _ = try? connection.query("DROP TABLE IF EXISTS pg_temp.loginvault_private_key, pg_temp.loginvault_key_password")
            }
        } catch {
            throw fail(error)
        }
        guard outcome.found else {
            StandardError.write("loginvault: \(outcome.notFoundLine)\n")
            if json { print(outcome.jsonLine) }
            throw ExitCodes.pending
        }
        print(json ? outcome.jsonLine : outcome.text)
    }

    private func reveal(_ connection: PostgresConnection) throws -> RevealOutcome {
        if let loginId {
            let row = try connection.query("CALL public.reveal_login($1::bigint, $2, NULL, NULL, NULL, NULL)",
                                           [.int(loginId), .text(reason)]).first
            return RevealOutcome(loginId: loginId, messageId: row?["message_id"].string, ip: row?["ip"].string,
                                 deviceId: row?["device_id"].string, rejectedFor: nil, body: nil,
                                 auditId: row?["audit_id"].int ?? 0, found: row?["message_id"].string != nil)
        }
        let row = try connection.query("CALL public.reveal_rejected($1, $2, NULL, NULL, NULL)",
                                       [.text(messageId ?? ""), .text(reason)]).first
        return RevealOutcome(loginId: nil, messageId: messageId, ip: nil, deviceId: nil,
                             rejectedFor: row?["rejected_for"].string, body: row?["body"].string,
                             auditId: row?["audit_id"].int ?? 0, found: row?["rejected_for"].string != nil)
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

/// A clear error of `loginvault reveal` (bad key file, ...).
struct RevealError: Error, CustomStringConvertible {
    let description: String
    init(_ description: String) { self.description = description }
}

/// What one reveal returned: the originals of a login, or a rejected body, and the audit row.
struct RevealOutcome: Encodable {
    let loginId: Int?
    let messageId: String?
    let ip: String?
    let deviceId: String?
    let rejectedFor: String?
    let body: String?
    let auditId: Int
    let found: Bool

    var text: String {
        if let loginId {
            return "login \(loginId) (message \(messageId ?? "")): ip \(ip ?? "(none)"), device_id \(deviceId ?? "(none)")"
                + "  [audit \(auditId)]"
        }
        return "rejected message \(messageId ?? "") (\(rejectedFor ?? "")): \(body ?? "")  [audit \(auditId)]"
    }

    var notFoundLine: String {
        let what = loginId.map { "login \($0)" } ?? "rejected message \(messageId ?? "")"
        return "\(what) does not exist (the attempt is audited as audit \(auditId))"
    }
}
