import Foundation
import LoginVault
import Postgres
import TestSupport
import Testing

/// Issue 17, sections 1 and 2 together, on private clusters with production logging
/// (ProductionLoggingCluster: log_statement = all, bind parameters in full, auto_explain of
/// every nested statement):
///   * `loginvault rotate-mask-key` in the public-key mode: refused without the private key
///     or with one that does not open the originals (nothing begins); with it, every login is
///     re-masked, duplicate detection is the same before and after, and the server log holds
///     neither the private key, nor its passphrase, nor any unwrapped batch key, nor a mask key;
///   * one installation with every protection on (originals encrypted to a public key, the
///     mask key held outside the database, rotated once to a new key held outside with
///     `rotate-mask-key --new-mask-key-file`): a `pg_dump` taken as the owner and restored into
///     a fresh cluster decrypts no original with anything in it, and no mask can be recomputed
///     (the mask key is not in it); with the private key the originals come back.
@Suite("Security: mask-key rotation in public-key mode; a dump with every protection on", .enabled(if: Integration.postgres))
struct MaskRotationPublicKeyTests {
    typealias KeyPair = PublicKeyOriginalsTests.KeyPair

    /// Every encoding of a mask key a log or a dump could hold (the key as hex).
    static func encodings(hex: String) -> [String] {
        let bytes = stride(from: 0, to: hex.count, by: 2).compactMap { offset -> UInt8? in
            let start = hex.index(hex.startIndex, offsetBy: offset)
            return UInt8(hex[start..<hex.index(start, offsetBy: 2)], radix: 16)
        }
        return [hex.lowercased(), hex.uppercased(), Data(bytes).base64EncodedString()]
    }

    /// For each pair of logins, whether their ip masks and their device masks are equal:
    /// what analysts' duplicate detection sees.
    static func duplicatePattern(_ database: PostgresConnection) throws -> [String] {
        try database.query("""
            SELECT a.login_id || '-' || b.login_id || ':' || (a.masked_ip = b.masked_ip)::text || '/'
                   || (a.masked_device_id IS NOT DISTINCT FROM b.masked_device_id)::text
              FROM user_logins a JOIN user_logins b ON a.login_id < b.login_id ORDER BY a.login_id, b.login_id
            """).rows.compactMap { $0[0].string }
    }

    @Test func aRotationInPublicKeyModeKeepsDuplicatesAndLeavesNoKeyInTheLog() async throws {
        let installation = try PublicKeyOriginalsTests.Installation()
        defer { installation.destroy() }
        let (keys, production, database, connectionString) = (installation.keys, installation.production, installation.database,
                                                              installation.connectionString)
        let load = try LoginVaultExecutable.run(["load", "--from-file", LoadFixture.samplePath,
                                                 "--database", connectionString, "--log-level", "warning"])
        #expect(load.status == 0, "\(load.stderr)")
        // Three more logins with the ip and device id of sample messages (staged by COPY, as the
        // loader stages): pairs that duplicate detection must keep finding.
        let sample = try JSONSerialization.jsonObject(with: Data(contentsOf: URL(fileURLWithPath: LoadFixture.samplePath))) as? [[String: Any]] ?? []
        try database.copyIn("COPY raw_logins (message_id, body) FROM STDIN WITH (FORMAT binary)", format: .binary) { writer in
            for (n, message) in sample.prefix(3).enumerated() {
                let body = try JSONSerialization.data(withJSONObject: ["user_id": "again-\(n)", "ip": message["ip"] ?? "", "device_id": message["device_id"] ?? ""])
                try writer.beginRow(fieldCount: 2)
                writer.append("again-\(n)")
                writer.append(bytes: [1] + Array(body))  // jsonb's binary form: version 1, then the text
            }
        }
        try database.query("CALL process_raw_logins()")
        func count(_ sql: String) throws -> Int { try database.query(sql).first?[0].int ?? -1 }
        #expect(try count("SELECT count(*) FROM user_logins") == 102)
        #expect(try count("SELECT count(DISTINCT key_id) FROM loginvault.user_login_originals") >= 2, "the logins are under several batch keys")
        let before = try Self.duplicatePattern(database)
        #expect(before.filter { $0.hasSuffix(":true/true") }.count >= 3, "control: the duplicates are found before the rotation")
        let oldMaskKey = try #require(try database.query("SELECT encode(key_bytes, 'hex') FROM loginvault.mask_keys WHERE state = 'active'").first?[0].string)
        let oldMasks = try database.query("SELECT masked_ip FROM user_logins").rows.compactMap { $0[0].string }

        // Without the private key, and with the key but not its passphrase: nothing begins.
        let inProgress = "SELECT count(*) FROM loginvault.mask_keys WHERE state = 'next'"
        let noKey = try LoginVaultExecutable.run(["rotate-mask-key", "--database", connectionString])
        #expect(noKey.status == 1 && noKey.stderr.contains("re-masking needs its private key")
                && noKey.stderr.contains("--private-key-file"), "\(noKey.stderr)")
        #expect(try count(inProgress) == 0)
        let noPassphrase = try LoginVaultExecutable.run(["rotate-mask-key", "--private-key-file", keys.privateKey.path, "--database", connectionString])
        #expect(noPassphrase.status == 1 && noPassphrase.stderr.contains("does not open"), "\(noPassphrase.stderr)")
        #expect(try count(inProgress) == 0)

        // With it (the key on standard input, the passphrase from a file), in batches of 10.
        let rotated = try LoginVaultExecutable.run(["rotate-mask-key", "--private-key-file", "-", "--key-passphrase-file", keys.passphraseFile.path,
                                                    "--batch-size", "10", "--database", connectionString],
                                                   stdin: try Data(contentsOf: keys.privateKey))
        #expect(rotated.status == 0 && rotated.stdout.contains("mask key version 2 is active (was 1)"), "\(rotated.stdout) \(rotated.stderr)")
        #expect(try Self.duplicatePattern(database) == before, "every pair of logins is a duplicate after the rotation exactly when it was before")
        let newMasks = try database.query("SELECT masked_ip FROM user_logins").rows.compactMap { $0[0].string }
        #expect(Set(newMasks).isDisjoint(with: oldMasks), "no mask from before the rotation is left")
        let newMaskKey = try #require(try database.query("SELECT encode(key_bytes, 'hex') FROM loginvault.mask_keys WHERE state = 'active'").first?[0].string)

        // The server log, read before anything below sends the private key as a parameter.
        let log = try production.log()
        #expect(log.contains("CALL loginvault.rotate_mask_key($1::integer, $2::boolean)"), "control: log_statement logged the rotation")
        #expect(log.contains("COPY pg_temp.loginvault_private_key"), "control: the COPY statement was logged (its data is not)")
        #expect(log.contains("Query Text:") && log.contains("remask_batch"), "control: auto_explain logged the nested statements")
        let privateKey = try String(contentsOf: keys.privateKey, encoding: .utf8)
        let batchPassphrases = try database.query(
            "SELECT loginvault.originals_passphrase(w.key_id, loginvault.dearmor($1), $2) FROM loginvault.wrapped_keys w",
            [.text(privateKey), .text(PublicKeyOriginalsTests.passphrase)]).rows.compactMap { $0[0].string }
        #expect(batchPassphrases.count >= 2 && batchPassphrases.allSatisfy { $0.count == 64 })
        let publicArmor = try String(contentsOf: keys.publicKey, encoding: .utf8)
        let secrets = try keys.privateKeyLines.filter { !publicArmor.contains($0) } + [PublicKeyOriginalsTests.passphrase]
        #expect(secrets.count > 20)
        #expect(SamplePII.found(secrets, in: log).isEmpty, "the private key or its passphrase is in the server log")
        #expect(SamplePII.found(batchPassphrases + batchPassphrases.map { $0.uppercased() }, in: log).isEmpty, "a batch key is in the server log")
        let maskKeyNeedles = Self.encodings(hex: oldMaskKey) + Self.encodings(hex: newMaskKey)
        #expect(SamplePII.found(maskKeyNeedles, in: log).isEmpty, "a mask key is in the server log")
        #expect(SamplePII.found(try SamplePII.values, in: log).isEmpty, "an original is in the server log")

        // Every mask is the HMAC under the new key of the login's originals (opened here with the private key).
        let wrong = try database.query("""
            SELECT count(*) FILTER (WHERE u.masked_ip IS DISTINCT FROM loginvault.mask('ip', loginvault.canonical_ip(d.v->>'ip'), loginvault.mask_key())
                                     OR u.masked_device_id IS DISTINCT FROM loginvault.mask('device_id', nullif(loginvault.trim_ws(d.v->>'device_id'), ''), loginvault.mask_key())),
                   count(*)
              FROM user_logins u JOIN loginvault.user_login_originals o USING (login_id),
                   LATERAL (SELECT loginvault.decrypt(o.originals, loginvault.originals_passphrase(o.key_id, loginvault.dearmor($1), $2))::jsonb AS v) d
            """, [.text(privateKey), .text(PublicKeyOriginalsTests.passphrase)]).first
        #expect(wrong?[1].int == 102 && wrong?[0].int == 0, "every login re-masked under the new key: \(String(describing: wrong))")
        SecurityFigures.record(test: #function, kind: .security, checks: secrets.count + batchPassphrases.count * 2 + maskKeyNeedles.count,
                               what: "private key, passphrase, batch key and mask key encodings absent from a production log of a public-key mask rotation")
    }

    @Test func aDumpWithEveryProtectionOnRecoversNothingWithoutThePrivateKey() async throws {
        // One installation, both install-time choices: originals to a public key, the mask key outside.
        let installation = try PublicKeyOriginalsTests.Installation()
        defer { installation.destroy() }
        let (keys, production, database, connectionString) = (installation.keys, installation.production, installation.database,
                                                              installation.connectionString)
        let maskKey = MaskKeyOutsideTests.hex(MaskKeyOutsideTests.randomKey())
        let maskKeyFile = keys.directory.url.appendingPathComponent("mask.key")
        try (maskKey + "\n").write(to: maskKeyFile, atomically: true, encoding: .utf8)
        try database.runScript("CREATE TEMP TABLE loginvault_mask_key (key_hex text)")
        _ = try database.copyIn("COPY loginvault_mask_key FROM STDIN") { writer in try writer.writeRow([maskKey]) }
        #expect(try database.query("SELECT loginvault.hold_mask_key_outside()").first?[0].int == 1)
        let load = try LoginVaultExecutable.run(["load", "--from-file", LoadFixture.samplePath, "--database", connectionString, "--log-level", "warning"],
                                                environment: [MaskKeyFile.environmentVariable: maskKeyFile.path])
        #expect(load.status == 0, "\(load.stderr)")
        let logins = try database.query("SELECT count(*) FROM user_logins").first?[0].int ?? 0
        #expect(logins == 99)
        #expect(try database.query("SELECT count(*) FROM loginvault.mask_keys WHERE key_bytes IS NOT NULL").first?[0].int == 0)
        #expect(try database.query("SELECT count(*) FROM loginvault.keys").first?[0].int == 0, "no data key and no mask key stored")

        // A rotation to a new key held outside, as an operator runs it: the new key added to the
        // loaders' key file first; without the private key nothing begins; with it, version 2.
        let oldMaskKey = maskKey
        let newMaskKey = MaskKeyOutsideTests.hex(MaskKeyOutsideTests.randomKey())
        let newMaskKeyFile = keys.directory.url.appendingPathComponent("new-mask.key")
        try (newMaskKey + "\n").write(to: newMaskKeyFile, atomically: true, encoding: .utf8)
        try (oldMaskKey + "\n" + newMaskKey + "\n").write(to: maskKeyFile, atomically: true, encoding: .utf8)
        let environment = [MaskKeyFile.environmentVariable: maskKeyFile.path]
        let refused = try LoginVaultExecutable.run(["rotate-mask-key", "--new-mask-key-file", newMaskKeyFile.path, "--database", connectionString],
                                                   environment: environment)
        #expect(refused.status == 1 && refused.stderr.contains("re-masking needs its private key"), "\(refused.stderr)")
        #expect(try database.query("SELECT count(*) FROM loginvault.mask_keys WHERE state = 'next'").first?[0].int == 0, "nothing began")
        let rotated = try LoginVaultExecutable.run(["rotate-mask-key", "--new-mask-key-file", newMaskKeyFile.path,
                                                    "--private-key-file", keys.privateKey.path, "--key-passphrase-file", keys.passphraseFile.path,
                                                    "--database", connectionString], environment: environment)
        #expect(rotated.status == 0 && rotated.stdout.contains("mask key version 2 is active (was 1)"), "\(rotated.stdout) \(rotated.stderr)")
        try (newMaskKey + "\n").write(to: maskKeyFile, atomically: true, encoding: .utf8)  // the old line may go
        #expect(try database.query("SELECT count(*) FROM loginvault.mask_keys WHERE key_bytes IS NOT NULL").first?[0].int == 0,
                "the new key is held outside too")

        // The dump, as the owner, and its restore into a fresh cluster.
        let (dump, restoredCluster, stolenString) = try PublicKeyOriginalsTests.dumpAndRestore(connectionString, in: keys.directory)
        defer { restoredCluster.destroy() }
        #expect(dump.contains("COPY loginvault.wrapped_keys") && dump.contains("COPY loginvault.mask_keys"), "the dump has the key tables")
        let pii = try SamplePII.values
        #expect(SamplePII.found(pii, in: dump).isEmpty, "plaintext PII in pg_dump")
        #expect(SamplePII.found(Self.encodings(hex: oldMaskKey) + Self.encodings(hex: newMaskKey), in: dump).isEmpty, "a mask key is in pg_dump")
        let stolen = try PostgresConnection(stolenString)
        #expect(try stolen.query("SELECT count(*) FROM user_logins").first?[0].int == logins)

        // No original decrypts with anything in the dump.
        let decryptable = try PublicKeyOriginalsTests.tryEveryKeyInTheDump(stolen)
        #expect(decryptable.tried >= 99 && decryptable.opened == 0, "\(decryptable)")
        // No mask can be recomputed: the restored database has no mask key, and nothing in the
        // dump that could be one (fingerprint, wrapped keys, public key) turns a sample ip or
        // device id into a mask of the table. The same check with the real key finds them all.
        #expect(throws: PostgresError.self) { try stolen.query("SELECT loginvault.mask_key()") }
        let recompute = """
            WITH values AS (SELECT regexp_split_to_table($1, E'\\n') AS v),
                 masks AS (SELECT masked_ip AS m FROM user_logins UNION SELECT masked_device_id FROM user_logins)
            SELECT count(DISTINCT m.m) FROM %CANDIDATES% c, values x, masks m
             WHERE m.m IN (loginvault.mask('ip', loginvault.canonical_ip(x.v), c.k), loginvault.mask('device_id', x.v, c.k))
            """
        let candidates = """
            (SELECT fingerprint AS k FROM loginvault.mask_keys UNION ALL SELECT key_bytes FROM loginvault.mask_keys WHERE key_bytes IS NOT NULL
             UNION ALL SELECT wrapped_key FROM loginvault.wrapped_keys UNION ALL SELECT key_bytes FROM loginvault.public_keys
             UNION ALL SELECT key_bytes FROM loginvault.keys)
            """
        let values = PostgresValue.text(pii.joined(separator: "\n"))
        let fromDump = try stolen.query(recompute.replacingOccurrences(of: "%CANDIDATES%", with: candidates), [values]).first?[0].int
        #expect(fromDump == 0, "a mask recomputed from something in the dump")
        let withRealKey = try stolen.query(recompute.replacingOccurrences(of: "%CANDIDATES%", with: "(SELECT decode($2, 'hex') AS k)"),
                                           [values, .text(newMaskKey)]).first?[0].int ?? 0
        #expect(withRealKey > 100, "control: with the mask key the same check recomputes the masks (\(withRealKey))")

        // With the private key, the originals come back.
        let opened = try stolen.query("""
            SELECT count(*) FROM loginvault.user_login_originals o
             WHERE loginvault.decrypt(o.originals, loginvault.originals_passphrase(o.key_id, loginvault.dearmor($1), $2))::jsonb->>'ip'
                   = ANY (regexp_split_to_array($3, E'\\n'))
            """, [.text(try String(contentsOf: keys.privateKey, encoding: .utf8)), .text(PublicKeyOriginalsTests.passphrase), values]).first?[0].int
        #expect(opened == logins, "every original opens with the private key")
        let loginId = try #require(try stolen.query("SELECT min(login_id) FROM user_logins").first?[0].int)
        let revealed = try LoginVaultExecutable.run(["reveal", "--login-id", "\(loginId)", "--reason", "restore check", "--json",
                                                     "--private-key-file", keys.privateKey.path, "--key-passphrase-file", keys.passphraseFile.path,
                                                     "--database", stolenString])
        #expect(revealed.status == 0 && pii.contains { revealed.stdout.contains("\"ip\":\"\($0)\"") }, "\(revealed.stdout) \(revealed.stderr)")

        // And the production log of the installation holds no mask key and no original.
        let log = try production.log()
        #expect(SamplePII.found(Self.encodings(hex: oldMaskKey) + Self.encodings(hex: newMaskKey) + pii, in: log).isEmpty,
                "a mask key or an original in the server log")
        SecurityFigures.record(test: #function, kind: .security, checks: decryptable.tried,
                               what: "key candidates x ciphertexts of a restored pg_dump with public-key originals and the mask key outside; none decrypts, no mask recomputes")
    }
}
