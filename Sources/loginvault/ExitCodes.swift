import ArgumentParser
import Foundation
import LoginVault
import Postgres
import SQS

/// Exit codes scripts can rely on.
enum ExitCodes {
    /// A database, file or SQL error (the message says which).
    static let failure = ExitCode(1)
    /// Applied migrations differ from their files; nothing was applied.
    static let drift = ExitCode(2)
    /// `migrate status --check`: migrations are pending.
    static let pending = ExitCode(3)
    /// `load`: the database stayed unreachable.
    static let databaseUnavailable = ExitCode(4)
    /// `load`: the queue failed or refused.
    static let queueUnavailable = ExitCode(5)
}

/// Reports an error on standard error and turns it into an exit code.
func fail(_ error: Error) -> ExitCode {
    let message: String
    switch error {
    case let error as MigrationError: message = error.description
    case let error as PostgresError: message = error.description
    default: message = String(describing: error)
    }
    FileHandle.standardError.write(Data("loginvault: \(message)\n".utf8))
    switch error {
    case MigrationError.drift: return ExitCodes.drift
    case LoadError.databaseUnavailable: return ExitCodes.databaseUnavailable
    case LoadError.queueUnavailable, is SQSError, is SQSConfigurationError: return ExitCodes.queueUnavailable
    default: return ExitCodes.failure
    }
}
