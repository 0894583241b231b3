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

    @OptionGroup var privateKey: PrivateKeyOptions

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
    }

    func run() throws {
        let outcome: RevealOutcome
        do {
            let secret = try privateKey.read()
            let connection = try database.connect()
            defer { connection.close() }
            if let secret { try PrivateKeyOptions.supply(secret, to: connection) }
            outcome = try reveal(connection)
            if secret != nil { PrivateKeyOptions.remove(from: connection) }
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
}

/// A clear error about a key file (reveal, rotate-mask-key, use-public-key: unreadable, not a key, ...).
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
