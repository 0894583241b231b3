import Foundation

/// One versioned SQL file under `sql/migrations/`, e.g. `0002_masking.sql`:
/// version 2, description "masking".
public struct Migration: Sendable, Equatable {
    public let version: Int
    public let description: String
    public let fileName: String
    /// The file's text, run as one script inside one transaction.
    public let sql: String
    /// The SHA-256 of the file's SQL without comments (`SQLText.withoutComments`),
    /// lowercase hex: what drift detection compares. Correcting a comment is
    /// not drift; changing a statement is.
    public let checksum: String
    /// The SHA-256 of the file's bytes: what `migrate` recorded before it
    /// ignored comments. A history row holding it (or one of
    /// `LegacyChecksums`) is accepted and upgraded to `checksum`.
    public let fullTextChecksum: String

    public init(version: Int, description: String, fileName: String, contents: Data) throws {
        guard let sql = String(data: contents, encoding: .utf8) else {
            throw MigrationError.invalidFile(fileName, "is not valid UTF-8")
        }
        self.version = version
        self.description = description
        self.fileName = fileName
        self.sql = sql
        self.checksum = SQLText.checksum(sql)
        self.fullTextChecksum = SQLText.checksum(bytes: contents)
    }

    /// `0001` for version 1: the width the files use.
    public var paddedVersion: String { String(format: "%04d", version) }

    /// Whether a checksum found in the history stands for this file's SQL:
    /// today's checksum, or the full-text checksum an older `migrate` recorded,
    /// of this file or of its version before its comments were corrected.
    func matches(recorded: String) -> Bool {
        recorded == checksum || isLegacy(recorded: recorded)
    }

    /// A full-text checksum from before checksums ignored comments, or the
    /// checksum of a superseded version of the file (`LegacyChecksums.superseded`).
    func isLegacy(recorded: String) -> Bool {
        recorded != checksum
            && (recorded == fullTextChecksum || LegacyChecksums.fullText[version] == recorded
                || LegacyChecksums.superseded[version] == recorded)
    }
}

/// Checksums (without comments) of applied migrations whose SQL changed
/// later in a way that cannot differ for any database that applied the old
/// SQL: 0001 refused when pgcrypto was installed outside schema `loginvault`
/// and installed it there otherwise; since issue 13 it accepts pgcrypto
/// elsewhere and installs it into `loginvault_crypto` (0020 moves an install
/// the old 0001 made), so a database that applied the old 0001 ends the same.
/// Accepted like a legacy checksum and upgraded to today's.
extension LegacyChecksums {
    static let superseded: [Int: String] = [
        1: "0ee6ed575d06578ca3ee9a18f5ad9f509b743a50177bd8ccb3140e942f7b6d69",
    ]
}

/// The full-text SHA-256 that `migrate` recorded for 0001-0018 before it
/// ignored comments (the files as of commit 6c5a496). Their comments were
/// corrected since, their SQL was not (Tests/upgrade/upgrade_equals_fresh.sh
/// applies the old files and then migrates with today's: no drift).
enum LegacyChecksums {
    static let fullText: [Int: String] = [
        1: "7abbeca407c7011bce1da1d480c2205e0f13f1eef780345fa41433d0b04949c6",
        2: "e7ede42bf9a274e367effa9da2bfffa7e47822405ce44d7460b48430a4dd0a3c",
        3: "897d87bbecb5dd8996daa82559f13b7a0a222149e9eda1f8c2d01757b677aacc",
        4: "ea90399aad8b0c7a14713496e9b2fa128b2d87605c6e683948285015ff02ae8d",
        5: "0d83396348d8f8c96f4ddac1b171fb75c9dccbe3f6e01c34e7a3dbee9a66ac47",
        6: "c21806111b39a8bf8807bcf81a9e8d0d0fbd336c53b18bb2f8ded3542a6252c3",
        7: "5892f1e09cfef03bbaf28c9dc3d24ff7e517b25bfd274061a4adccc022f21dea",
        8: "27db398ada6c805f4d0cb5ce21f156b6fcd13e6015b1c77de007f23157ab03bf",
        9: "25b141dda5e5aa7ef454f73da2159b6843de47fa284f6e349d94bbc18dd6514e",
        10: "2c57d1b2315e3975ea5585f2d26a482094e65e597f872c8d6bad40581351545e",
        11: "8ede36e8aad376e08529a1bddcb48dc5c4ccc025a82fcd0974448e09daba6f6e",
        12: "0632051be41737405994f6a7d7afefedc2e0c434d66cf73eac142eb629845beb",
        13: "f75cca48e36235d1eef3adf4ee8b8e83a069e608077e1c7332760bfd7f89dd38",
        14: "463a5349b7b40992ffa5bccf3e499f0a7670b096d23d76d42f77a4df721fb939",
        15: "89a9f064f53c68c6eb1e4b9e39a9bbfeb8005227b58563df44876e46d07e4e9d",
        16: "58abb6d8f323908af5c31ced383ff30f6c85cc772745866e51db79e2dc0abd90",
        17: "11804fc7e8c7cc33489531e52683ab52c750daf7bb86f58cef45341e6da15573",
        18: "2fa7306adb2276dbe500d7654a4a2c21566e9e6b9a1df9262f2a9f4a1369b6ab",
    ]
}

/// One file of current definitions under `sql/definitions/`, e.g.
/// `50_processing.sql`: functions, procedures, views and grants, written so
/// that applying the file again replaces them (CREATE OR REPLACE, GRANT).
/// `migrate` applies them after the versioned migrations, in file-name order.
public struct Definition: Sendable, Equatable {
    public let fileName: String
    public let sql: String
    /// As `Migration.checksum`: the SQL without comments.
    public let checksum: String

    public init(fileName: String, contents: Data) throws {
        guard let sql = String(data: contents, encoding: .utf8) else {
            throw MigrationError.invalidFile(fileName, "is not valid UTF-8")
        }
        self.fileName = fileName
        self.sql = sql
        self.checksum = SQLText.checksum(sql)
    }
}
