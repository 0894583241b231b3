import Foundation
import Postgres

/// The mask key file of an installation that keeps its mask key outside the database
/// (`LOGINVAULT_MASK_KEY_FILE`: one hex key per line; two during a mask-key rotation).
///
/// Its content reaches the processing session by COPY into the session's temp table
/// `loginvault_mask_key` (COPY data is never written to the server log, unlike a bind parameter
/// or SQL text), and `loginvault.supply_mask_keys()` keeps, for the session, each key whose
/// fingerprint is a mask key version of the installation; a file with no such key is refused
/// (sql/definitions/15_mask_keys.sql). The loader does not look at the keys: it moves the bytes.
public struct MaskKeyFile: Sendable {
    /// The environment variable that names the file.
    public static let environmentVariable = "LOGINVAULT_MASK_KEY_FILE"
    /// Larger than any sensible key file; a guard against pointing at the wrong file.
    static let maximumSize = 64 * 1024

    public let path: String

    public init(path: String) {
        self.path = path
    }

    /// The file named by `LOGINVAULT_MASK_KEY_FILE`, if set and not empty.
    public static func fromEnvironment(_ environment: [String: String] = ProcessInfo.processInfo.environment) -> MaskKeyFile? {
        guard let path = environment[environmentVariable], !path.isEmpty else { return nil }
        return MaskKeyFile(path: path)
    }

    /// Reads the file and supplies its keys to the session of `connection`.
    public func supply(to connection: PostgresConnection) throws {
        guard let data = FileManager.default.contents(atPath: path) else {
            throw MaskKeyFileError(message: "cannot read the mask key file \(path) (\(Self.environmentVariable))")
        }
        guard data.count <= Self.maximumSize, let text = String(data: data, encoding: .utf8) else {
            throw MaskKeyFileError(message: "the mask key file \(path) (\(Self.environmentVariable)) is not a text file of hex keys, one per line")
        }
        try connection.runScript("""
            SET client_min_messages = warning;
            DROP TABLE IF EXISTS pg_temp.loginvault_mask_key;
            CREATE TEMP TABLE loginvault_mask_key (key_hex text);
            RESET client_min_messages;
            """)
        _ = try connection.copyIn("COPY pg_temp.loginvault_mask_key (key_hex) FROM STDIN WITH (FORMAT binary)", format: .binary) { writer in
            try writer.beginRow(fieldCount: 1)
            writer.append(text)
        }
        _ = try connection.query("SELECT loginvault.supply_mask_keys()")
    }
}

/// The mask key file cannot be used (missing, unreadable, not text).
public struct MaskKeyFileError: Error, CustomStringConvertible, Sendable {
    public let message: String
    public var description: String { message }
}
