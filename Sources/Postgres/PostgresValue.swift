import Foundation

/// A value bound to a query parameter (`$1`, `$2`, ...). Values always travel
/// as parameters, never spliced into SQL text.
///
/// Strings are sent with an unspecified type so the server infers it from the
/// context (`$1::jsonb`, `WHERE id = $1`); the other cases carry their type.
public enum PostgresValue: Sendable, Hashable {
    case null
    case text(String)
    case int(Int)
    case bool(Bool)
    case double(Double)
    /// Binary data, sent in binary format as `bytea`.
    case bytea([UInt8])
    /// A point in time, sent as `timestamptz`.
    case timestamp(Date)

    /// Wraps an optional string: `nil` becomes SQL NULL.
    public static func optional(_ value: String?) -> PostgresValue {
        value.map(PostgresValue.text) ?? .null
    }

    /// Wraps an optional integer: `nil` becomes SQL NULL.
    public static func optional(_ value: Int?) -> PostgresValue {
        value.map(PostgresValue.int) ?? .null
    }

    /// Wraps an optional date: `nil` becomes SQL NULL.
    public static func optional(_ value: Date?) -> PostgresValue {
        value.map(PostgresValue.timestamp) ?? .null
    }

    /// The type OID sent with the parameter (0: let the server infer it).
    var typeOID: UInt32 {
        switch self {
        case .null, .text: return 0
        case .int: return 20       // int8
        case .bool: return 16      // bool
        case .double: return 701   // float8
        case .bytea: return 17     // bytea
        case .timestamp: return 1184 // timestamptz
        }
    }

    /// The bytes sent on the wire, and whether they are in binary format.
    var wire: (bytes: [UInt8], binary: Bool)? {
        switch self {
        case .null: return nil
        case .text(let s): return (Array(s.utf8), false)
        case .int(let i): return (Array(String(i).utf8), false)
        case .bool(let b): return (Array((b ? "t" : "f").utf8), false)
        case .double(let d): return (Array(d.description.utf8), false)
        case .bytea(let bytes): return (bytes, true)
        case .timestamp(let date): return (Array(Self.timestamptzLiteral(date).utf8), false)
        }
    }

    /// `YYYY-MM-DD HH:MM:SS.ffffff+00`, in UTC, with microseconds: how a
    /// `timestamptz` is written in COPY's text format.
    public static func timestamptzLiteral(_ date: Date) -> String {
        let micros = Int64((date.timeIntervalSince1970 * 1_000_000).rounded(.down))
        var seconds = time_t(micros >= 0 ? micros / 1_000_000 : (micros - 999_999) / 1_000_000)
        let fraction = micros - Int64(seconds) * 1_000_000
        var parts = tm()
        gmtime_r(&seconds, &parts)
        return String(format: "%04d-%02d-%02d %02d:%02d:%02d.%06lld+00",
                      Int(parts.tm_year) + 1900, Int(parts.tm_mon) + 1, Int(parts.tm_mday),
                      Int(parts.tm_hour), Int(parts.tm_min), Int(parts.tm_sec), fraction)
    }
}

extension PostgresValue: ExpressibleByStringLiteral {
    public init(stringLiteral value: String) { self = .text(value) }
}

extension PostgresValue: ExpressibleByIntegerLiteral {
    public init(integerLiteral value: Int) { self = .int(value) }
}

extension PostgresValue: ExpressibleByBooleanLiteral {
    public init(booleanLiteral value: Bool) { self = .bool(value) }
}

extension PostgresValue: ExpressibleByNilLiteral {
    public init(nilLiteral: ()) { self = .null }
}

extension PostgresValue: ExpressibleByFloatLiteral {
    public init(floatLiteral value: Double) { self = .double(value) }
}
