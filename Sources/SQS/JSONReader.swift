/// A cursor over JSON bytes (RFC 8259) for the hand-written answer decoders: reads
/// objects, arrays, strings and booleans, and skips any other value (without
/// judging its inside, as `JSONDecoder` does not). A `Failure` names the
/// offset, never the bytes.
struct JSONReader {
    let bytes: UnsafeRawBufferPointer
    var offset = 0
    var depth = 0
    static let maxDepth = 512

    init(bytes: UnsafeRawBufferPointer) { self.bytes = bytes }

    var atEnd: Bool { offset >= bytes.count }

    func failure(_ problem: String) -> Failure { Failure(offset: offset, problem: problem) }

    /// Why the bytes could not be read: where and what, never the bytes.
    struct Failure: Error, CustomStringConvertible {
        var offset: Int
        var problem: String
        var description: String { "\(problem) at byte \(offset)" }
    }

    mutating func skipWhitespace() {
        while offset < bytes.count {
            switch bytes[offset] {
            case 0x20, 0x0A, 0x0D, 0x09: offset += 1
            default: return
            }
        }
    }

    /// The next non-whitespace byte, not consumed.
    mutating func peek() throws -> UInt8 {
        skipWhitespace()
        guard offset < bytes.count else { throw failure("unexpected end of input") }
        return bytes[offset]
    }

    mutating func expect(_ byte: UInt8, _ what: String) throws {
        guard try peek() == byte else { throw failure("expected \(what)") }
        offset += 1
    }

    /// `{ "key": value, ... }`, calling `member` with the reader at each value.
    mutating func object(_ member: (inout JSONReader, String) throws -> Void) throws {
        try members(readingKeys: true) { reader, key in try member(&reader, key ?? "") }
    }

    /// The members of an object; keys are read (unescaped) only if `readingKeys`,
    /// otherwise skipped unjudged and passed as nil.
    private mutating func members(readingKeys: Bool, _ member: (inout JSONReader, String?) throws -> Void) throws {
        try expect(UInt8(ascii: "{"), "an object")
        try enter()
        defer { depth -= 1 }
        if try peek() == UInt8(ascii: "}") { offset += 1; return }
        while true {
            guard try peek() == UInt8(ascii: "\"") else { throw failure("expected a key") }
            var key: String?
            if readingKeys { key = try string(isKey: true) } else { try skipString() }
            try expect(UInt8(ascii: ":"), "':'")
            try member(&self, key)
            switch try peek() {
            case UInt8(ascii: ","): offset += 1
            case UInt8(ascii: "}"): offset += 1; return
            default: throw failure("expected ',' or '}'")
            }
        }
    }

    /// `[ value, ... ]`, calling `element` with the reader at each value.
    mutating func array(_ element: (inout JSONReader) throws -> Void) throws {
        try expect(UInt8(ascii: "["), "an array")
        try enter()
        defer { depth -= 1 }
        if try peek() == UInt8(ascii: "]") { offset += 1; return }
        while true {
            try element(&self)
            switch try peek() {
            case UInt8(ascii: ","): offset += 1
            case UInt8(ascii: "]"): offset += 1; return
            default: throw failure("expected ',' or ']'")
            }
        }
    }

    private mutating func enter() throws {
        depth += 1
        guard depth <= Self.maxDepth else { throw failure("nested too deeply") }
    }

    /// Consumes `null` and returns true, or returns false with nothing consumed.
    mutating func null() throws -> Bool {
        guard try peek() == UInt8(ascii: "n") else { return false }
        try literal("null")
        return true
    }

    private mutating func literal(_ word: StaticString) throws {
        let count = word.utf8CodeUnitCount
        guard offset + count <= bytes.count else { throw failure("unexpected end of input") }
        for i in 0..<count where bytes[offset + i] != word.utf8Start[i] {
            throw failure("invalid literal")
        }
        offset += count
    }

    /// A JSON string, unescaped. Valid UTF-8 is required, as JSONDecoder requires it; so
    /// is escaping control characters, except in keys (which JSONDecoder lets through).
    mutating func string(isKey: Bool = false) throws -> String {
        try expect(UInt8(ascii: "\""), "a string")
        let start = offset
        // Fast path: no escape before the closing quote.
        while offset < bytes.count {
            let byte = bytes[offset]
            if byte == UInt8(ascii: "\"") {
                defer { offset += 1 }
                return try text(UnsafeRawBufferPointer(rebasing: bytes[start..<offset]), at: start)
            }
            if byte == UInt8(ascii: "\\") { break }
            if byte < 0x20 && !isKey { throw failure("control character in a string") }
            offset += 1
        }
        guard offset < bytes.count else { throw failure("unterminated string") }
        var unescaped = Array(UnsafeRawBufferPointer(rebasing: bytes[start..<offset]))
        while offset < bytes.count {
            let byte = bytes[offset]
            switch byte {
            case UInt8(ascii: "\""):
                offset += 1
                return try unescaped.withUnsafeBytes { try text($0, at: start) }
            case UInt8(ascii: "\\"):
                offset += 1
                guard offset < bytes.count else { throw failure("unterminated string") }
                let escape = bytes[offset]
                offset += 1
                switch escape {
                case UInt8(ascii: "\""), UInt8(ascii: "\\"), UInt8(ascii: "/"): unescaped.append(escape)
                case UInt8(ascii: "b"): unescaped.append(0x08)
                case UInt8(ascii: "f"): unescaped.append(0x0C)
                case UInt8(ascii: "n"): unescaped.append(0x0A)
                case UInt8(ascii: "r"): unescaped.append(0x0D)
                case UInt8(ascii: "t"): unescaped.append(0x09)
                case UInt8(ascii: "u"): try unicodeEscape(into: &unescaped)
                default: throw failure("invalid escape")
                }
            default:
                if byte < 0x20 && !isKey { throw failure("control character in a string") }
                unescaped.append(byte)
                offset += 1
            }
        }
        throw failure("unterminated string")
    }

    /// After `\u`: four hex digits, a surrogate pair as two escapes; appended as UTF-8.
    private mutating func unicodeEscape(into out: inout [UInt8]) throws {
        var scalar = try hex4()
        if (0xD800...0xDBFF).contains(scalar) {
            guard offset + 1 < bytes.count, bytes[offset] == UInt8(ascii: "\\"), bytes[offset + 1] == UInt8(ascii: "u") else {
                throw failure("a high surrogate escape without its low surrogate")
            }
            offset += 2
            let low = try hex4()
            guard (0xDC00...0xDFFF).contains(low) else { throw failure("a high surrogate escape without its low surrogate") }
            scalar = 0x10000 + ((scalar - 0xD800) << 10) + (low - 0xDC00)
        } else if (0xDC00...0xDFFF).contains(scalar) {
            throw failure("a lone low surrogate escape")
        }
        guard let value = Unicode.Scalar(scalar) else { throw failure("invalid \\u escape") }
        out.append(contentsOf: UTF8.encode(value)!)
    }

    private mutating func hex4() throws -> UInt32 {
        guard offset + 4 <= bytes.count else { throw failure("unexpected end of input") }
        var value: UInt32 = 0
        for _ in 0..<4 {
            let byte = bytes[offset]
            let digit: UInt8
            switch byte {
            case UInt8(ascii: "0")...UInt8(ascii: "9"): digit = byte - UInt8(ascii: "0")
            case UInt8(ascii: "a")...UInt8(ascii: "f"): digit = byte - UInt8(ascii: "a") + 10
            case UInt8(ascii: "A")...UInt8(ascii: "F"): digit = byte - UInt8(ascii: "A") + 10
            default: throw failure("invalid \\u escape")
            }
            value = value << 4 | UInt32(digit)
            offset += 1
        }
        return value
    }

    private func text(_ utf8: UnsafeRawBufferPointer, at start: Int) throws -> String {
        guard let text = String(validating: utf8.assumingMemoryBound(to: UInt8.self), as: UTF8.self) else {
            throw Failure(offset: start, problem: "a string that is not valid UTF-8")
        }
        return text
    }

    /// `true` or `false`.
    mutating func bool() throws -> Bool {
        switch try peek() {
        case UInt8(ascii: "t"): try literal("true"); return true
        case UInt8(ascii: "f"): try literal("false"); return false
        default: throw failure("expected a boolean")
        }
    }

    /// Skips one value of any type.
    mutating func skipValue() throws {
        switch try peek() {
        case UInt8(ascii: "\""): try skipString()
        case UInt8(ascii: "{"): try skipObject()
        case UInt8(ascii: "["): try array { reader in try reader.skipValue() }
        case UInt8(ascii: "t"): try literal("true")
        case UInt8(ascii: "f"): try literal("false")
        case UInt8(ascii: "n"): try literal("null")
        default: try number()
        }
    }

    /// Skips an object nobody reads: its keys are not judged either (as `skipString`).
    private mutating func skipObject() throws {
        try members(readingKeys: false) { reader, _ in try reader.skipValue() }
    }

    /// Skips a string whose value is not used: finds its end only. Like `JSONDecoder`, this
    /// does not judge the escapes or the UTF-8 of a value nobody reads.
    private mutating func skipString() throws {
        try expect(UInt8(ascii: "\""), "a string")
        while offset < bytes.count {
            switch bytes[offset] {
            case UInt8(ascii: "\""): offset += 1; return
            case UInt8(ascii: "\\"): offset += 2
            default: offset += 1
            }
        }
        throw failure("unterminated string")
    }

    /// Skips a number nobody reads: a run of the characters numbers are made of, not
    /// judged further (as `JSONDecoder` does not judge it).
    private mutating func number() throws {
        let start = offset
        while offset < bytes.count {
            switch bytes[offset] {
            case UInt8(ascii: "0")...UInt8(ascii: "9"), UInt8(ascii: "-"), UInt8(ascii: "+"), UInt8(ascii: "."),
                 UInt8(ascii: "e"), UInt8(ascii: "E"):
                offset += 1
            default:
                guard offset > start else { throw failure("unexpected character") }
                return
            }
        }
        guard offset > start else { throw failure("unexpected end of input") }
    }
}
