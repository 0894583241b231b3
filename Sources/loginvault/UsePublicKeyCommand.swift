import ArgumentParser
import Foundation
import Postgres

/// `loginvault use-public-key`: the install-time choice of the public-key
/// originals mode (`loginvault.use_public_key`, sql/definitions/15_public_key.sql).
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
            new public key to rotate the key pair (old rows keep needing the old private key). \
            The key must be an RSA or Elgamal encryption key (pgcrypto does not do ECC). Never \
            give it the private key.

            Exit codes: 0 done; 1 error (not an armored public key, data already encrypted, \
            permission); 64 bad usage.

            Examples:
              gpg --quick-generate-key 'loginvault PII <pii@example.com>' rsa3072 encrypt never
              gpg --armor --export pii@example.com > loginvault-public.asc
              loginvault use-public-key --key-file loginvault-public.asc
            """
    )

    @OptionGroup var database: DatabaseOptions

    @Option(name: .customLong("key-file"), help: ArgumentHelp("The ASCII-armored PGP public key; - reads standard input.", valueName: "path"))
    var keyFile: String

    func run() throws {
        do {
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
        } catch {
            throw fail(error)
        }
    }
}
