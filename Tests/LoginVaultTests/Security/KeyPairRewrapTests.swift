import Foundation
import LoginVault
import Postgres
import TestSupport
import Testing

/// Issue 17, section 1: key-pair rotation that re-wraps (sql/definitions/84_key_pair_rewrap.sql),
/// through the real commands on a private cluster with production logging
/// (ProductionLoggingCluster: log_statement = all, bind parameters in full, auto_explain of every
/// nested statement):
///   * before the rewrap, rows are under two pairs and `rotate-mask-key` with only the new
///     private key is refused (the control);
///   * `use-public-key --rewrap` refuses the current pair's key and the old key without its
///     passphrase, changing nothing; with the old key it moves every batch key of the old pair
///     to the current one, in committed batches, and says so;
///   * afterwards `--list` shows the old pair unused, `rotate-mask-key` and `reveal` of an old
///     row work with only the new private key, and `--remove` deletes the old pair;
///   * the server log holds neither private key, nor the passphrase, nor any unwrapped batch key;
///   * the race with a writer that read the old pair as current before the rotation and writes
///     its batch key after it (made deterministic: the writer's transaction is held open): the
///     rewrap waits for it, so no batch key is left under the old pair.
@Suite("Security: key-pair rotation that re-wraps the old batch keys", .enabled(if: Integration.postgres))
struct KeyPairRewrapTests {
    @Test func aRewrapMovesEveryBatchKeyToTheNewPairAndLeavesNoKeyInTheLog() async throws {
        let installation = try PublicKeyOriginalsTests.Installation()
        defer { installation.destroy() }
        let second = try PublicKeyOriginalsTests.KeyPair.generate()
        defer { second.directory.remove() }
        let (old, production, database, connectionString) = (installation.keys, installation.production, installation.database,
                                                             installation.connectionString)
        func cli(_ arguments: [String]) throws -> LoginVaultExecutable.Outcome {
            try LoginVaultExecutable.run(arguments + ["--database", connectionString])
        }
        func load(_ lines: [String]) throws {
            let file = try ErasureAndKeyPairsTests.messages(lines)
            defer { file.remove() }
            let loaded = try cli(["load", "--from-file", file.url.appendingPathComponent("messages.jsonl").path, "--log-level", "warning"])
            #expect(loaded.status == 0, "\(loaded.stderr)")
        }
        func count(_ sql: String) throws -> Int { try database.query(sql).first?[0].int ?? -1 }

        // Rows under the first pair: the sample, then two small loads (more batch keys).
        let sample = try cli(["load", "--from-file", LoadFixture.samplePath, "--log-level", "warning"])
        #expect(sample.status == 0, "\(sample.stderr)")
        try load([#"{"user_id":"rw-u1","ip":"203.0.113.41","device_id":"rw-dev-1"}"#])
        try load([#"{"user_id":"rw-u2","ip":"203.0.113.42","device_id":"rw-dev-2"}"#,
                  #"{"user_id": "rw-u2", "ip": "203.0.113.43", broken"#])
        let oldKeys = try count("SELECT count(*) FROM loginvault.wrapped_keys WHERE public_key_id = 1")
        #expect(oldKeys >= 3, "several batch keys under the first pair (\(oldKeys))")

        // Rotation to the second pair; rows under it too.
        let rotated = try cli(["use-public-key", "--key-file", second.publicKey.path])
        #expect(rotated.status == 0 && rotated.stdout.contains("retired key pairs still needed"), "\(rotated.stdout) \(rotated.stderr)")
        try load([#"{"user_id":"rw-u3","ip":"203.0.113.44","device_id":"rw-dev-3"}"#])
        #expect(try count("SELECT count(*) FROM loginvault.wrapped_keys WHERE public_key_id = 2") == 1)
        let originalsBefore = try database.query("SELECT login_id, key_id, md5(originals) FROM loginvault.user_login_originals ORDER BY login_id")
            .rows.map { "\($0[0].int ?? -1) \($0[1].int ?? -1) \($0[2].string ?? "")" }
        let newKeyOnly = ["--private-key-file", second.privateKey.path, "--key-passphrase-file", second.passphraseFile.path]

        // The control: the new private key alone cannot re-mask while rows are under the old pair.
        let notYet = try cli(["rotate-mask-key"] + newKeyOnly)
        #expect(notYet.status == 1 && notYet.stderr.contains("does not open"), "\(notYet.stdout) \(notYet.stderr)")

        let help = try LoginVaultExecutable.run(["use-public-key", "--help"])
        #expect(help.status == 0 && help.stdout.contains("Examples:") && help.stdout.contains("use-public-key --rewrap --private-key-file"),
                "--help shows the rewrap with an example: \(help.stdout)")

        // Refusals change nothing.
        let usage = try cli(["use-public-key", "--rewrap"])
        #expect(usage.status == 64 && usage.stderr.contains("--rewrap needs --private-key-file"), "\(usage.stderr)")
        let current = try cli(["use-public-key", "--rewrap"] + newKeyOnly)
        #expect(current.status == 1 && current.stderr.contains("is the current key pair's"), "\(current.stderr)")
        let noPassphrase = try cli(["use-public-key", "--rewrap", "--private-key-file", old.privateKey.path])
        #expect(noPassphrase.status == 1 && noPassphrase.stderr.contains("does not open its batch keys"), "\(noPassphrase.stderr)")
        #expect(try count("SELECT count(*) FROM loginvault.wrapped_keys WHERE public_key_id = 1") == oldKeys, "nothing moved")

        // The rewrap: the old key on standard input, in batches of 2.
        let rewrapped = try LoginVaultExecutable.run(["use-public-key", "--rewrap", "--private-key-file", "-",
                                                      "--key-passphrase-file", old.passphraseFile.path, "--batch-size", "2",
                                                      "--database", connectionString],
                                                     stdin: try Data(contentsOf: old.privateKey))
        #expect(rewrapped.status == 0 && rewrapped.stdout.contains("\(oldKeys) batch keys re-wrapped from key pair 1 to the current key pair 2")
                && rewrapped.stdout.contains("--remove 1"), "\(rewrapped.stdout) \(rewrapped.stderr)")
        #expect(try count("SELECT count(*) FROM loginvault.wrapped_keys WHERE public_key_id = 1") == 0)
        let again = try LoginVaultExecutable.run(["use-public-key", "--rewrap", "--private-key-file", old.privateKey.path,
                                                  "--key-passphrase-file", old.passphraseFile.path, "--database", connectionString])
        #expect(again.status == 0 && again.stdout.contains("0 batch keys re-wrapped"), "a rerun is no error: \(again.stdout) \(again.stderr)")
        let listed = try cli(["use-public-key", "--list"])
        #expect(listed.stdout.contains("  1  PGP key") && listed.stdout.contains("retired, unused: can be removed"), "\(listed.stdout)")
        let originalsAfter = try database.query("SELECT login_id, key_id, md5(originals) FROM loginvault.user_login_originals ORDER BY login_id")
            .rows.map { "\($0[0].int ?? -1) \($0[1].int ?? -1) \($0[2].string ?? "")" }
        #expect(originalsAfter == originalsBefore, "the rows themselves are untouched")

        // Now the new private key alone re-masks every login, and reveals an old one.
        let remasked = try cli(["rotate-mask-key", "--batch-size", "10"] + newKeyOnly)
        #expect(remasked.status == 0 && remasked.stdout.contains("mask key version 2 is active (was 1)"), "\(remasked.stdout) \(remasked.stderr)")
        let oldLogin = try #require(try database.query("SELECT min(login_id) FROM user_logins").first?[0].int)
        let revealed = try cli(["reveal", "--login-id", "\(oldLogin)", "--reason", "ticket RW-1"] + newKeyOnly)
        #expect(revealed.status == 0, "an old row reveals with the new private key: \(revealed.stdout) \(revealed.stderr)")

        // The server log, read before anything below sends a private key as a parameter.
        let log = try production.log()
        #expect(log.contains("CALL loginvault.rewrap_public_key($1::integer, NULL, NULL, NULL)"), "control: log_statement logged the rewrap")
        #expect(log.contains("COPY pg_temp.loginvault_private_key"), "control: the COPY statement was logged (its data is not)")
        #expect(log.contains("Query Text:") && log.contains("rewrap_batch"), "control: auto_explain logged the nested statements")
        let newPrivateKey = try String(contentsOf: second.privateKey, encoding: .utf8)
        let batchPassphrases = try database.query(
            "SELECT loginvault.originals_passphrase(w.key_id, loginvault.dearmor($1), $2) FROM loginvault.wrapped_keys w",
            [.text(newPrivateKey), .text(PublicKeyOriginalsTests.passphrase)]).rows.compactMap { $0[0].string }
        #expect(batchPassphrases.count == oldKeys + 1 && batchPassphrases.allSatisfy { $0.count == 64 })
        let publicArmor = try String(contentsOf: old.publicKey, encoding: .utf8) + String(contentsOf: second.publicKey, encoding: .utf8)
        let secrets = try (old.privateKeyLines + second.privateKeyLines).filter { !publicArmor.contains($0) } + [PublicKeyOriginalsTests.passphrase]
        #expect(secrets.count > 40)
        #expect(SamplePII.found(secrets, in: log).isEmpty, "a private key or its passphrase is in the server log")
        #expect(SamplePII.found(batchPassphrases + batchPassphrases.map { $0.uppercased() }, in: log).isEmpty, "a batch key is in the server log")
        #expect(SamplePII.found(try SamplePII.values, in: log).isEmpty, "an original is in the server log")

        // The old pair goes; its private key opens nothing here any more.
        let removed = try cli(["use-public-key", "--remove", "1"])
        #expect(removed.status == 0, "\(removed.stdout) \(removed.stderr)")
        #expect(try count("SELECT count(*) FROM loginvault.public_keys") == 1)
        SecurityFigures.record(test: #function, kind: .security, checks: secrets.count + batchPassphrases.count * 2,
                               what: "private keys, passphrase and batch key encodings absent from a production log of a key-pair rewrap")
    }

    @Test func aRewrapWaitsForAWriterThatStillHoldsTheOldPair() async throws {
        let first = try PublicKeyOriginalsTests.KeyPair.generate()
        let second = try PublicKeyOriginalsTests.KeyPair.generate()
        defer { first.directory.remove(); second.directory.remove() }
        try await ScratchDatabase.with("rewrap_race") { scratch in
            let database = try scratch.connect()
            try Migrator(connection: database, migrationsDirectory: Integration.repositoryRoot.appendingPathComponent("sql/migrations")).migrate()
            let connection = ["--database", scratch.connectionString]
            #expect(try LoginVaultExecutable.run(["use-public-key", "--key-file", first.publicKey.path] + connection).status == 0)
            let file = try ErasureAndKeyPairsTests.messages([#"{"user_id":"rr-u1","ip":"203.0.113.51","device_id":"rr-dev-1"}"#])
            defer { file.remove() }
            let loaded = try LoginVaultExecutable.run(["load", "--from-file", file.url.appendingPathComponent("messages.jsonl").path,
                                                      "--log-level", "warning"] + connection)
            #expect(loaded.status == 0, "\(loaded.stderr)")

            // A writer (as a processing batch or a quarantine begins) takes the current pair, 1 ...
            let writer = try scratch.connect()
            try writer.runScript("BEGIN")
            let taken = try #require(try writer.query("SELECT key_id, public_key_id FROM loginvault.originals_key_for_writing()").first)
            #expect(taken["public_key_id"].int == 1)
            // ... the pair is rotated meanwhile, and the rewrap of pair 1 starts.
            #expect(try LoginVaultExecutable.run(["use-public-key", "--key-file", second.publicKey.path] + connection).status == 0)
            let rewrap = try LoginVaultExecutable.start(["use-public-key", "--rewrap", "--private-key-file", first.privateKey.path,
                                                         "--key-passphrase-file", first.passphraseFile.path] + connection)
            let waited = try await LockWait.sessionWaits(database, queryContaining: "rewrap_public_key")
            #expect(waited, "the rewrap waits for the writer that still holds the old pair")
            // The writer wraps its batch key to the pair it took, and commits.
            try writer.query("INSERT INTO loginvault.wrapped_keys (key_id, public_key_id, wrapped_key) SELECT $1::integer, $2::integer, loginvault.wrap_key('rr-batch-key', $2::integer)",
                             [.int(taken["key_id"].int ?? 0), .int(1)])
            try writer.runScript("COMMIT")
            let outcome = await rewrap.finished()
            #expect(outcome.status == 0 && outcome.stdout.contains("2 batch keys re-wrapped from key pair 1"), "\(outcome.stdout) \(outcome.stderr)")
            #expect(try database.query("SELECT count(*) FROM loginvault.wrapped_keys WHERE public_key_id = 1").first?[0].int == 0,
                    "no batch key is left under the old pair")
            let removed = try LoginVaultExecutable.run(["use-public-key", "--remove", "1"] + connection)
            #expect(removed.status == 0, "\(removed.stdout) \(removed.stderr)")
        }
    }
}
