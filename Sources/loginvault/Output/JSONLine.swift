import Foundation

extension Encodable {
    /// The value as the one-line JSON object `--json` prints: snake_case keys, sorted, ISO 8601 dates.
    var jsonLine: String {
        let encoder = JSONEncoder()
        encoder.keyEncodingStrategy = .convertToSnakeCase
        encoder.outputFormatting = [.sortedKeys]
        encoder.dateEncodingStrategy = .iso8601
        return String(decoding: (try? encoder.encode(self)) ?? Data("{}".utf8), as: UTF8.self)
    }
}
