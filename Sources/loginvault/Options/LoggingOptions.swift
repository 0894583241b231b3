import ArgumentParser
import Foundation
import Logging
import Synchronization

/// `--log-level`: how much loginvault logs to standard error.
struct LoggingOptions: ParsableArguments {
    @Option(name: .long, help: ArgumentHelp(
        "How much to log on standard error.",
        valueName: "level"))
    var logLevel: Logger.Level = .info

    /// Sets up swift-log (once per process) and returns a logger for `label`.
    func makeLogger(_ label: String) -> Logger {
        let level = logLevel
        loggingBootstrapped.withLock { done in
            if !done {
                LoggingSystem.bootstrap { name in
                    StandardErrorLogHandler(label: name, logLevel: level)
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
