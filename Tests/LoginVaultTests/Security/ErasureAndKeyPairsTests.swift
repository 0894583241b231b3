import Foundation
import LoginVault
import Postgres
import TestSupport
import Testing

/// Issue 17: erasure in the public-key mode, and key-pair rotation, through the real
/// commands (`loginvault use-public-key`, `load --from-file`, `reveal`):
///   * after a rotation, the retired pair is listed as still needed, and
///     `use-public-key --remove` refuses it while rows are under it;
///   * `forget_user` leaves no ciphertext of the user that either private key opens
///     (logins, a reject judged by processing, a body the loader quarantined at staging,
///     rows under both pairs), and `loginvault reveal` of an erased login finds nothing;
///   * once retention has removed the old pair's rows, `--list` shows it unused and
///     `--remove` deletes it.
@Suite("Security: erasure in the public-key mode, key-pair rotation", .enabled(if: Integration.postgres))
struct ErasureAndKeyPairsTests {
    static let userValues = ["203.0.113.11", "203.0.113.12", "er-dev-u1", "203.0.113.13", "203.0.113.19", "er-dev-staged", "203.0.113.21", "er-u1"]

    static func messages(_ lines: [String]) throws -> TemporaryDirectory {
        let directory = try TemporaryDirectory("erasure-messages")
        try (lines.joined(separator: "\n") + "\n").write(to: directory.url.appendingPathComponent("messages.jsonl"), atomically: true, encoding: .utf8)
        return directory
    }

    @Test func erasureLeavesNothingEitherPrivateKeyOpensAndRetiredPairsGoOnceUnused() async throws {
        let first = try PublicKeyOriginalsTests.KeyPair.generate()
        let second = try PublicKeyOriginalsTests.KeyPair.generate()
        try await ScratchDatabase.with("erasure_pk") { scratch in
            let database = try scratch.connect()
            try Migrator(connection: database, migrationsDirectory: Integration.repositoryRoot.appendingPathComponent("sql/migrations")).migrate()
            let connection = ["--database", scratch.connectionString]
            func cli(_ arguments: [String]) throws -> LoginVaultExecutable.Outcome {
                try LoginVaultExecutable.run(arguments + connection)
            }
            func load(_ lines: [String]) throws {
                let file = try Self.messages(lines)
                let loaded = try cli(["load", "--from-file", file.url.appendingPathComponent("messages.jsonl").path, "--log-level", "warning"])
                #expect(loaded.status == 0, "\(loaded.stderr)")
            }

            #expect(try cli(["use-public-key", "--key-file", first.publicKey.path]).status == 0)
            try load([
                #"{"user_id":"er-u1","ip":"203.0.113.11","device_id":"er-dev-u1"}"#,
                #"{"user_id":"er-u1","ip":"203.0.113.12","device_id":"er-dev-u1"}"#,
                #"{"user_id":"er-u2","ip":"203.0.113.31","device_id":"er-dev-u2"}"#,
                #"{"user_id":"er-u1","ip":"203.0.113.13-not-an-ip"}"#,
                #"{"user_id": "er-u1", "ip": "203.0.113.19", "device_id": "er-dev-staged", broken"#,
            ])
            #expect(try database.query("SELECT string_agg(reason, ',' ORDER BY reason) FROM rejected_logins").first?[0].string
                        == "invalid_ip,invalid_json", "one reject judged by processing, one quarantined by the loader at staging")

            // Rotation: the first pair is retired but still needed.
            let rotated = try cli(["use-public-key", "--key-file", second.publicKey.path])
            #expect(rotated.status == 0, "\(rotated.stderr)")
            #expect(rotated.stdout.contains("retired key pairs still needed") && rotated.stdout.contains("  1  PGP key")
                    && rotated.stdout.contains("originals 3  rejects 2"), "\(rotated.stdout)")
            try load([#"{"user_id":"er-u1","ip":"203.0.113.21","device_id":"er-dev-u1"}"#,
                      #"{"user_id":"er-u2","ip":"203.0.113.22","device_id":"er-dev-u2"}"#])
            let refused = try cli(["use-public-key", "--remove", "1"])
            #expect(refused.status == 1 && refused.stderr.contains("still encrypts 3 originals and 2 quarantined bodies"), "\(refused.stdout) \(refused.stderr)")

            // Every plaintext either private key recovers from the database (a wrong pair: NULL).
            try database.runScript("""
                CREATE FUNCTION pg_temp.opens(c bytea, k integer, sec text, pass text) RETURNS text LANGUAGE plpgsql AS $$
                BEGIN RETURN loginvault.decrypt(c, loginvault.originals_passphrase(k, loginvault.dearmor(sec), pass));
                EXCEPTION WHEN OTHERS THEN RETURN NULL; END $$;
                """)
            func recoverable() throws -> [String] {
                var found: Set<String> = []
                for pair in [first, second] {
                    let secret = try String(contentsOf: pair.privateKey, encoding: .utf8)
                    let plain = try database.query("""
                        SELECT pg_temp.opens(originals, key_id, $1, $2) FROM loginvault.user_login_originals
                        UNION ALL SELECT pg_temp.opens(body_encrypted, key_id, $1, $2) FROM rejected_logins
                        """, [.text(secret), .text(PublicKeyOriginalsTests.passphrase)]).rows.compactMap { $0[0].string }
                    found.formUnion(Self.userValues.filter { value in plain.contains { $0.contains(value) } })
                }
                return found.sorted()
            }
            #expect(try recoverable() == Self.userValues.sorted(), "control: before the erasure both keys together recover every value of er-u1")
            let erasedLogin = try #require(try database.query("SELECT min(login_id) FROM user_logins WHERE user_id = 'er-u1'").first?[0].int)

            let erased = try database.query("SELECT logins, originals, rejects, staged FROM forget_user('er-u1', 'erasure request ER-1')").first
            #expect(erased?["logins"].int == 3 && erased?["originals"].int == 3 && erased?["rejects"].int == 2 && erased?["staged"].int == 0)
            #expect(try recoverable() == [], "after the erasure neither private key recovers a value of er-u1")
            #expect(try database.query("SELECT count(*) FROM user_logins WHERE user_id = 'er-u2'").first?[0].int == 2, "the other user's logins stay")

            let reveal = try cli(["reveal", "--login-id", "\(erasedLogin)", "--reason", "ticket ER-2",
                                  "--private-key-file", first.privateKey.path, "--key-passphrase-file", first.passphraseFile.path])
            #expect(reveal.status == 3, "an erased login reveals nothing: \(reveal.stdout) \(reveal.stderr)")

            // Retention removes the rest of the old pair's rows; then it can go.
            try database.runScript("""
                DELETE FROM user_logins u USING loginvault.user_login_originals o, loginvault.wrapped_keys w
                 WHERE o.login_id = u.login_id AND w.key_id = o.key_id AND w.public_key_id = 1;
                """)
            let listed = try cli(["use-public-key", "--list"])
            #expect(listed.status == 0 && listed.stdout.contains("retired, unused: can be removed") && listed.stdout.contains("current"),
                    "\(listed.stdout) \(listed.stderr)")
            let removed = try cli(["use-public-key", "--remove", "1"])
            let pairsNow = try database.query("SELECT * FROM loginvault.public_key_pairs()").rows.map { "\($0["public_key_id"].int ?? -1) \($0["originals"].int ?? -1) \($0["rejects"].int ?? -1)" }
            #expect(removed.status == 0 && removed.stdout.contains("key pair 1 removed"), "\(removed.stdout) \(removed.stderr) \(pairsNow)")
            #expect(try database.query("SELECT count(*) FROM loginvault.public_keys").first?[0].int == 1)
            let usage = try cli(["use-public-key", "--key-file", first.publicKey.path, "--list"])
            #expect(usage.status == 64, "exactly one of --key-file, --list, --remove")
        }
    }
}
