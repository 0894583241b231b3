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
    public init(path: String, format: Format = .auto, chunkSize: Int = 256 << 10) {
        self.path = path
        self.format = format
        self.chunkSize = Swift.max(1, chunkSize)
    }

    public func makeAsyncIterator() -> Iterator {
        Iterator(path: path, format: format, chunkSize: chunkSize)
    }

    /// Yields the messages one by one.
    ///
    /// Memory: one read buffer (reused), the messages of one chunk, and the part of
    /// a message that spans two chunks. Messages are cut out of the read buffer in
    /// place; only the id and the body are allocated per message. (Before, every
    /// message also got a byte array of its own on the reading thread, freed on the
    /// writing thread, and each chunk a new `Data`: glibc's per-thread caches and
    /// arenas then grew the RSS of a 1M-message run by ~15 MiB over a 100k one.)
    public struct Iterator: AsyncIteratorProtocol {
        private var input: FileHandle?
        private let path: String
        private var buffer: [UInt8]
        private var splitter: JSONMessageSplitter
        private var ready: [IncomingMessage] = []
        private var readyIndex = 0
        private var position = 0
        private var finished = false

        init(path: String, format: Format, chunkSize: Int) {
            self.path = path
            self.buffer = [UInt8](repeating: 0, count: chunkSize)
            self.splitter = JSONMessageSplitter(format: format)
        }

        public mutating func next() async throws -> IncomingMessage? {
            while readyIndex >= ready.count {
                if finished { return nil }
                ready.removeAll(keepingCapacity: true)
                readyIndex = 0
                try readMore()
            }
            let message = ready[readyIndex]
            readyIndex += 1
            return message
        }

        private mutating func readMore() throws {
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
            let descriptor = input!.fileDescriptor
            let count = try buffer.withUnsafeMutableBytes { raw -> Int in
                while true {
                    let n = read(descriptor, raw.baseAddress, raw.count)
                    if n >= 0 { return n }
                    if errno == EINTR { continue }
                    throw MessageFileError.readFailed(path, String(cString: strerror(errno)))
                }
            }
            var position = self.position
            var ready: [IncomingMessage] = []
            swap(&ready, &self.ready)  // appended to without a copy
            defer {
                self.position = position
                self.ready = ready
            }
            let emit: (UnsafeRawBufferPointer) -> Void = { bytes in
                position += 1
                ready.append(Self.message(bytes, position: position))
            }
            if count == 0 {
                finished = true
                try splitter.finish(emit)
                return
            }
            try buffer.withUnsafeBytes { raw in
                try splitter.feed(UnsafeRawBufferPointer(rebasing: raw[0..<count]), emit)
            }
        }

        private static let hexDigits = Array("0123456789abcdef".utf8)

        static func message(_ bytes: UnsafeRawBufferPointer, position: Int) -> IncomingMessage {
            // Hex by hand: String(format: "%02x") per byte was half the CPU of a
            // --from-file run (measured with perf, 1M messages) and grew its RSS.
            let id = withUnsafeTemporaryAllocation(of: UInt8.self, capacity: 16) { hex in
                for (index, byte) in SHA256.hash(data: bytes).prefix(8).enumerated() {
                    hex[2 * index] = hexDigits[Int(byte >> 4)]
                    hex[2 * index + 1] = hexDigits[Int(byte & 0x0F)]
                }
                return "file-\(position)-" + String(decoding: hex, as: UTF8.self)
            }
            // The bytes as they are: a NUL byte or invalid UTF-8 is the database's to judge.
            return IncomingMessage(messageId: id, rawBody: .bytes(Array(bytes.assumingMemoryBound(to: UInt8.self))))
        }
    }
}

/// Why a message file could not be read.
public enum MessageFileError: Error, Sendable, CustomStringConvertible, Equatable {
    case cannotOpen(String)
    case notAnArray(offset: Int)
    case truncated
    case readFailed(String, String)

    public var description: String {
        switch self {
        case .cannotOpen(let path): return "cannot open \(path) for reading"
        case .readFailed(let path, let why): return "reading \(path) failed: \(why)"
        case .notAnArray(let offset): return "expected ',' or ']' between array elements at byte \(offset)"
        case .truncated: return "the input ends inside the JSON array (no closing ']')"
        }
    }
}

/// Finds where each message begins and ends in a stream of bytes, tracking only
/// strings and nesting; bodies are never decoded. Messages are handed to `emit`
/// as views of the chunk being fed (valid during the call only); only a message
/// that spans chunks is copied, into `carried`.
struct JSONMessageSplitter {
    typealias Emit = (UnsafeRawBufferPointer) -> Void

    private var format: MessageFileReader.Format
    /// The start of the message being read, from earlier chunks.
    private var carried: [UInt8] = []
    /// Whether a message is being read (its first byte was seen).
    private var inMessage = false
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

    mutating func feed(_ chunk: UnsafeRawBufferPointer, _ emit: Emit) throws {
        var index = 0
        if format == .auto {
            while index < chunk.count, Self.isSpace(chunk[index]) { index += 1 }
            offset += index
            guard index < chunk.count else { return }
            format = chunk[index] == UInt8(ascii: "[") ? .array : .lines
        }
        switch format {
        case .lines: feedLines(chunk, from: index, emit)
        default: try feedArray(chunk, from: index, emit)
        }
    }

    mutating func finish(_ emit: Emit) throws {
        switch format {
        case .lines:
            carried.withUnsafeBytes { emitLine($0, emit) }
            carried.removeAll(keepingCapacity: true)
        case .array: if arrayOpened && !arrayClosed { throw MessageFileError.truncated }
        case .auto: break
        }
    }

    // MARK: Lines

    private mutating func feedLines(_ chunk: UnsafeRawBufferPointer, from first: Int, _ emit: Emit) {
        offset += chunk.count - first
        var start = first
        while start < chunk.count {
            let rest = UnsafeRawBufferPointer(rebasing: chunk[start...])
            guard let newline = memchr(rest.baseAddress!, 0x0A, rest.count) else {
                carried.append(contentsOf: rest)
                return
            }
            let end = start + rest.baseAddress!.distance(to: UnsafeRawPointer(newline))
            let line = UnsafeRawBufferPointer(rebasing: chunk[start..<end])
            if carried.isEmpty {
                emitLine(line, emit)
            } else {
                carried.append(contentsOf: line)
                carried.withUnsafeBytes { emitLine($0, emit) }
                carried.removeAll(keepingCapacity: true)
            }
            start = end + 1
        }
    }

    /// A line without its `\r`, unless it is blank.
    private func emitLine(_ line: UnsafeRawBufferPointer, _ emit: Emit) {
        var line = line
        if line.last == 0x0D { line = UnsafeRawBufferPointer(rebasing: line.dropLast()) }
        if line.contains(where: { !Self.isSpace($0) }) { emit(line) }
    }

    // MARK: Array

    private mutating func feedArray(_ chunk: UnsafeRawBufferPointer, from first: Int, _ emit: Emit) throws {
        // Where the current message starts in this chunk, if it started here.
        var start: Int? = inMessage ? first : nil
        var index = first
        while index < chunk.count {
            let byte = chunk[index]
            offset += 1
            defer { index += 1 }
            if !arrayOpened {
                if Self.isSpace(byte) { continue }
                guard byte == UInt8(ascii: "[") else { throw MessageFileError.notAnArray(offset: offset) }
                arrayOpened = true
                continue
            }
            if arrayClosed {
                if Self.isSpace(byte) { continue }
                throw MessageFileError.notAnArray(offset: offset)
            }
            if inString {
                if escaped { escaped = false }
                else if byte == UInt8(ascii: "\\") { escaped = true }
                else if byte == UInt8(ascii: "\"") { inString = false }
                continue
            }
            switch byte {
            case UInt8(ascii: "\""):
                inString = true
            case UInt8(ascii: "{"), UInt8(ascii: "["):
                depth += 1
            case UInt8(ascii: "}"):
                depth = max(0, depth - 1)
            case UInt8(ascii: "]") where depth > 0:
                depth -= 1
            case UInt8(ascii: ","), UInt8(ascii: "]"):
                guard depth == 0 else { break }
                if inMessage { emitElement(chunk, from: start ?? index, to: index, emit) }
                inMessage = false
                start = nil
                if byte == UInt8(ascii: "]") { arrayClosed = true }
                continue
            default:
                if !inMessage && Self.isSpace(byte) { continue }
            }
            if !inMessage {
                inMessage = true
                start = index
            }
        }
        if inMessage { carried.append(contentsOf: UnsafeRawBufferPointer(rebasing: chunk[(start ?? first)...])) }
    }

    /// The element is `carried` + `chunk[from..<to]`, without trailing white space.
    private mutating func emitElement(_ chunk: UnsafeRawBufferPointer, from: Int, to: Int, _ emit: Emit) {
        func trimmed(_ bytes: UnsafeRawBufferPointer) -> UnsafeRawBufferPointer {
            var end = bytes.count
            while end > 0, Self.isSpace(bytes[end - 1]) { end -= 1 }
            return UnsafeRawBufferPointer(rebasing: bytes[0..<end])
        }
        let tail = UnsafeRawBufferPointer(rebasing: chunk[from..<to])
        if carried.isEmpty {
            let element = trimmed(tail)
            if !element.isEmpty { emit(element) }
        } else {
            carried.append(contentsOf: tail)
            carried.withUnsafeBytes { bytes in
                let element = trimmed(bytes)
                if !element.isEmpty { emit(element) }
            }
            carried.removeAll(keepingCapacity: true)
        }
    }
}
