import CLibPQ

/// A message the server sent besides a result: `RAISE NOTICE`, warnings, and
/// the like.
public struct PostgresNotice: Sendable, CustomStringConvertible {
    /// `NOTICE`, `WARNING`, `INFO`, `LOG` or `DEBUG`.
    public let severity: String
    public let sqlState: String?
    public let message: String
    public let detail: String?
    public let hint: String?

    init(_ result: OpaquePointer) {
        func field(_ code: Character) -> String? {
            guard let ptr = PQresultErrorField(result, Int32(code.asciiValue!)) else { return nil }
            return String(cString: ptr)
        }
        severity = field("V") ?? field("S") ?? "NOTICE"
        sqlState = field("C")
        message = field("M") ?? ""
        detail = field("D")
        hint = field("H")
    }

    public var description: String { "\(severity): \(message)" }
}

/// Holds the notice handler where libpq's C callback can reach it.
final class NoticeSink {
    var handler: ((PostgresNotice) -> Void)?
}
