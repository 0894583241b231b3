import Foundation
import LoginVault
import Postgres
import TestSupport
import Testing

/// Issue 17, sections 1 and 4: the public-key originals mode and the reveal that
/// cannot be hidden, on a private cluster with production logging (log_statement =
/// all, bind parameters in full, auto_explain of every nested statement).
///   * a `pg_dump` taken as the owner holds no sample ip or device id, and restored
///     into a fresh cluster nothing in it decrypts an original; with the private key
///     (`loginvault reveal`) it does;
///   * `loginvault reveal` with the private key and its passphrase from files leaves
///     neither in the server log, nor the revealed values;
///   * a reveal commits its audit before it decrypts: inside a transaction block it
///     refuses; a reveal without a committed audit row is refused; the chain verifies,
///     and a changed row breaks it.
@Suite("Security: public-key originals, audited reveals, dump and restore", .enabled(if: Integration.postgres))
struct PublicKeyOriginalsTests {
    static let passphrase = "pk-test-passphrase-\(UUID().uuidString.prefix(8))"

    /// An RSA key pair made by gpg --batch, with a passphrase; the armored keys as files.
    struct KeyPair {
        let directory: TemporaryDirectory
        var publicKey: URL { directory.url.appendingPathComponent("public.asc") }
        var privateKey: URL { directory.url.appendingPathComponent("private.asc") }
        var passphraseFile: URL { directory.url.appendingPathComponent("passphrase.txt") }

        static func generate() throws -> KeyPair {
            let directory = try TemporaryDirectory("gpg")
            let home = directory.url.appendingPathComponent("home").path
            try FileManager.default.createDirectory(atPath: home, withIntermediateDirectories: true,
                                                    attributes: [.posixPermissions: 0o700])
            let parameters = directory.url.appendingPathComponent("parameters")
            try """
                Key-Type: RSA
                Key-Length: 2048
                Subkey-Type: RSA
                Subkey-Length: 2048
                Name-Real: loginvault test
                Name-Email: pii@example.invalid
                Expire-Date: 0
                Passphrase: \(passphrase)
                %commit

                """.write(to: parameters, atomically: true, encoding: .utf8)
            let gpg = ["gpg", "--batch", "--homedir", home]
            let made = try Tool.run(gpg + ["--gen-key", parameters.path])
            guard made.status == 0 else { throw ToolError(description: "gpg --gen-key: \(made.stderr)") }
            let pair = KeyPair(directory: directory)
            let exported = try Tool.run(gpg + ["--armor", "--export", "pii@example.invalid"])
            let secret = try Tool.run(gpg + ["--pinentry-mode", "loopback", "--passphrase", passphrase,
                                             "--armor", "--export-secret-keys", "pii@example.invalid"])
            guard exported.status == 0, secret.status == 0 else {
                throw ToolError(description: "gpg --export: \(exported.stderr) \(secret.stderr)")
            }
            try exported.stdout.write(to: pair.publicKey, atomically: true, encoding: .utf8)
            try secret.stdout.write(to: pair.privateKey, atomically: true, encoding: .utf8)
            try "\(passphrase)\n".write(to: pair.passphraseFile, atomically: true, encoding: .utf8)
            return pair
        }

        /// Lines of the private key's armored body: what to search the log for.
        var privateKeyLines: [String] {
            get throws {
                try String(contentsOf: privateKey, encoding: .utf8).split(separator: "\n")
                    .map(String.init).filter { $0.count >= 40 && !$0.hasPrefix("-----") }
            }
        }
    }

    /// A new key pair and a production-logging cluster whose database `loginvault public-key`
    /// switched to the public-key mode; `destroy()` removes both.
    struct Installation {
        let keys: KeyPair
        let production: ProductionLoggingCluster
        let database: PostgresConnection
        var connectionString: String { production.connectionString }

        init() throws {
            keys = try KeyPair.generate()
            do {
                production = try ProductionLoggingCluster()
                database = try PostgresConnection(production.connectionString)
            } catch {
                keys.directory.remove()
                throw error
            }
            let chosen = try LoginVaultExecutable.run(["use-public-key", "--key-file", keys.publicKey.path, "--database", production.connectionString])
            #expect(chosen.status == 0 && chosen.stdout.contains("originals are now encrypted to PGP key"), "\(chosen.stdout) \(chosen.stderr)")
        }

        func destroy() {
            production.destroy()
            keys.directory.remove()
        }
    }

    static let rejectBody = #"{"user_id": 42, "ip": "203.0.113.77", "device_id": "777-77-7777"}"#

    @Test func originalsSurviveNoStolenDumpButRevealWithThePrivateKeyAndNeverReachTheLog() async throws {
        // The install-time choice (Installation), then the sample and a reject through the real path.
        let installation = try Installation()
        defer { installation.destroy() }
        let (keys, production, database, connectionString) = (installation.keys, installation.production, installation.database,
                                                              installation.connectionString)
        let refused = try LoginVaultExecutable.run(["use-public-key", "--key-file", keys.privateKey.path, "--database", connectionString])
        #expect(refused.status == 1 && refused.stderr.contains("PRIVATE key"), "a private key is refused before it is sent: \(refused.stderr)")
        #expect(try database.query("SELECT count(*) FROM loginvault.keys WHERE purpose = 'data'").first?[0].int == 0,
                "public-key mode keeps no data key")
        let load = try LoginVaultExecutable.run(["load", "--from-file", LoadFixture.samplePath,
                                                 "--database", connectionString, "--log-level", "warning"])
        #expect(load.status == 0, "\(load.stderr)")
        // A reject carrying PII, staged by COPY (a bind parameter would be logged) and
        // quarantined by the procedure.
        try database.copyIn("COPY raw_logins (message_id, body) FROM STDIN WITH (FORMAT binary)", format: .binary) { writer in
            try writer.beginRow(fieldCount: 2)
            writer.append("pk-reject")
            writer.append(bytes: [1] + Array(Self.rejectBody.utf8))  // jsonb's binary form: version 1, then the text
        }
        try database.query("CALL process_raw_logins()")
        let logins = try database.query("SELECT count(*) FROM user_logins").first?[0].int ?? 0
        #expect(logins == 99)
        let batchKeys = try database.query("SELECT count(*) FROM loginvault.wrapped_keys").first?[0].int ?? 0
        #expect(batchKeys >= 2 && batchKeys < logins, "one wrapped key per batch (and per quarantined message), not per row")

        // The owner's own database cannot decrypt: without a private key no row's key opens.
        #expect(try database.query("SELECT count(*) FROM loginvault.user_login_originals o WHERE loginvault.originals_passphrase(o.key_id, NULL, NULL) IS NOT NULL")
                    .first?[0].int == 0)

        // loginvault reveal: refused without the key, shown with it (key and passphrase from files).
        let target = try database.query("SELECT u.login_id, u.message_id FROM user_logins u ORDER BY u.login_id LIMIT 1").first
        let loginId = try #require(target?["login_id"].int)
        let sample = try JSONSerialization.jsonObject(with: Data(contentsOf: URL(fileURLWithPath: LoadFixture.samplePath))) as? [[String: Any]] ?? []
        let noKey = try LoginVaultExecutable.run(["reveal", "--login-id", "\(loginId)", "--reason", "ticket PK-1",
                                                  "--database", connectionString])
        #expect(noKey.status == 1 && noKey.stderr.contains("private key is needed"), "\(noKey.stderr)")
        let noPassphrase = try LoginVaultExecutable.run(["reveal", "--login-id", "\(loginId)", "--reason", "ticket PK-1b",
                                                         "--private-key-file", keys.privateKey.path, "--database", connectionString])
        #expect(noPassphrase.status == 1 && noPassphrase.stderr.contains("does not open"), "\(noPassphrase.stderr)")
        let revealed = try LoginVaultExecutable.run(["reveal", "--login-id", "\(loginId)", "--reason", "ticket PK-2", "--json",
                                                     "--private-key-file", keys.privateKey.path,
                                                     "--key-passphrase-file", keys.passphraseFile.path,
                                                     "--database", connectionString])
        #expect(revealed.status == 0, "\(revealed.stderr)")
        let shown = try JSONSerialization.jsonObject(with: Data(revealed.stdout.utf8)) as? [String: Any] ?? [:]
        let ip = try #require(shown["ip"] as? String)
        #expect(sample.contains { $0["ip"] as? String == ip && $0["device_id"] as? String == shown["device_id"] as? String },
                "the revealed pair is a sample message's ip and device id: \(revealed.stdout)")
        let rejected = try LoginVaultExecutable.run(["reveal", "--message-id", "pk-reject", "--reason", "ticket PK-3",
                                                     "--private-key-file", keys.privateKey.path,
                                                     "--key-passphrase-file", keys.passphraseFile.path,
                                                     "--database", connectionString])
        #expect(rejected.status == 0 && rejected.stdout.contains("777-77-7777"), "\(rejected.stdout) \(rejected.stderr)")
        let missing = try LoginVaultExecutable.run(["reveal", "--login-id", "999999", "--reason", "ticket PK-4",
                                                    "--database", connectionString])
        #expect(missing.status == 3 && missing.stderr.contains("does not exist"), "\(missing.stderr)")
        let noReason = try LoginVaultExecutable.run(["reveal", "--login-id", "\(loginId)", "--reason", " ", "--database", connectionString])
        #expect(noReason.status == 64, "\(noReason.stderr)")

        // The server log: no private key line, no passphrase, no sample ip or device id.
        let log = try production.log()
        #expect(log.contains("reveal_login"), "control: the reveal statements were logged")
        #expect(log.contains("COPY pg_temp.loginvault_private_key"), "control: the COPY statement was logged (its data is not)")
        // (A secret key export also holds the public key's material, which use_public_key's
        // bind parameter logged, rightly: only the lines not in the public key are secret.)
        let publicArmor = try String(contentsOf: keys.publicKey, encoding: .utf8)
        let secrets = try keys.privateKeyLines.filter { !publicArmor.contains($0) } + [Self.passphrase]
        #expect(secrets.count > 20)
        #expect(SamplePII.found(secrets, in: log).isEmpty, "the private key or its passphrase is in the server log")
        #expect(SamplePII.found(try SamplePII.values + ["203.0.113.77", "777-77-7777"], in: log).isEmpty,
                "an original is in the server log")

        // The audit: every CLI reveal (found or not) is a committed, chained row with its reason.
        let audit = try database.query("SELECT string_agg(reason, ',' ORDER BY chain_seq) FROM loginvault.reveal_audit WHERE reason LIKE 'ticket PK-%'")
        #expect(audit.first?[0].string == "ticket PK-1,ticket PK-1b,ticket PK-2,ticket PK-3,ticket PK-4")
        #expect(try database.query("SELECT ok FROM loginvault.verify_reveal_audit()").first?[0].bool == true)

        // The dump and the restore into a fresh cluster.
        let (dump, restoredCluster, stolenString) = try Self.dumpAndRestore(connectionString, in: keys.directory)
        defer { restoredCluster.destroy() }
        #expect(dump.contains("COPY loginvault.wrapped_keys"), "the dump has the wrapped batch keys")
        let inDump = SamplePII.found(try SamplePII.values + ["203.0.113.77", "777-77-7777"], in: dump)
        #expect(inDump.isEmpty, "plaintext PII in pg_dump: \(inDump.prefix(5))")
        let stolen = try PostgresConnection(stolenString)
        #expect(try stolen.query("SELECT count(*) FROM loginvault.user_login_originals").first?[0].int == logins)
        let decryptable = try Self.tryEveryKeyInTheDump(stolen)
        #expect(decryptable.tried > 100, "control: the candidates were tried")
        #expect(decryptable.opened == 0, "an original decrypts with something in the dump")
        let ownKeys = try stolen.query("SELECT count(*) FROM loginvault.user_login_originals o WHERE loginvault.originals_passphrase(o.key_id, NULL, NULL) IS NOT NULL")
        #expect(ownKeys.first?[0].int == 0, "the restored database's own keys open no original")

        // The batch keys themselves (unwrapped here, on the restored copy, whose log is not
        // searched) never reached the production-logging cluster's log, in hex or otherwise.
        let batchPassphrases = try stolen.query(
            "SELECT loginvault.originals_passphrase(w.key_id, loginvault.dearmor($1), $2) FROM loginvault.wrapped_keys w",
            [.text(try String(contentsOf: keys.privateKey, encoding: .utf8)), .text(Self.passphrase)]).rows.compactMap { $0[0].string }
        #expect(batchPassphrases.count == batchKeys && batchPassphrases.allSatisfy { $0.count == 64 })
        #expect(SamplePII.found(batchPassphrases + batchPassphrases.map { $0.uppercased() }, in: log).isEmpty,
                "a batch key is in the server log")

        // With the private key, the restored copy does reveal.
        let withKey = try LoginVaultExecutable.run(["reveal", "--login-id", "\(loginId)", "--reason", "restore check", "--json",
                                                    "--private-key-file", "-", "--key-passphrase-file", keys.passphraseFile.path,
                                                    "--database", stolenString],
                                                   stdin: try Data(contentsOf: keys.privateKey))
        #expect(withKey.status == 0, "\(withKey.stderr)")
        #expect(withKey.stdout.contains("\"ip\":\"\(ip)\""), "\(withKey.stdout)")
        SecurityFigures.record(test: #function, kind: .security, checks: decryptable.tried,
                               what: "key candidates x ciphertexts of a restored pg_dump in public-key mode; none decrypts")
    }

    /// `pg_dump` of a database as its owner (`--no-owner --no-privileges`), restored by psql
    /// into a new database of a new cluster: what a thief with a dump has. The caller
    /// destroys the cluster.
    static func dumpAndRestore(_ connectionString: String, in directory: TemporaryDirectory) throws
        -> (dump: String, cluster: PrivateCluster, connectionString: String) {
        let dump = try Tool.run([Tool.postgresProgram("pg_dump"), "--no-owner", "--no-privileges", "--dbname", connectionString])
        guard dump.status == 0 else { throw ToolError(description: "pg_dump: \(dump.stderr)") }
        let dumpFile = directory.url.appendingPathComponent("loginvault-\(UUID().uuidString.prefix(8)).sql")
        try dump.stdout.write(to: dumpFile, atomically: true, encoding: .utf8)
        let cluster = try PrivateCluster()
        do {
            try PostgresConnection(cluster.connectionString()).runScript("CREATE DATABASE stolen")
            let restore = try Tool.run([Tool.postgresProgram("psql"), "-qX", "-v", "ON_ERROR_STOP=1", "-d", cluster.connectionString("stolen"),
                                        "-f", dumpFile.path])
            guard restore.status == 0 else { throw ToolError(description: "restoring the dump: \(restore.stderr)") }
        } catch {
            cluster.destroy()
            throw error
        }
        return (dump.stdout, cluster, cluster.connectionString("stolen"))
    }

    /// Everything in a restored dump that could be a key (every key_bytes, as hex, base64 and
    /// escape; every wrapped key's and public key's bytes as hex), tried as the pgp passphrase
    /// of every original and every quarantined body: how many opened, of how many tried.
    static func tryEveryKeyInTheDump(_ stolen: PostgresConnection) throws -> (opened: Int, tried: Int) {
        try stolen.runScript("""
            CREATE FUNCTION pg_temp.opens(ciphertext bytea, passphrase text) RETURNS boolean LANGUAGE plpgsql AS $$
            BEGIN
              RETURN loginvault_crypto.pgp_sym_decrypt(ciphertext, passphrase) IS NOT NULL;
            EXCEPTION WHEN OTHERS THEN RETURN false;
            END $$
            """)
        let row = try stolen.query("""
            WITH candidates AS (
              SELECT encode(key_bytes, 'hex') AS p FROM loginvault.keys
              UNION ALL SELECT encode(key_bytes, 'base64') FROM loginvault.keys
              UNION ALL SELECT encode(key_bytes, 'escape') FROM loginvault.keys
              UNION ALL SELECT encode(wrapped_key, 'hex') FROM loginvault.wrapped_keys
              UNION ALL SELECT encode(key_bytes, 'hex') FROM loginvault.public_keys
            ), ciphertexts AS (
              SELECT originals AS c FROM loginvault.user_login_originals
              UNION ALL SELECT body_encrypted FROM public.rejected_logins
            )
            SELECT count(*) FILTER (WHERE pg_temp.opens(c.c, k.p)), count(*) FROM ciphertexts c CROSS JOIN candidates k
            """.replacingOccurrences(of: "\n            ", with: "\n")).first
        return (row?[0].int ?? -1, row?[1].int ?? 0)
    }

    @Test func aRevealCommitsItsAuditFirstAndTheChainShowsTampering() async throws {
        try await ScratchDatabase.with("audit_chain") { scratch in
            let database = try scratch.connect()
            try Migrator(connection: database, migrationsDirectory: Integration.repositoryRoot.appendingPathComponent("sql/migrations")).migrate()
            let load = try LoginVaultExecutable.run(["load", "--from-file", LoadFixture.samplePath,
                                                     "--database", scratch.connectionString, "--log-level", "warning"])
            #expect(load.status == 0, "\(load.stderr)")
            let loginId = try #require(try database.query("SELECT min(login_id) FROM user_logins").first?[0].int)
            func auditRows() throws -> Int { try database.query("SELECT count(*) FROM loginvault.reveal_audit").first?[0].int ?? -1 }

            // Symmetric mode: no key needed; one committed audit row per reveal.
            let shown = try LoginVaultExecutable.run(["reveal", "--login-id", "\(loginId)", "--reason", "ticket A-1",
                                                      "--database", scratch.connectionString])
            #expect(shown.status == 0 && shown.stdout.contains("ip "), "\(shown.stdout) \(shown.stderr)")
            #expect(try auditRows() == 1)

            // Inside a caller's transaction the procedure refuses before decrypting, and
            // the values never come back.
            try database.query("BEGIN")
            #expect(throws: PostgresError.self) {
                try database.query("CALL reveal_login($1::bigint, 'ticket A-2', NULL, NULL, NULL, NULL)", [.int(loginId)])
            }
            try database.query("ROLLBACK")
            // An audit row written in the caller's own transaction does not open the values.
            try database.query("BEGIN")
            let auditId = try #require(try database.query("SELECT loginvault.record_reveal('user_login', $1::bigint, NULL, 'ticket A-3')",
                                                          [.int(loginId)]).first?[0].int)
            #expect(throws: PostgresError.self) {
                try database.query("SELECT * FROM loginvault.revealed_login($1::bigint, $2::bigint, NULL, NULL)", [.int(auditId), .int(loginId)])
            }
            try database.query("ROLLBACK")
            // A reason is required.
            #expect(throws: PostgresError.self) {
                try database.query("CALL reveal_login($1::bigint, '  ', NULL, NULL, NULL, NULL)", [.int(loginId)])
            }
            // A reveal whose caller rolls back afterwards: its audit row stays.
            let before = try auditRows()
            let row = try database.query("CALL reveal_login($1::bigint, 'ticket A-4', NULL, NULL, NULL, NULL)", [.int(loginId)]).first
            #expect(row?["ip"].isNull == false || row?["device_id"].isNull == false)
            try database.query("ROLLBACK")  // nothing to roll back: the audit was committed before the values
            #expect(try auditRows() == before + 1)

            // The chain verifies; a changed row, and a removed row in the middle, are found;
            // removing the oldest rows (retention) leaves a verifiable suffix.
            for n in 0..<3 {
                _ = try database.query("CALL reveal_login($1::bigint, $2, NULL, NULL, NULL, NULL)", [.int(loginId), .text("ticket B-\(n)")])
            }
            let verified = try database.query("SELECT ok, rows_checked FROM loginvault.verify_reveal_audit()").first
            #expect(verified?["ok"].bool == true && verified?["rows_checked"].int == 5)
            try database.query("UPDATE loginvault.reveal_audit SET reason = 'nothing to see' WHERE reason = 'ticket B-1'")
            let tampered = try database.query("SELECT ok, broken_at, problem FROM loginvault.verify_reveal_audit()").first
            #expect(tampered?["ok"].bool == false)
            #expect(tampered?["broken_at"].int == 4 && tampered?["problem"].string?.contains("changed") == true, "\(String(describing: tampered))")
            try database.query("UPDATE loginvault.reveal_audit SET reason = 'ticket B-1' WHERE reason = 'nothing to see'")
            #expect(try database.query("SELECT ok FROM loginvault.verify_reveal_audit()").first?[0].bool == true)
            try database.query("DELETE FROM loginvault.reveal_audit WHERE chain_seq = 3")
            let gap = try database.query("SELECT ok, broken_at FROM loginvault.verify_reveal_audit()").first
            #expect(gap?["ok"].bool == false && gap?["broken_at"].int == 4)
            try database.query("DELETE FROM loginvault.reveal_audit WHERE chain_seq <= 3")
            let suffix = try database.query("SELECT ok, first_chain_seq FROM loginvault.verify_reveal_audit()").first
            #expect(suffix?["ok"].bool == true && suffix?["first_chain_seq"].int == 4, "retention removes the oldest rows: the rest verifies")
        }
    }
}
