import CLibPQ

/// Writes the data of a `COPY ... FROM STDIN` in PostgreSQL's text format,
/// buffering it and handing it to libpq in large chunks.
public struct PostgresCopyWriter {
    private let connection: OpaquePointer
    private var buffer: [UInt8] = []
    private let chunkSize = 256 * 1024

    init(connection: OpaquePointer) {
        self.connection = connection
        buffer.reserveCapacity(chunkSize + 4096)
    }

    /// Appends one row; `nil` is SQL NULL. Tabs, newlines, carriage returns and
    /// backslashes inside values are escaped, so any text arrives unchanged.
    public mutating func writeRow(_ fields: [String?]) throws {
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
