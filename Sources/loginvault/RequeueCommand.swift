import ArgumentParser
import Foundation
import LoginVault
import Postgres

/// `loginvault requeue`: puts quarantined messages of one reason through
/// validation again (`CALL requeue_rejected`, sql/definitions/75_requeue.sql).
struct RequeueCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "requeue",
        abstract: "Put quarantined messages of one reason through validation again (PII admin).",
        discussion: """
            Runs CALL requeue_rejected(...) in the database: each chosen message of \
            rejected_logins is decrypted there, validated again and becomes a login, is \
            rejected again with the reason that applies now, or (a body that is not JSON) \
            stays in the quarantine. All in one transaction; every message taken is \
            audited in loginvault.requeue_audit (who, when, which id, the outcome). \
            Connect as a member of loginvault_pii_admin. When the installation keeps \
            its mask key outside the database, LOGINVAULT_MASK_KEY_FILE names the file \
            holding it (as for load).

            The usual case: a first load ran with the wrong role or without migrations, \
            its retries raised the receive counts, and a correct load later quarantined \
            valid logins as too_many_receives.

            Exit codes: 0 done (also when nothing matched); 1 error (connection, \
            permission, SQL); 64 bad usage.

            Examples:
              loginvault requeue --reason too_many_receives
              loginvault requeue --reason too_many_receives --message-id 5f1c... --message-id 77a0...
              loginvault requeue --reason too_many_receives --limit 1000 --json
            """
    )

    @OptionGroup var database: DatabaseOptions

    @Option(help: ArgumentHelp("The quarantine reason to requeue (e.g. too_many_receives).", valueName: "code"))
    var reason: String

    @Option(name: .customLong("message-id"), help: ArgumentHelp("Only this message id (repeatable).", valueName: "id"))
    var messageIds: [String] = []

    @Option(help: ArgumentHelp("Take at most this many messages (oldest rejects first).", valueName: "n"))
    var limit: Int?

    @Flag(help: "Print the result as one JSON object.")
    var json = false

    func validate() throws {
        if reason.isEmpty { throw ValidationError("--reason must not be empty (e.g. --reason too_many_receives)") }
        if let limit, limit < 1 { throw ValidationError("--limit must be a positive integer, got \(limit)") }
        if messageIds.contains(where: \.isEmpty) { throw ValidationError("--message-id must not be empty") }
    }

    func run() throws {
        let outcome: RequeueOutcome
        do {
            let connection = try database.connect()
            defer { connection.close() }
            // A mask key held outside the database: the batches of the requeue need it.
            try MaskKeyFile.fromEnvironment()?.supply(to: connection)
            let result = try connection.query(
                "CALL public.requeue_rejected($1, $2::text[], $3::integer)",
                [.text(reason), messageIds.isEmpty ? .null : .text(Self.arrayLiteral(messageIds)),
                 limit.map { .int($0) } ?? .null])
            guard let row = result.first else { throw ExitCodes.failure }
            outcome = RequeueOutcome(
                reason: reason, requeueId: row["requeue_id"].int ?? 0, selected: row["selected"].int ?? 0,
                logins: row["logins"].int ?? 0, rejected: row["rejected"].int ?? 0, kept: row["kept"].int ?? 0)
        } catch {
            throw fail(error)
        }
        print(json ? outcome.jsonLine : outcome.line)
    }

    /// A PostgreSQL text[] literal: each element double-quoted, `"` and `\` escaped.
    static func arrayLiteral(_ values: [String]) -> String {
        "{" + values.map { "\"" + $0.replacingOccurrences(of: "\\", with: "\\\\").replacingOccurrences(of: "\"", with: "\\\"") + "\"" }
            .joined(separator: ",") + "}"
    }
}

/// What one requeue did: the counts of CALL requeue_rejected.
struct RequeueOutcome: Encodable {
    let reason: String
    let requeueId: Int
    let selected: Int
    let logins: Int
    let rejected: Int
    let kept: Int

    var line: String {
        "requeue \(requeueId): \(selected) quarantined message(s) of reason \(reason) taken: "
            + "\(logins) became logins, \(rejected) rejected again, \(kept) kept in the quarantine"
    }
}
