import Crypto
import Foundation

/// Reads messages for `load --from-file`: a JSON array (one message per
/// element) or JSON lines (one message per non-empty line), streamed in chunks
/// so memory stays flat whatever the file's size.
///
/// Each body is the element's or line's bytes exactly; nothing is parsed beyond
/// finding where one element ends. The message id is synthetic but stable:
/// `file-<position>-<sha256 of the body, 16 hex digits>`, so replaying the same
/// file stages nothing twice, while equal bodies at different positions stay
/// distinct messages, as they would be on a queue.
public struct MessageFileReader: AsyncSequence, Sendable {
    public typealias Element = IncomingMessage

    /// The layout of the input.
    public enum Format: String, Sendable, CaseIterable {
        /// `[ {...}, {...} ]`
        case array
        /// One JSON document per line.
        case lines
        /// `array` if the first non-blank byte is `[`, else `lines`.
        case auto
    }

    let path: String
    let format: Format
    let chunkSize: Int

    /// `path` is a file, or `-` for standard input.
    public init(path: String, format: Format = .auto, chunkSize: Int = 1 << 20) {
        self.path = path
        self.format = format
        self.chunkSize = chunkSize
    }

    public func makeAsyncIterator() -> Iterator {
        Iterator(path: path, format: format, chunkSize: chunkSize)
    }

    /// Yields the messages one by one.
    public struct Iterator: AsyncIteratorProtocol {
        private var input: FileHandle?
        private let path: String
        private let chunkSize: Int
        private var splitter: JSONMessageSplitter
        private var ready: [ArraySlice<UInt8>] = []
        private var readyIndex = 0
        private var position = 0
        private var finished = false

        init(path: String, format: Format, chunkSize: Int) {
            self.path = path
            self.chunkSize = chunkSize
            self.splitter = JSONMessageSplitter(format: format)
        }

        public mutating func next() async throws -> IncomingMessage? {
            while readyIndex >= ready.count {
                if finished { return nil }
                ready = try readMore()
                readyIndex = 0
            }
            let bytes = ready[readyIndex]
            readyIndex += 1
            position += 1
            return Self.message(bytes, position: position)
        }

        private mutating func readMore() throws -> [ArraySlice<UInt8>] {
            if input == nil {
                if path == "-" {
                    input = FileHandle.standardInput
                } else {
                    guard let handle = FileHandle(forReadingAtPath: path) else {
                        throw MessageFileError.cannotOpen(path)
                    }
                    input = handle
                }
            }
            let chunk = try input!.read(upToCount: chunkSize) ?? Data()
            if chunk.isEmpty {
                finished = true
                return try splitter.finish()
            }
            return try splitter.feed(chunk)
        }

        private static let hexDigits = Array("0123456789abcdef".utf8)

        static func message(_ bytes: ArraySlice<UInt8>, position: Int) -> IncomingMessage {
            // Hex by hand: String(format: "%02x") per byte was half the CPU of a
            // --from-file run (measured with perf, 1M messages) and grew its RSS.
            var hex: [UInt8] = []
            hex.reserveCapacity(16)
            for byte in SHA256.hash(data: bytes).prefix(8) {
                hex.append(hexDigits[Int(byte >> 4)])
                hex.append(hexDigits[Int(byte & 0x0F)])
            }
            let id = "file-\(position)-" + String(decoding: hex, as: UTF8.self)
            if bytes.contains(0) {
                return IncomingMessage(messageId: id, body: String(decoding: bytes.map { $0 == 0 ? 0x20 : $0 }, as: UTF8.self),
                                       unstorableReason: "nul_byte")
            }
            guard let body = String(validating: bytes, as: UTF8.self) else {
                return IncomingMessage(messageId: id, body: String(decoding: bytes, as: UTF8.self),
                                       unstorableReason: "invalid_utf8")
            }
            return IncomingMessage(messageId: id, body: body)
        }
    }
}

/// Why a message file could not be read.
public enum MessageFileError: Error, Sendable, CustomStringConvertible, Equatable {
    case cannotOpen(String)
    case notAnArray(offset: Int)
    case truncated

    public var description: String {
        switch self {
        case .cannotOpen(let path): return "cannot open \(path) for reading"
        case .notAnArray(let offset): return "expected ',' or ']' between array elements at byte \(offset)"
        case .truncated: return "the input ends inside the JSON array (no closing ']')"
        }
    }
}

/// Finds where each message begins and ends in a stream of bytes, tracking only
/// strings and nesting; bodies are never decoded.
struct JSONMessageSplitter {
    private var format: MessageFileReader.Format
    private var current: [UInt8] = []
    private var depth = 0
    private var inString = false
    private var escaped = false
    private var arrayOpened = false
    private var arrayClosed = false
    private var offset = 0

    init(format: MessageFileReader.Format) {
        self.format = format
    }

    private static func isSpace(_ byte: UInt8) -> Bool {
        byte == 0x20 || byte == 0x0A || byte == 0x0D || byte == 0x09
    }

    mutating func feed(_ chunk: Data) throws -> [ArraySlice<UInt8>] {
        var out: [ArraySlice<UInt8>] = []
        // Over the raw bytes: Data's own iterator costs a call per byte.
        try chunk.withUnsafeBytes { (raw: UnsafeRawBufferPointer) in
            for byte in raw {
                offset += 1
                if format == .auto {
                    if Self.isSpace(byte) { continue }
                    format = byte == UInt8(ascii: "[") ? .array : .lines
                }
                switch format {
                case .lines: lineByte(byte, into: &out)
                default: try arrayByte(byte, into: &out)
                }
            }
        }
        return out
    }

    mutating func finish() throws -> [ArraySlice<UInt8>] {
        var out: [ArraySlice<UInt8>] = []
        switch format {
        case .lines: emitLine(into: &out)
        case .array: if arrayOpened && !arrayClosed { throw MessageFileError.truncated }
        case .auto: break
        }
        return out
    }

    private mutating func lineByte(_ byte: UInt8, into out: inout [ArraySlice<UInt8>]) {
        if byte == 0x0A { emitLine(into: &out) } else { current.append(byte) }
    }

    private mutating func emitLine(into out: inout [ArraySlice<UInt8>]) {
        if current.last == 0x0D { current.removeLast() }
        if current.contains(where: { !Self.isSpace($0) }) { out.append(current[...]) }
        current.removeAll(keepingCapacity: true)
    }

    private mutating func arrayByte(_ byte: UInt8, into out: inout [ArraySlice<UInt8>]) throws {
        if !arrayOpened {
            if Self.isSpace(byte) { return }
            guard byte == UInt8(ascii: "[") else { throw MessageFileError.notAnArray(offset: offset) }
            arrayOpened = true
            return
        }
        if arrayClosed {
            if Self.isSpace(byte) { return }
            throw MessageFileError.notAnArray(offset: offset)
        }
        if inString {
            current.append(byte)
            if escaped { escaped = false }
            else if byte == UInt8(ascii: "\\") { escaped = true }
            else if byte == UInt8(ascii: "\"") { inString = false }
            return
        }
        switch byte {
        case UInt8(ascii: "\""):
            inString = true
            current.append(byte)
        case UInt8(ascii: "{"), UInt8(ascii: "["):
            depth += 1
            current.append(byte)
        case UInt8(ascii: "}"):
            depth = max(0, depth - 1)
            current.append(byte)
        case UInt8(ascii: "]") where depth > 0:
            depth -= 1
            current.append(byte)
        case UInt8(ascii: ","), UInt8(ascii: "]"):
            guard depth == 0 else { current.append(byte); return }
            emitElement(into: &out)
            if byte == UInt8(ascii: "]") { arrayClosed = true }
        default:
            if current.isEmpty && Self.isSpace(byte) { return }
            current.append(byte)
        }
    }

    private mutating func emitElement(into out: inout [ArraySlice<UInt8>]) {
        while let last = current.last, Self.isSpace(last) { current.removeLast() }
        if !current.isEmpty { out.append(current[...]) }
        current.removeAll(keepingCapacity: true)
    }
}
