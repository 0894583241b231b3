import Postgres

/// The loader's session temp table `pg_temp.loginvault_incoming`, which
/// `stage_incoming_logins()` reads: its columns exist once, here, and both
/// its CREATE and the COPY that fills it are built from them.
enum IncomingTable {
    static let name = "loginvault_incoming"

    /// Name and type of each column, in the order `write` appends them.
    static let columns: [(name: String, type: String)] = [
        ("message_id", "text"),
        ("body", "bytea"),           // the bytes as received: the database judges them
        ("sent_at", "timestamptz"),
        ("receive_count", "integer"),
    ]

    /// Rows live only until the batch's transaction ends.
    static var create: String {
        "CREATE TEMP TABLE IF NOT EXISTS \(name) ("
            + columns.map { "\($0.name) \($0.type)" }.joined(separator: ", ") + ") ON COMMIT DELETE ROWS"
    }

    /// Binary: the server reads each field by its length instead of scanning it for
    /// delimiters and escapes, and the bodies need no escaping here.
    static var copy: String {
        "COPY pg_temp.\(name) (" + columns.map(\.name).joined(separator: ", ") + ") FROM STDIN WITH (FORMAT binary)"
    }

    /// One message as one row of `columns`.
    static func write(_ message: IncomingMessage, to writer: inout PostgresCopyWriter) throws {
        try writer.beginRow(fieldCount: columns.count)
        writer.append(message.messageId)
        switch message.rawBody {
        case .text(let text): writer.append(text)   // text and bytea share the binary layout: the bytes
        case .bytes(let bytes): writer.append(bytes: bytes)
        }
        writer.append(timestamptz: message.sentAt)
        writer.append(int4: message.receiveCount.map { Int32(clamping: $0) })
    }
}
