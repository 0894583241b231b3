import Foundation
import Logging
import Synchronization

/// A swift-log handler that writes one JSON object per line on standard error:
/// `{"timestamp":"2026-01-02T03:04:05.678Z","level":"info","logger":"loginvault.load","message":"...","metadata":{...}}`
/// (`metadata` only when there is some: the handler's, the provider's and the call's, merged).
/// For `--log-format json`, where a log collector reads the lines.
public struct JSONLogHandler: LogHandler {
    public var logLevel: Logger.Level = .info
    public var metadata: Logger.Metadata = [:]
    public var metadataProvider: Logger.MetadataProvider?
    private let label: String
    private let write: @Sendable (String) -> Void

    /// `write` receives each line, newline included (default: standard error).
    public init(label: String, metadataProvider: Logger.MetadataProvider? = LoggingSystem.metadataProvider,
                write: @escaping @Sendable (String) -> Void = JSONLogHandler.standardError) {
        self.label = label
        self.metadataProvider = metadataProvider
        self.write = write
    }

    public subscript(metadataKey key: String) -> Logger.Metadata.Value? {
        get { metadata[key] }
        set { metadata[key] = newValue }
    }

    public func log(event: LogEvent) {
        var merged = metadata
        if let provided = metadataProvider?.get() { merged.merge(provided) { $1 } }
        if let own = event.metadata { merged.merge(own) { $1 } }
        var line = "{\"timestamp\":\(JSONText.quoted(Self.timestamp(Date()))),\"level\":\(JSONText.quoted(event.level.rawValue))"
        line += ",\"logger\":\(JSONText.quoted(label)),\"message\":\(JSONText.quoted(event.message.description))"
        if let error = event.error { line += ",\"error\":\(JSONText.quoted(String(describing: error)))" }
        if !merged.isEmpty { line += ",\"metadata\":" + Self.json(.dictionary(merged)) }
        write(line + "}\n")
    }

    /// One write per line, lines never interleaved.
    public static let standardError: @Sendable (String) -> Void = { line in
        stderrLock.withLock { _ in FileHandle.standardError.write(Data(line.utf8)) }
    }

    static func json(_ value: Logger.Metadata.Value) -> String {
        switch value {
        case .string(let string): return JSONText.quoted(string)
        case .stringConvertible(let convertible): return JSONText.quoted(convertible.description)
        case .array(let values): return "[" + values.map(json).joined(separator: ",") + "]"
        case .dictionary(let members):
            return "{" + members.sorted { $0.key < $1.key }
                .map { "\(JSONText.quoted($0.key)):\(json($0.value))" }.joined(separator: ",") + "}"
        }
    }

    /// RFC 3339 in UTC with milliseconds.
    static func timestamp(_ date: Date) -> String {
        var seconds = time_t(date.timeIntervalSince1970.rounded(.down))
        var parts = tm()
        gmtime_r(&seconds, &parts)
        let millis = Int((date.timeIntervalSince1970 - Double(seconds)) * 1000) % 1000
        return String(format: "%04d-%02d-%02dT%02d:%02d:%02d.%03dZ", Int(parts.tm_year) + 1900, Int(parts.tm_mon) + 1,
                      Int(parts.tm_mday), Int(parts.tm_hour), Int(parts.tm_min), Int(parts.tm_sec), millis)
    }
}

private let stderrLock = Mutex(())
