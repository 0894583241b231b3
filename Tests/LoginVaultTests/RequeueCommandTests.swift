import Foundation
import LoginVault
import Postgres
import TestSupport
import Testing

/// `loginvault requeue`: quarantined messages go through validation again, as a PII admin
/// (CALL requeue_rejected, sql/definitions/75_requeue.sql; its SQL test is Tests/sql/requeue.sql).
@Suite("loginvault requeue", .enabled(if: Integration.postgres))
struct RequeueCommandTests {
    @Test func validLoginsComeBackOutOfTheQuarantineOnce() throws {
        let db = try ScratchDatabase.create("requeue")
        defer { db.drop() }
        let admin = try db.connect()
        try Migrator(connection: admin, migrationsDirectory: Integration.repositoryRoot.appendingPathComponent("sql/migrations")).migrate()
        for i in 1...20 {
            try admin.query("SELECT quarantine_raw_login($1, $2, 'too_many_receives', now(), 6)",
                            [.text("rq-\(i)"), .text(#"{"user_id":"u-rq-\#(i)","ip":"10.9.0.\#(i)"}"#)])
        }
        try admin.query("SELECT quarantine_raw_login('rq-text', $1, 'too_many_receives')", [.text("not json")])

        let suffix = UInt32.random(in: 0...UInt32.max)
        let piiAdmin = "lv_t_rq_admin_\(suffix)", loader = "lv_t_rq_loader_\(suffix)"
        try admin.runScript("""
            CREATE ROLE \(piiAdmin) LOGIN PASSWORD 'requeue-pw' IN ROLE loginvault_pii_admin;
            CREATE ROLE \(loader) LOGIN PASSWORD 'requeue-pw' IN ROLE loginvault_loader;
            """)
        defer { _ = try? PostgresConnection().runScript("DROP ROLE IF EXISTS \(piiAdmin); DROP ROLE IF EXISTS \(loader)") }
        let port = try #require(try admin.query("SELECT current_setting('port')").first?[0].string)
        func requeue(as role: String, _ arguments: [String]) throws -> LoginVaultExecutable.Outcome {
            try LoginVaultExecutable.run(
                ["requeue", "--database", "host=127.0.0.1 port=\(port) dbname=\(db.name) user=\(role)"] + arguments,
                environment: ["PGPASSWORD": "requeue-pw"])
        }
        func count(_ sql: String) throws -> Int { try admin.query(sql).first?[0].int ?? -1 }

        let refused = try requeue(as: loader, ["--reason", "too_many_receives"])
        #expect(refused.status == 1, "\(refused.stderr)")
        #expect(refused.stderr.contains("permission denied"), "\(refused.stderr)")
        #expect(refused.stderr.split(separator: "\n").count == 1, "\(refused.stderr)")
        #expect(try count("SELECT count(*) FROM rejected_logins") == 21, "a refused requeue moves nothing")

        let byId = try requeue(as: piiAdmin, ["--reason", "too_many_receives", "--message-id", "rq-1", "--message-id", "rq-2", "--json"])
        #expect(byId.status == 0, "\(byId.stderr)")
        let json = try #require(try JSONSerialization.jsonObject(with: Data(byId.stdout.utf8)) as? [String: Any], "\(byId.stdout)")
        #expect(json["selected"] as? Int == 2 && json["logins"] as? Int == 2 && json["kept"] as? Int == 0, "\(byId.stdout)")
        #expect(json["reason"] as? String == "too_many_receives")

        let rest = try requeue(as: piiAdmin, ["--reason", "too_many_receives"])
        #expect(rest.status == 0, "\(rest.stderr)")
        #expect(rest.stdout.contains("19 quarantined message(s) of reason too_many_receives taken: 18 became logins, 0 rejected again, 1 kept"),
                "\(rest.stdout)")
        #expect(try count("SELECT count(*) FROM user_logins WHERE message_id LIKE 'rq-%'") == 20)
        #expect(try count("SELECT count(*) FROM rejected_logins WHERE reason = 'too_many_receives'") == 1, "the body that is not JSON stays")
        #expect(try count("SELECT count(*) FROM loginvault.requeue_audit WHERE requeued_by = '\(piiAdmin)'") == 21)

        let again = try requeue(as: piiAdmin, ["--reason", "too_many_receives"])
        #expect(again.status == 0, "\(again.stderr)")
        #expect(again.stdout.contains("0 became logins, 0 rejected again, 1 kept"), "\(again.stdout)")
        #expect(try count("SELECT count(*) FROM user_logins") == 20, "a second requeue adds nothing")
    }

    @Test func badUsageIsExitSixtyFour() throws {
        let zero = try LoginVaultExecutable.run(["requeue", "--reason", "too_many_receives", "--limit", "0"])
        #expect(zero.status == 64)
        #expect(zero.stderr.contains("--limit must be a positive integer"), "\(zero.stderr)")
        let noReason = try LoginVaultExecutable.run(["requeue"])
        #expect(noReason.status == 64)
        #expect(noReason.stderr.contains("--reason"), "\(noReason.stderr)")
    }
}
