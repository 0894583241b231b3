import ArgumentParser
import Foundation
import Logging
import LoginVault
import Synchronization

/// `--log-level` and `--log-format`: how much loginvault logs to standard error, and how.
struct LoggingOptions: ParsableArguments {
    /// `text`: swift-log's plain lines. `json`: one JSON object per line (`JSONLogHandler`).
    enum Format: String, ExpressibleByArgument, CaseIterable {
        case text, json
    }

    @Option(name: .long, help: ArgumentHelp(
        "How much to log on standard error.",
        valueName: "level"))
    var logLevel: Logger.Level = .info

    @Option(name: .long, help: ArgumentHelp(
        "text (default) or json: one JSON object per line with timestamp, level, logger, message and metadata.",
        discussion: "Default: LOGINVAULT_LOG_FORMAT when set, else text.",
        valueName: "format"))
    var logFormat: Format?

    func validate() throws {
        if logFormat == nil, let value = ProcessInfo.processInfo.environment["LOGINVAULT_LOG_FORMAT"], !value.isEmpty,
           Format(rawValue: value) == nil {
            throw ValidationError("LOGINVAULT_LOG_FORMAT must be text or json, not '\(value)'")
        }
    }

    /// The format in force: `--log-format`, else `LOGINVAULT_LOG_FORMAT`, else text.
    var format: Format {
        logFormat ?? ProcessInfo.processInfo.environment["LOGINVAULT_LOG_FORMAT"].flatMap(Format.init(rawValue:)) ?? .text
    }

    /// Sets up swift-log (once per process) and returns a logger for `label`.
    func makeLogger(_ label: String) -> Logger {
        let level = logLevel
        let format = format
        loggingBootstrapped.withLock { done in
            if !done {
                LoggingSystem.bootstrap { name in
                    switch format {
                    case .text:
                        return StandardErrorLogHandler(label: name, logLevel: level)
                    case .json:
                        // Through StandardError, so a line never runs into the progress line.
                        var handler = JSONLogHandler(label: name, write: { StandardError.write($0) })
                        handler.logLevel = level
                        return handler
                    }
                }
                done = true
            }
        }
        var logger = Logger(label: label)
        logger.logLevel = level
        return logger
    }
}

private let loggingBootstrapped = Mutex(false)

extension Logger.Level: @retroactive ExpressibleByArgument {}
