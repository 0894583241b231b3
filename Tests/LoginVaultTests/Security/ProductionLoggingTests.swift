import Foundation
import LoginVault
import Postgres
import SQS
import TestSupport
import Testing

/// Issue 13, section 4: with the logging a DBA turns on in production (every statement,
/// every duration, bind parameters in full, auto_explain of every nested statement with
/// verbose, analysed plans), the server log receives no original ip or device id and
/// no key, in any encoding. The sample and the hostile corpus go through SQS and
/// `loginvault load` (with poison messages), then a rotation, a purge and reveals.
@Suite("Security: no PII and no key in a production server log", .enabled(if: Integration.postgres && Integration.sqs))
struct ProductionLoggingTests {
    /// Original ips and device ids of the hostile corpus: every string value of an `ip` or
    /// `device_id` key in a body, at least 7 characters long (a shorter one, such as "1",
    /// occurs in any log), and every IPv4 literal in a body.
    static func corpusPII() throws -> [String] {
        var values = Set<String>()
        let ipv4 = try Regex(#"[0-9]{1,3}\.[0-9]{1,3}\.[0-9]{1,3}\.[0-9]{1,3}"#)
        let field = try Regex(#""(?:ip|device_id)"\s*:\s*"([^"\\]{7,})""#)
        for hostile in try HostileCorpus.load() {
            for match in hostile.body.matches(of: ipv4) { values.insert(String(hostile.body[match.range])) }
            for match in hostile.body.matches(of: field) {
                if let value = match.output[1].substring { values.insert(String(value)) }
            }
        }
        values.remove("127.0.0.1")  // the server's own address is in the log for other reasons
        return values.filter { $0.count >= 7 }.sorted()
    }

    @Test func theServerLogHoldsNoOriginalAndNoKey() async throws {
        let production = try ProductionLoggingCluster()
        defer { production.destroy() }
        let connectionString = production.connectionString
        let database = try PostgresConnection(connectionString)

        // The sample and the hostile corpus, through a moto queue.
        let endpoint = try Integration.variable("LOGINVAULT_TEST_SQS_ENDPOINT")
        let environment = LoadFixture.awsEnvironment(endpoint)
        let client = SQSClient(configuration: try await SQSConfiguration.resolve(environment: environment))
        let queueName = "lv-logging-\(UInt32.random(in: 0...UInt32.max))"
        let queueURL = try await client.createQueue(name: queueName)
        let hostile = try HostileCorpus.load().filter { !$0.realSQSRefuses }.map(\.body)
        let bodies = try LoadFixture.sampleBodies + hostile
        var pending: [String] = []
        for body in bodies {
            if pending.count == 10 || pending.reduce(0, { $0 + $1.utf8.count }) + body.utf8.count > 200_000 {
                _ = try await client.sendMessageBatch(queueURL: queueURL, bodies: pending)
                pending = []
            }
            pending.append(body)
        }
        if !pending.isEmpty { _ = try await client.sendMessageBatch(queueURL: queueURL, bodies: pending) }
        // Poison: some messages received twice (and not deleted) before the loader sees them.
        for _ in 0..<2 {
            _ = try await client.receiveMessages(queueURL: queueURL, maxMessages: 5, waitTimeSeconds: 1, visibilityTimeout: 0)
        }
        let loadEnvironment = environment.mapValues { Optional($0) }.merging(["AWS_PROFILE": nil, "AWS_ENDPOINT_URL": nil]) { $1 }
        let load = try LoginVaultExecutable.run(["load", "--queue", queueName, "--database", connectionString,
                                                 "--max-receives", "1", "--log-level", "warning"], environment: loadEnvironment)
        #expect(load.status == 0, "\(load.stderr)")
        _ = try? await client.purgeQueue(queueURL: queueURL)
        try? await client.shutdown()

        // A batch whose message id is NULL (a broken producer, a file replay) breaks
        // raw_logins' NOT NULL: that error's DETAIL ("Failing row contains ...") would
        // quote the body. Staged as the loader stages, by COPY, and then judged.
        let brokenBody = #"{"user_id": "u-null-id", "ip": "198.51.100.213", "device_id": "null-id-device-4242"}"#
        try database.runScript("""
            BEGIN;
            CREATE TEMP TABLE loginvault_incoming (message_id text, body bytea, sent_at timestamptz, receive_count integer) ON COMMIT DROP
            """)
        try database.copyIn("COPY pg_temp.loginvault_incoming FROM STDIN") { writer in
            try writer.writeRow([nil, "\\x" + brokenBody.utf8.map { String(format: "%02x", $0) }.joined(), nil, "1"])
        }
        _ = try? database.query("SELECT * FROM stage_incoming_logins(3)")
        try database.runScript("ROLLBACK")

        func count(_ sql: String) throws -> Int { try database.query(sql).first?[0].int ?? -1 }
        #expect(try count("SELECT count(*) FROM user_logins") >= 99)
        #expect(try count("SELECT count(*) FROM rejected_logins WHERE reason = 'too_many_receives'") >= 1, "poison messages were quarantined")
        #expect(try count("SELECT count(*) FROM rejected_logins WHERE reason = 'invalid_json'") >= 1, "bodies that are not JSON were quarantined")

        // A rotation, a purge and reveals, as a DBA and a PII admin run them.
        // Every encoding of every key (read here as query results, never sent as parameters):
        // hex (bytea output, and the pgp passphrase; both cases), base64, escape.
        let encodings = "SELECT encode(key_bytes, 'hex'), upper(encode(key_bytes, 'hex')), encode(key_bytes, 'base64'), encode(key_bytes, 'escape') FROM (SELECT key_bytes FROM loginvault.keys UNION ALL SELECT key_bytes FROM loginvault.mask_keys WHERE key_bytes IS NOT NULL) k"
        func keyEncodings() throws -> [String] { try database.query(encodings).rows.flatMap { row in (0..<4).compactMap { row[$0].string } } }
        let keysBefore = try keyEncodings()
        try database.runScript("CALL loginvault.rotate_data_key()")
        #expect(try count("SELECT loginvault.purge_unused_data_keys()") >= 1)
        let keyNeedles = Array(Set(try keysBefore + keyEncodings()))
        #expect(keyNeedles.count >= 3 * 4, "the mask key, the purged data key and the new one, four encodings each")
        // The reveal path (70_reveal.sql): one CALL per row, each committing its audit row first.
        let revealed = try database.query("SELECT login_id FROM user_logins ORDER BY login_id LIMIT 5").rows.compactMap { $0[0].int }
            .filter { try database.query("CALL reveal_login($1, 'production logging test', NULL, NULL, NULL, NULL)", [.int($0)]).first?["ip"].string != nil }
        #expect(revealed.count == 5)
        let revealedRejects = try database.query("SELECT message_id FROM rejected_logins ORDER BY reject_id LIMIT 5").rows.compactMap { $0[0].string }
            .filter { try database.query("CALL reveal_rejected($1, 'production logging test', NULL, NULL, NULL)", [.text($0)]).first?["body"].string != nil }
        #expect(revealedRejects.count == 5)

        let pii = try SamplePII.values + Self.corpusPII() + ["198.51.100.213", "null-id-device-4242"]
        #expect(pii.count > 198, "the sample's 198 values and the corpus's")

        let log = try production.log()
        // The log is the one asked for: statements, bind parameters and nested plans are in it.
        #expect(log.contains("statement: CALL loginvault.rotate_data_key()"), "log_statement = 'all' is on")
        #expect(log.contains("parameters: $1 = "), "bind parameters are logged")
        #expect(log.contains("Query Text:") && log.contains("process_login_batch"), "auto_explain logs the nested statements")
        #expect(log.contains("Output:"), "auto_explain's plans are verbose")
        let leakedPII = SamplePII.found(pii, in: log)
        let leakedKeys = SamplePII.found(keyNeedles, in: log)
        #expect(leakedPII.isEmpty, "\(leakedPII.count) of \(pii.count) original values in the server log, e.g. \(leakedPII.prefix(5))")
        #expect(leakedKeys.isEmpty, "\(leakedKeys.count) key encodings in the server log")
        SecurityFigures.record(test: #function, kind: .security, checks: pii.count + keyNeedles.count,
                               what: "ips, device ids and key encodings absent from a server log with log_statement=all and auto_explain")
    }
}
