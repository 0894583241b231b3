import Crypto
import Foundation

/// One versioned SQL file under `sql/migrations/`, e.g. `0002_masking.sql`:
/// version 2, description "masking".
public struct Migration: Sendable, Equatable {
    public let version: Int
    public let description: String
    public let fileName: String
    /// The file's text, run as one script inside one transaction.
    public let sql: String
    /// The SHA-256 of the file's bytes, lowercase hex: what drift detection compares.
    public let checksum: String

    public init(version: Int, description: String, fileName: String, contents: Data) throws {
        guard let sql = String(data: contents, encoding: .utf8) else {
            throw MigrationError.invalidFile(fileName, "is not valid UTF-8")
        }
        self.version = version
        self.description = description
        self.fileName = fileName
        self.sql = sql
        self.checksum = SHA256.hash(data: contents).map { String(format: "%02x", $0) }.joined()
    }

    /// `0001` for version 1: the width the files use.
    public var paddedVersion: String { String(format: "%04d", version) }
}
