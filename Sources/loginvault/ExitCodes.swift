import ArgumentParser
import Foundation
import LoginVault
import Postgres
import SQS

/// Exit codes scripts can rely on (the README's tables list them per command).
enum ExitCodes {
    /// A configuration, database, file or SQL error (the message says which).
    static let failure = ExitCode(1)
    /// Applied migrations differ from their files; nothing was applied.
    static let drift = ExitCode(2)
    /// `migrate status --check`: migrations are pending.
    static let pending = ExitCode(3)
    /// `load`: the database stayed unreachable.
    static let databaseUnavailable = ExitCode(4)
    /// `load`: the queue failed or refused.
    static let queueUnavailable = ExitCode(5)
    /// `load`: more was rejected as not JSON than `--max-reject-ratio` allows.
    static let tooManyRejects = ExitCode(6)
}

/// A pre-flight check failed: nothing was received; the line says what to do.
struct PreflightFailure: Error, CustomStringConvertible {
    let result: CheckResult
    let exitCode: ExitCode
    var description: String { result.line }
}

/// The one line an error is reported as.
func describe(_ error: any Error) -> String {
    switch error {
    case let error as MigrationError: return error.description
    case let error as PostgresError: return error.kind == .query || error.kind == .copy ? error.oneLine : error.description
    default: return String(describing: error)
    }
}

/// Reports an error on standard error and turns it into an exit code.
func fail(_ error: any Error) -> ExitCode {
    StandardError.write("loginvault: \(describe(error))\n")
    switch error {
    case let error as PreflightFailure: return error.exitCode
    case MigrationError.drift, MigrationError.forgetNeedsConsent: return ExitCodes.drift
    case LoadError.databaseUnavailable: return ExitCodes.databaseUnavailable
    case LoadError.tooManyRejects: return ExitCodes.tooManyRejects
    case LoadError.queueUnavailable, is SQSError: return ExitCodes.queueUnavailable
    default: return ExitCodes.failure
    }
}
