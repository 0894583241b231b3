import Foundation

/// One case of the hostile-input corpus (`corpus.json` next to this file): a
/// message body exactly as it is sent to the queue, and what must become of it.
struct HostileCase: Sendable, CustomStringConvertible {
    let name: String
    let body: String
    let expected: Expected
    /// Set when the product gets this case wrong today: why.
    let knownIssue: String?
    /// AWS SQS itself refuses such a body; SQS-compatible servers (moto, ...) accept it.
    let realSQSRefuses: Bool

    enum Expected: Sendable, Equatable {
        case row(ExpectedRow)
        case reject(String)
    }

    var description: String { name }
}

/// The values a case's `user_logins` row must have. `ip` and `deviceId` are the
/// normalised values whose keyed masks are expected (nil: no mask).
struct ExpectedRow: Sendable, Equatable {
    var userId: String?
    var deviceType: String?
    var locale: String?
    var appVersion: String?
    var ip: String?
    var deviceId: String?
}

/// Reads `corpus.json` (its `//` keys explain the format).
enum HostileCorpus {
    static let file = URL(fileURLWithPath: #filePath).deletingLastPathComponent().appendingPathComponent("corpus.json")

    /// Reasons given by the staging functions, which keep the body exactly as received;
    /// the other reasons come from process_raw_logins, which keeps the body as jsonb text.
    static let stagingReasons: Set = ["invalid_json", "unsupported_unicode_escape", "invalid_unicode_surrogate",
                                      "json_too_complex", "empty_body", "nul_byte"]

    static func load() throws -> [HostileCase] {
        let root = try JSONSerialization.jsonObject(with: Data(contentsOf: file)) as? [String: Any]
        guard let cases = root?["cases"] as? [[String: Any]] else { throw CorpusError("no \"cases\" array in \(file.path)") }
        return try cases.map(parse)
    }

    static func parse(_ entry: [String: Any]) throws -> HostileCase {
        guard let name = entry["name"] as? String else { throw CorpusError("a case without a name: \(entry)") }
        let object = entry["object"] as? [String: Any]
        let body: String
        if let text = entry["body"] as? String {
            body = text
        } else if let object {
            let data = try JSONSerialization.data(withJSONObject: object, options: [.sortedKeys])
            body = String(decoding: data, as: UTF8.self)
        } else if let parts = entry["parts"] as? [Any] {
            body = try assemble(parts, name: name)
        } else {
            throw CorpusError("\(name): needs body, object or parts")
        }

        let expected: HostileCase.Expected
        if let reason = entry["reject"] as? String {
            expected = .reject(reason)
        } else if let row = entry["row"] as? [String: Any] {
            func value(_ key: String) throws -> String? {
                if let given = row[key] { return try text(given, name: name) }
                return object?[key] as? String
            }
            expected = .row(ExpectedRow(userId: try value("user_id"), deviceType: try value("device_type"),
                                        locale: try value("locale"), appVersion: try value("app_version"),
                                        ip: try value("ip"), deviceId: try value("device_id")))
        } else {
            throw CorpusError("\(name): needs reject or row")
        }
        return HostileCase(name: name, body: body, expected: expected, knownIssue: entry["knownIssue"] as? String,
                           realSQSRefuses: entry["realSQSRefuses"] as? Bool ?? false)
    }

    /// A string, null, or {repeat, times}.
    static func text(_ value: Any, name: String) throws -> String? {
        if value is NSNull { return nil }
        if let string = value as? String { return string }
        if let spec = value as? [String: Any], let unit = spec["repeat"] as? String, let times = spec["times"] as? Int {
            return String(repeating: unit, count: times)
        }
        throw CorpusError("\(name): cannot read \(value) as a string")
    }

    static func assemble(_ parts: [Any], name: String) throws -> String {
        var pieces: [String] = []
        var fill: (index: Int, unit: String, total: Int)?
        for part in parts {
            if let spec = part as? [String: Any], let unit = spec["fill"] as? String, let total = spec["totalBytes"] as? Int {
                fill = (pieces.count, unit, total)
                pieces.append("")
            } else if let piece = try text(part, name: name) {
                pieces.append(piece)
            }
        }
        if let fill {
            let fixed = pieces.reduce(0) { $0 + $1.utf8.count }
            let unitBytes = fill.unit.utf8.count
            guard fill.total >= fixed, (fill.total - fixed) % unitBytes == 0 else {
                throw CorpusError("\(name): cannot fill to \(fill.total) bytes")
            }
            pieces[fill.index] = String(repeating: fill.unit, count: (fill.total - fixed) / unitBytes)
        }
        return pieces.joined()
    }
}

struct CorpusError: Error, CustomStringConvertible {
    let description: String
    init(_ description: String) { self.description = description }
}
