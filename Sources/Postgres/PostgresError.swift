import CLibPQ

/// An error from PostgreSQL or from libpq, carrying what PostgreSQL said:
/// the SQLSTATE code, the message, and the detail and hint when there are any.
public struct PostgresError: Error, Sendable, CustomStringConvertible {
    /// Where the error came from.
    public enum Kind: Sendable, Equatable {
        /// The connection could not be made.
        case connection
        /// The connection was lost or closed before or during a command.
        case connectionLost
        /// The server rejected a command.
        case query
        /// A `COPY ... FROM STDIN` failed.
        case copy
    }

    public var kind: Kind
    /// The five-character SQLSTATE (e.g. `23505`), when the server sent one.
    public var sqlState: String?
    public var severity: String?
    public var message: String
    public var detail: String?
    public var hint: String?
    /// Extra context (e.g. the PL/pgSQL line), when the server sent one.
    public var context: String?

    public init(kind: Kind, sqlState: String? = nil, severity: String? = nil, message: String,
                detail: String? = nil, hint: String? = nil, context: String? = nil) {
        self.kind = kind
        self.sqlState = sqlState
        self.severity = severity
        self.message = message
        self.detail = detail
        self.hint = hint
        self.context = context
    }

    /// Reads the fields of a failed result.
    init(kind: Kind, result: OpaquePointer?, connection: OpaquePointer?) {
        func field(_ code: Character) -> String? {
            guard let result, let ptr = PQresultErrorField(result, Int32(code.asciiValue!)) else { return nil }
            let value = String(cString: ptr)
            return value.isEmpty ? nil : value
        }
        let primary = field("M")
        var message = primary ?? ""
        if message.isEmpty, let result, let ptr = PQresultErrorMessage(result) {
            message = String(cString: ptr)
        }
        if message.isEmpty, let connection, let ptr = PQerrorMessage(connection) {
            message = String(cString: ptr)
        }
        message = message.trimmingTrailingNewlines()
        var kind = kind
        if let connection, PQstatus(connection) != CONNECTION_OK, primary == nil {
            kind = .connectionLost
        }
        self.init(kind: kind, sqlState: field("C"), severity: field("V") ?? field("S"),
                  message: message.isEmpty ? "unknown error" : message,
                  detail: field("D"), hint: field("H"), context: field("W"))
    }

    public var description: String {
        var text: String
        switch kind {
        case .connection: text = "could not connect to PostgreSQL: "
        case .connectionLost: text = "lost the connection to PostgreSQL: "
        case .query, .copy: text = ""
        }
        if let severity { text += "\(severity) " }
        if let sqlState { text += "\(sqlState): " } else if !text.isEmpty, severity != nil { text += ": " }
        text += message
        if let detail { text += "\nDETAIL: \(detail)" }
        if let hint { text += "\nHINT: \(hint)" }
        return text
    }
}

extension String {
    func trimmingTrailingNewlines() -> String {
        var s = Substring(self)
        while let last = s.last, last == "\n" || last == "\r" || last == " " { s = s.dropLast() }
        return String(s)
    }
}
