import Foundation
import LoginVault
import Postgres
import SQS
import TestSupport
import Testing

/// Issue 17, section 2: a mask key held outside the database. `loginvault load` reads it
/// from `LOGINVAULT_MASK_KEY_FILE` and hands it to its processing session by COPY; the
/// database stores only its fingerprint. With production logging (log_statement = all,
/// bind parameters in full, auto_explain of every nested statement), the key never reaches
/// the server log, a `pg_dump` of the database holds no mask key, and a wrong key file is
/// refused before anything is received.
@Suite("Security: a mask key held outside the database", .enabled(if: Integration.postgres && Integration.sqs))
struct MaskKeyOutsideTests {
    static func randomKey() -> [UInt8] { (0..<32).map { _ in UInt8.random(in: 0...255) } }
    static func hex(_ bytes: [UInt8]) -> String { bytes.map { String(format: "%02x", $0) }.joined() }
    /// Every encoding of a key a log or a dump could hold: hex in both cases (also
    /// PostgreSQL's bytea output, `\x` + hex), base64.
    static func encodings(_ key: [UInt8]) -> [String] {
        [hex(key), hex(key).uppercased(), Data(key).base64EncodedString()]
    }

    @Test func theKeyIsNeitherInTheServerLogNorInADumpAndAWrongKeyIsRefused() async throws {
        let production = try ProductionLoggingCluster()
        defer { production.destroy() }
        let connectionString = production.connectionString
        let database = try PostgresConnection(connectionString)
        let storedKey = try database.query("SELECT encode(key_bytes, 'hex') FROM loginvault.mask_keys WHERE state = 'active'").first?[0].string
        #expect(storedKey?.count == 64, "migrate generated a stored mask key")

        // The install-time choice, as a DBA makes it in psql (\copy is a COPY ... FROM STDIN).
        let key = Self.randomKey(), wrongKey = Self.randomKey()
        let directory = try TemporaryDirectory("lv-mask-key")
        defer { directory.remove() }
        let keyFile = directory.url.appendingPathComponent("mask.key")
        let wrongKeyFile = directory.url.appendingPathComponent("wrong.key")
        try (Self.hex(key) + "\n").write(to: keyFile, atomically: true, encoding: .utf8)
        try (Self.hex(wrongKey) + "\n").write(to: wrongKeyFile, atomically: true, encoding: .utf8)
        try database.runScript("CREATE TEMP TABLE loginvault_mask_key (key_hex text)")
        _ = try database.copyIn("COPY loginvault_mask_key FROM STDIN") { writer in try writer.writeRow([Self.hex(key)]) }
        #expect(try database.query("SELECT loginvault.hold_mask_key_outside()").first?[0].int == 1)

        // The sample, through a moto queue.
        let endpoint = try Integration.variable("LOGINVAULT_TEST_SQS_ENDPOINT")
        let environment = LoadFixture.awsEnvironment(endpoint)
        let client = SQSClient(configuration: try await SQSConfiguration.resolve(environment: environment))
        let queueName = "lv-mask-key-\(UInt32.random(in: 0...UInt32.max))"
        let queueURL = try await client.createQueue(name: queueName)
        let bodies = try LoadFixture.sampleBodies
        for start in stride(from: 0, to: bodies.count, by: 10) {
            _ = try await client.sendMessageBatch(queueURL: queueURL, bodies: Array(bodies[start..<min(start + 10, bodies.count)]))
        }
        let loadEnvironment = environment.mapValues { Optional($0) }.merging(["AWS_PROFILE": nil, "AWS_ENDPOINT_URL": nil]) { $1 }
        func load(keyFile: URL) async throws -> LoginVaultExecutable.Outcome {
            try await LoginVaultExecutable.runDetached(
                ["load", "--queue", queueName, "--database", connectionString, "--log-level", "warning"],
                environment: loadEnvironment.merging([MaskKeyFile.environmentVariable: keyFile.path]) { $1 })
        }

        // A wrong key file: refused before anything is received.
        let refused = try await load(keyFile: wrongKeyFile)
        #expect(refused.status != 0)
        #expect(refused.stderr.contains("no key given is a mask key of this installation"), "\(refused.stderr)")
        func count(_ sql: String) throws -> Int { try database.query(sql).first?[0].int ?? -1 }
        #expect(try count("SELECT count(*) FROM raw_logins") + count("SELECT count(*) FROM user_logins") == 0,
                "nothing was received with the wrong key")

        let loaded = try await load(keyFile: keyFile)
        #expect(loaded.status == 0, "\(loaded.stderr)")
        #expect(try count("SELECT count(*) FROM user_logins") == 99)
        _ = try? await client.purgeQueue(queueURL: queueURL)
        try? await client.shutdown()

        // The server log, read before anything below could add to it.
        let log = try production.log()
        #expect(log.contains(": SELECT loginvault.supply_mask_keys()"), "log_statement = 'all' logged the loader's statements")
        #expect(log.contains("COPY pg_temp.loginvault_mask_key"), "the COPY statement (not its data) is logged")
        #expect(log.contains("Query Text:") && log.contains("process_login_batch"), "auto_explain logged the nested statements")
        let needles = Self.encodings(key) + Self.encodings(wrongKey)
        let inLog = SamplePII.found(needles, in: log)
        #expect(inLog.isEmpty, "\(inLog.count) encodings of the mask keys in the server log")

        // A dump as the owner: no mask key in any encoding, only the fingerprint.
        let dump = try Tool.run([Tool.postgresProgram("pg_dump"), "--no-owner", "--dbname", connectionString])
        #expect(dump.status == 0, "pg_dump failed: \(dump.stderr)")
        #expect(dump.stdout.contains("COPY loginvault.mask_keys"), "the dump covers the mask keys table")
        let inDump = SamplePII.found(needles + [storedKey ?? "(none)"], in: dump.stdout)
        #expect(inDump.isEmpty, "\(inDump.count) mask key encodings in pg_dump (the generated key included)")

        // The masks are the keyed HMACs under the key held outside (the key supplied by COPY here too).
        try database.runScript("CREATE TEMP TABLE loginvault_mask_key (key_hex text)")
        _ = try database.copyIn("COPY loginvault_mask_key FROM STDIN") { writer in try writer.writeRow([Self.hex(key)]) }
        _ = try database.query("SELECT loginvault.supply_mask_keys()")
        let masked = try count("SELECT count(*) FROM user_logins WHERE masked_ip IS NOT NULL")
        #expect(masked > 0)
        #expect(try count("""
            SELECT count(*) FROM user_logins u JOIN loginvault.user_login_originals o USING (login_id)
             WHERE u.masked_ip = loginvault.mask('ip', loginvault.canonical_ip(loginvault.trim_ws(
                                   loginvault.decrypt(o.originals, loginvault.originals_passphrase(o.key_id, NULL, NULL))::jsonb->>'ip')),
                                                 loginvault.mask_key())
            """) == masked, "every ip mask is the HMAC under the key held outside")
        SecurityFigures.record(test: #function, kind: .security, checks: needles.count * 2,
                               what: "mask key encodings absent from a production server log and from pg_dump (key held outside)")
    }
}
