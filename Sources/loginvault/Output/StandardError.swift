import Foundation
import Logging
import Synchronization

/// Standard error, shared by the progress line and the log lines so they never
/// run into each other: a log line first clears the progress line, then the
/// progress line is drawn again below it.
enum StandardError {
    /// The progress line currently shown (nil: none).
    private static let progressLine = Mutex<String?>(nil)

    /// Writes text as it is (an error message, a summary).
    static func write(_ text: String) {
        progressLine.withLock { line in
            var output = line == nil ? "" : "\r\u{1B}[2K"
            output += text
            if let line { output += line }
            FileHandle.standardError.write(Data(output.utf8))
        }
    }

    /// Shows `text` as the progress line (replacing the previous one); nil clears it.
    static func showProgress(_ text: String?) {
        progressLine.withLock { line in
            FileHandle.standardError.write(Data(("\r\u{1B}[2K" + (text ?? "")).utf8))
            line = text
        }
    }
}

/// swift-log's lines on standard error, through `StandardError`: timestamp, level, label, metadata, message.
struct StandardErrorLogHandler: LogHandler {
    let label: String
    var logLevel: Logger.Level = .info
    var metadata: Logger.Metadata = [:]

    subscript(metadataKey key: String) -> Logger.Metadata.Value? {
        get { metadata[key] }
        set { metadata[key] = newValue }
    }

    func log(event: LogEvent) {
        let merged = metadata.merging(event.metadata ?? [:], uniquingKeysWith: { $1 })
        let fields = merged.isEmpty ? "" : " " + merged.sorted(by: { $0.key < $1.key }).map { "\($0)=\($1)" }.joined(separator: " ")
        let timestamp = Date().formatted(.iso8601)
        StandardError.write("\(timestamp) \(event.level) \(label) :\(fields) \(event.message)\n")
    }
}
