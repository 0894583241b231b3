import CLibPQ
import Foundation

/// Writes the data of a `COPY ... FROM STDIN`, buffering it and handing it to
/// libpq in large chunks: in PostgreSQL's text format (`writeRow`), or in its
/// binary format (`COPY ... WITH (FORMAT binary)`, `beginRow` and the `append`
/// methods), which the server reads without scanning for delimiters and escapes.
public struct PostgresCopyWriter {
    /// The layout of the data; it must match the COPY statement's `FORMAT`.
    public enum Format: Sendable {
        case text
        case binary
    }

    private let connection: OpaquePointer
    private var buffer: [UInt8]
    private let chunkSize = 256 * 1024
    public let format: Format

    init(connection: OpaquePointer, format: Format, buffer: [UInt8]) {
        self.connection = connection
        self.format = format
        self.buffer = buffer
        self.buffer.removeAll(keepingCapacity: true)
        self.buffer.reserveCapacity(chunkSize + 4096)
        if format == .binary {
            // Signature, flags (no OIDs), header extension length.
            self.buffer.append(contentsOf: Array("PGCOPY\n".utf8) + [0xFF, 0x0D, 0x0A, 0x00])
            appendBigEndian(UInt32(0))
            appendBigEndian(UInt32(0))
        }
    }

    /// The buffer, for the connection to reuse in its next COPY.
    var reusableBuffer: [UInt8] {
        mutating get { buffer.removeAll(keepingCapacity: true); return buffer }
    }

    /// Binary format: starts a row of `fieldCount` fields, to be appended next.
    public mutating func beginRow(fieldCount: Int) throws {
        precondition(format == .binary, "beginRow is for COPY ... WITH (FORMAT binary)")
        if buffer.count >= chunkSize { try flush() }
        appendBigEndian(UInt16(fieldCount))
    }

    /// Binary format: a `text` (or `varchar`, `json`...) field; `nil` is SQL NULL.
    public mutating func append(_ text: String?) {
        guard var text else { appendNull(); return }
        text.withUTF8 { bytes in
            appendBigEndian(UInt32(bytes.count))
            buffer.append(contentsOf: bytes)
        }
    }

    /// Binary format: a `bytea` field (or any type whose binary form is its bytes).
    public mutating func append(bytes: [UInt8]) {
        appendBigEndian(UInt32(bytes.count))
        buffer.append(contentsOf: bytes)
    }

    /// Binary format: an `integer` (int4) field; `nil` is SQL NULL.
    public mutating func append(int4 value: Int32?) {
        guard let value else { appendNull(); return }
        appendBigEndian(UInt32(4))
        appendBigEndian(UInt32(bitPattern: value))
    }

    /// Binary format: a `timestamptz` field (microseconds, rounded down); `nil` is SQL NULL.
    public mutating func append(timestamptz date: Date?) {
        guard let date else { appendNull(); return }
        // Microseconds since 2000-01-01 00:00:00 UTC, PostgreSQL's epoch.
        let micros = Int64((date.timeIntervalSince1970 * 1_000_000).rounded(.down)) - 946_684_800_000_000
        appendBigEndian(UInt32(8))
        appendBigEndian(UInt64(bitPattern: micros))
    }

    /// Binary format: an SQL NULL field.
    public mutating func appendNull() {
        appendBigEndian(UInt32.max)  // length -1
    }

    /// Ends the data (the binary trailer); `copyIn` calls it.
    mutating func finish() throws {
        if format == .binary { appendBigEndian(UInt16.max) }  // field count -1
        try flush()
    }

    private mutating func appendBigEndian<T: FixedWidthInteger>(_ value: T) {
        withUnsafeBytes(of: value.bigEndian) { buffer.append(contentsOf: $0) }
    }

    /// Appends one row; `nil` is SQL NULL. Tabs, newlines, carriage returns and
    /// backslashes inside values are escaped, so any text arrives unchanged.
    public mutating func writeRow(_ fields: [String?]) throws {
        precondition(format == .text, "writeRow is for COPY in text format")
        for (index, field) in fields.enumerated() {
            if index > 0 { buffer.append(UInt8(ascii: "\t")) }
            guard var field else {
                buffer.append(UInt8(ascii: "\\")); buffer.append(UInt8(ascii: "N"))
                continue
            }
            field.withUTF8 { appendEscaped($0) }
        }
        buffer.append(UInt8(ascii: "\n"))
        if buffer.count >= chunkSize { try flush() }
    }

    /// Appends bytes that are already in COPY's format.
    public mutating func writeRaw(_ bytes: some Sequence<UInt8>) throws {
        buffer.append(contentsOf: bytes)
        if buffer.count >= chunkSize { try flush() }
    }

    /// Sends what is buffered to libpq.
    public mutating func flush() throws {
        guard !buffer.isEmpty else { return }
        let sent = buffer.withUnsafeBufferPointer { bytes in
            bytes.withMemoryRebound(to: CChar.self) { chars in
                PQputCopyData(connection, chars.baseAddress, Int32(chars.count))
            }
        }
        guard sent == 1 else {
            throw PostgresError(kind: .copy,
                                message: String(cString: PQerrorMessage(connection)).trimmingTrailingNewlines())
        }
        buffer.removeAll(keepingCapacity: true)
    }

    private mutating func appendEscaped(_ bytes: UnsafeBufferPointer<UInt8>) {
        var runStart = 0
        for i in 0..<bytes.count {
            let escaped: UInt8
            switch bytes[i] {
            case UInt8(ascii: "\\"): escaped = UInt8(ascii: "\\")
            case UInt8(ascii: "\t"): escaped = UInt8(ascii: "t")
            case UInt8(ascii: "\n"): escaped = UInt8(ascii: "n")
            case UInt8(ascii: "\r"): escaped = UInt8(ascii: "r")
            default: continue
            }
            if i > runStart { buffer.append(contentsOf: UnsafeBufferPointer(rebasing: bytes[runStart..<i])) }
            buffer.append(UInt8(ascii: "\\"))
            buffer.append(escaped)
            runStart = i + 1
        }
        if runStart < bytes.count {
            buffer.append(contentsOf: UnsafeBufferPointer(rebasing: bytes[runStart..<bytes.count]))
        }
    }
}

@available(*, unavailable)
extension PostgresCopyWriter: Sendable {}
