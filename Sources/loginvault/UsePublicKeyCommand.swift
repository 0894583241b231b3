import ArgumentParser
import Foundation
import Postgres

/// `loginvault use-public-key`: the install-time choice of the public-key
/// originals mode (`loginvault.use_public_key`, sql/definitions/15_public_key.sql),
/// key-pair rotation, the re-wrapping of a retired pair's batch keys to the current pair
/// (`CALL loginvault.rewrap_public_key`, sql/definitions/84_key_pair_rewrap.sql), and the list
/// and removal of retired pairs (`loginvault.public_key_pairs`, `loginvault.remove_public_key`).
struct UsePublicKeyCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "use-public-key",
        abstract: "Encrypt originals to a PGP public key from now on: the public-key mode (owner).",
        discussion: """
            Runs SELECT loginvault.use_public_key(<the armored key>) as the schema owner. \
            Afterwards every processing batch gets a fresh random data key that is stored only \
            encrypted to this public key; the database can no longer decrypt originals or \
            quarantined bodies, and neither can anyone with a backup, dump or replica of it. \
            Reveals need the private key (loginvault reveal --private-key-file).

            Choose it on a new installation, after migrate and before the first load: it is \
            refused once anything was encrypted under the symmetric data key. Run again with a \
            new public key to rotate the key pair: new rows are encrypted to the new pair, old \
            rows stay under the old pair. Then --rewrap with the OLD pair's private key \
            (--private-key-file, never on the command line; sent as COPY data, as reveal does) \
            re-encrypts each of its batch keys to the current public key, in committed batches \
            (one decryption per batch key; the rows themselves are not touched), after which \
            reveals and rotate-mask-key need only the new private key. Run it again to finish a \
            run that stopped. Without --rewrap, the old pair is needed until retention or \
            erasure removes its rows. --list shows each pair and what it still encrypts; \
            --remove deletes a retired pair that encrypts nothing any more, after which its \
            private key can be destroyed. \
            The key must be an RSA or Elgamal encryption key (pgcrypto does not do ECC). Never \
            give it the private key.

            Exit codes: 0 done; 1 error (not an armored public key, data already encrypted, \
            a pair still in use, a private key of no retired pair or that does not open its \
            keys, permission); 64 bad usage.

            Examples:
              gpg --quick-generate-key 'loginvault PII <pii@example.com>' rsa3072 encrypt never
              gpg --armor --export pii@example.com > loginvault-public.asc
              loginvault use-public-key --key-file loginvault-public.asc
              loginvault use-public-key --key-file loginvault-public-2027.asc   # rotate
              loginvault use-public-key --rewrap --private-key-file loginvault-private-2026.asc --key-passphrase-file ~/.pii-pass-2026
              loginvault use-public-key --list
              loginvault use-public-key --remove 1
            """
    )

    @OptionGroup var database: DatabaseOptions

    @Option(name: .customLong("key-file"), help: ArgumentHelp("The ASCII-armored PGP public key; - reads standard input.", valueName: "path"))
    var keyFile: String?

    @Flag(help: "List the key pairs: current or retired, and how many originals and rejects each still encrypts.")
    var list = false

    @Option(help: ArgumentHelp("Remove a retired key pair that encrypts nothing any more (its public_key_id, from --list).", valueName: "id"))
    var remove: Int?

    @Flag(help: "Re-encrypt the batch keys of the retired pair whose private key --private-key-file gives to the current public key.")
    var rewrap = false

    @OptionGroup var privateKey: PrivateKeyOptions

    @Option(name: .customLong("batch-size"), help: ArgumentHelp("With --rewrap: batch keys re-wrapped per committed batch.", valueName: "n"))
    var batchSize = 1_000

    func validate() throws {
        if [keyFile != nil, list, remove != nil, rewrap].filter({ $0 }).count != 1 {
            throw ValidationError("give exactly one of --key-file PATH, --list, --remove ID or --rewrap")
        }
        if rewrap && privateKey.privateKeyFile == nil {
            throw ValidationError("--rewrap needs --private-key-file: the private key of the retired pair to re-wrap from")
        }
        if !rewrap && privateKey.privateKeyFile != nil {
            throw ValidationError("--private-key-file goes with --rewrap only")
        }
        if batchSize < 1 { throw ValidationError("--batch-size must be a positive integer") }
    }

    func run() throws {
        do {
            if rewrap {
                try runRewrap()
                return
            }
            if list || remove != nil {
                let connection = try database.connect()
                defer { connection.close() }
                if let remove {
                    let deleted = try connection.query("SELECT loginvault.remove_public_key($1::integer)", [.int(remove)]).first?[0].int ?? 0
                    print("key pair \(remove) removed, with its \(deleted) unused wrapped batch keys; its private key opens nothing here any more")
                } else {
                    for line in try Self.pairs(connection) { print(line) }
                }
                return
            }
            guard let keyFile else { return }
            let armored = try PrivateKeyOptions.readLines(keyFile, what: "public key").joined(separator: "\n")
            if armored.contains("-----BEGIN PGP PRIVATE KEY BLOCK-----") {
                throw RevealError("\(keyFile) holds a PRIVATE key: give the database only the public key (gpg --armor --export)")
            }
            let connection = try database.connect()
            defer { connection.close() }
            let id = try connection.query("SELECT loginvault.use_public_key($1)", [.text(armored)]).first?[0].int ?? 0
            let pgpKeyId = try connection.query("SELECT pgp_key_id FROM loginvault.public_keys WHERE public_key_id = $1",
                                                [.int(id)]).first?[0].string ?? "?"
            print("originals are now encrypted to PGP key \(pgpKeyId) (public key \(id)); keep its private key outside the database")
            let older = try Self.pairs(connection, retiredInUseOnly: true)
            if !older.isEmpty {
                print("retired key pairs still needed (re-wrap them with --rewrap --private-key-file OLD.asc, or keep their private keys until nothing uses them; then --remove ID):")
                for line in older { print(line) }
            }
        } catch {
            throw fail(error)
        }
    }

    /// `--rewrap`: the old private key into this session's temporary tables (COPY), then
    /// `CALL loginvault.rewrap_public_key` (it identifies the pair, refuses a wrong key before
    /// anything changes, and commits between batches).
    private func runRewrap() throws {
        guard let secret = try privateKey.read() else { return }
        let connection = try database.connect()
        defer { connection.close() }
        try PrivateKeyOptions.supply(secret, to: connection)
        let row = try connection.query("CALL loginvault.rewrap_public_key($1::integer, NULL, NULL, NULL)", [.int(batchSize)]).first
        PrivateKeyOptions.remove(from: connection)
        let (from, to, moved) = (row?["from_public_key_id"].int ?? 0, row?["to_public_key_id"].int ?? 0, row?["moved"].int ?? 0)
        print("\(moved) batch keys re-wrapped from key pair \(from) to the current key pair \(to); rows were not touched")
        print("key pair \(from) encrypts nothing any more: remove it with loginvault use-public-key --remove \(from), then destroy its private key")
        for line in try Self.pairs(connection) { print(line) }
    }

    /// One line per key pair of `loginvault.public_key_pairs()` (only the retired ones still in use if asked).
    static func pairs(_ connection: PostgresConnection, retiredInUseOnly: Bool = false) throws -> [String] {
        try connection.query("""
            SELECT public_key_id, pgp_key_id, current, in_use, originals, rejects, to_char(created_at, 'YYYY-MM-DD') AS created
              FROM loginvault.public_key_pairs()
             WHERE NOT $1 OR (NOT current AND in_use)
             ORDER BY public_key_id
            """, [.bool(retiredInUseOnly)]).rows.map { row in
            let state = row["current"].bool == true ? "current" : row["in_use"].bool == true ? "retired, in use" : "retired, unused: can be removed"
            return "  \(row["public_key_id"].int ?? 0)  PGP key \(row["pgp_key_id"].string ?? "?")  created \(row["created"].string ?? "?")  "
                + "\(state)  originals \(row["originals"].int ?? 0)  rejects \(row["rejects"].int ?? 0)"
        }
    }
}
