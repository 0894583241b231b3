import Foundation
@testable import SQS
import Testing

/// `ReceiveAnswerDecoder` against `JSONDecoder` (what the client used before): on
/// generated answers, on every prefix of one, and on mutated ones, the two must
/// agree, both on the values and on refusing.
@Suite("ReceiveMessage answer decoding")
struct ReceiveAnswerDecoderTests {
    /// The answer's shape as the client decoded it with `JSONDecoder`.
    struct ReferenceOutput: Decodable {
        struct WireMessage: Decodable {
            let MessageId: String
            let ReceiptHandle: String
            let MD5OfBody: String
            let Body: String
            let Attributes: [String: String]?
        }
        let Messages: [WireMessage]?
    }

    /// nil when the reference refuses the bytes.
    static func reference(_ bytes: [UInt8]) -> [ReceiveAnswerDecoder.WireMessage]? {
        var data = Data(bytes)
        if data.allSatisfy({ $0 == 0x20 || $0 == 0x0A || $0 == 0x0D || $0 == 0x09 }) { data = Data("{}".utf8) }
        guard let output = try? JSONDecoder().decode(ReferenceOutput.self, from: data) else { return nil }
        return (output.Messages ?? []).map {
            .init(messageId: $0.MessageId, receiptHandle: $0.ReceiptHandle, md5OfBody: $0.MD5OfBody, body: $0.Body, attributes: $0.Attributes)
        }
    }

    static func decoded(_ bytes: [UInt8]) -> [ReceiveAnswerDecoder.WireMessage]? {
        bytes.withUnsafeBytes { try? ReceiveAnswerDecoder.decode($0) }
    }

    static func decode(_ text: String) throws -> [ReceiveAnswerDecoder.WireMessage] {
        try Array(text.utf8).withUnsafeBytes { try ReceiveAnswerDecoder.decode($0) }
    }

    @Test func aTypicalAnswer() throws {
        let messages = try Self.decode(#"""
            {"Messages":[{"MessageId":"m-1","ReceiptHandle":"rh\/1","MD5OfBody":"abc","Body":"{\"user_id\":\"u\u00e9\",\"n\":\"\ud83d\ude00\"}",
              "Attributes":{"SentTimestamp":"1700000000000","ApproximateReceiveCount":"2"},"MD5OfMessageAttributes":"x",
              "MessageAttributes":{"a":{"DataType":"Number","StringValue":"1"}}}]}
            """#)
        #expect(messages == [.init(messageId: "m-1", receiptHandle: "rh/1", md5OfBody: "abc",
                                   body: #"{"user_id":"ué","n":"😀"}"#,
                                   attributes: ["SentTimestamp": "1700000000000", "ApproximateReceiveCount": "2"])])
        #expect(try Self.decode("{}") == [])
        #expect(try Self.decode(" \n") == [])
        #expect(try Self.decode(#"{"Messages":null}"#) == [])
        #expect(try Self.decode(#"{"Messages":[]}"#) == [])
        #expect(try Self.decode(#"{"Messages":[{"Body":"","MD5OfBody":"","ReceiptHandle":"","MessageId":"","Attributes":null}]}"#)
            == [.init(messageId: "", receiptHandle: "", md5OfBody: "", body: "", attributes: nil)])
    }

    @Test(arguments: [
        #"{"Messages":[{"MessageId":"m","ReceiptHandle":"r","MD5OfBody":"d"}]}"#,  // no Body
        #"{"Messages":[{"MessageId":"m","ReceiptHandle":"r","MD5OfBody":"d","Body":null}]}"#,
        #"{"Messages":[{"MessageId":"m","ReceiptHandle":"r","MD5OfBody":"d","Body":"\ud800"}]}"#,  // lone high surrogate
        #"{"Messages":[{"MessageId":"m","ReceiptHandle":"r","MD5OfBody":"d","Body":"\udc00"}]}"#,  // lone low surrogate
        #"{"Messages":[{"MessageId":"m","ReceiptHandle":"r","MD5OfBody":"d","Body":"\x"}]}"#,
        #"{"Messages":[{"MessageId":"m","ReceiptHandle":"r","MD5OfBody":"d","Body":"a","Attributes":{"SentTimestamp":1}}]}"#,
        #"{"Messages":[{"MessageId":"m","ReceiptHandle":"r","MD5OfBody":"d","Body":"a"}]} x"#,
        #"{"Messages":{}}"#, #"[]"#, #"null"#, #"{"Messages":[}"#, #"{"a":tru}"#, #"{"a":}"#,
        "{\"Messages\":[{\"MessageId\":\"m\",\"ReceiptHandle\":\"r\",\"MD5OfBody\":\"d\",\"Body\":\"a\tb\"}]}",  // raw tab
    ])
    func refusesWhatJSONDecoderRefuses(_ text: String) {
        #expect(Self.reference(Array(text.utf8)) == nil, "the reference should refuse this too")
        #expect(throws: ReceiveAnswerDecoder.Failure.self) { try Self.decode(text) }
    }

    @Test func refusesInvalidUTF8AndDeepNesting() {
        var bytes = Array(#"{"Messages":[{"MessageId":"m","ReceiptHandle":"r","MD5OfBody":"d","Body":"a"#.utf8)
        bytes += [0xC3, 0x28] + Array(#""}]}"#.utf8)
        #expect(Self.reference(bytes) == nil)
        #expect(Self.decoded(bytes) == nil)
        let deep = #"{"x":"# + String(repeating: "[", count: 100_000) + String(repeating: "]", count: 100_000) + "}"
        #expect(throws: ReceiveAnswerDecoder.Failure.self) { try Self.decode(deep) }
    }

    @Test func failuresNeverQuoteTheInput() {
        let secret = "203.0.113.77"
        let text = #"{"Messages":[{"MessageId":"m","ReceiptHandle":"r","MD5OfBody":"d","Body":"\#(secret)"# + "\u{1}" + #""}]}"#
        do {
            _ = try Self.decode(text)
            Issue.record("a control character in a string must be refused")
        } catch {
            #expect(!String(describing: error).contains(secret))
            #expect(String(describing: error).contains("control character"))
        }
    }

    @Test func agreesWithJSONDecoderOnGeneratedAnswers() {
        var generator = AnswerGenerator(seed: 0x5151_0001)
        var compared = 0
        for _ in 0..<400 {
            let (bytes, expected) = generator.answer()
            let ours = Self.decoded(bytes)
            #expect(ours == expected, "generated answer \(compared)")
            #expect(Self.reference(bytes) == expected, "the reference on generated answer \(compared)")
            compared += 1
        }
        #expect(compared == 400)
    }

    @Test func agreesWithJSONDecoderOnEveryPrefix() {
        var generator = AnswerGenerator(seed: 0x5151_0002)
        let (bytes, expected) = generator.answer(messages: 3)
        #expect(Self.decoded(bytes) == expected)
        for end in 0..<bytes.count {
            let prefix = Array(bytes[..<end])
            #expect(Self.decoded(prefix) == Self.reference(prefix), "prefix of \(end) bytes")
        }
    }

    /// Mutated answers are mostly invalid JSON. Where both decoders accept one, they
    /// must read the same messages; where they differ on accepting it, the difference
    /// lies in what JSONDecoder leaves unchecked (it does not look into values it skips
    /// and lets raw control characters through in keys; this decoder refuses a few of
    /// those): a refused answer is retried, so neither way loses or alters a message.
    @Test func agreesWithJSONDecoderOnMutatedAnswers() {
        var generator = AnswerGenerator(seed: 0x5151_0003)
        let alphabet = Array(#"{}[]:,"\/ u0a-+.eE1tfn"#.utf8) + [0x00, 0x1F, 0x7F, 0xC3, 0xA9, 0xED, 0xA0, 0x80, 0xFF]
        var refusedByBoth = 0
        var acceptedByBoth = 0
        for round in 0..<1_500 {
            var (bytes, _) = generator.answer(messages: 2)
            for _ in 0..<(1 + generator.next(3)) {
                let at = generator.next(bytes.count)
                switch generator.next(3) {
                case 0: bytes[at] = alphabet[generator.next(alphabet.count)]
                case 1: bytes.insert(alphabet[generator.next(alphabet.count)], at: at)
                default: bytes.remove(at: at)
                }
            }
            let ours = Self.decoded(bytes)
            let theirs = Self.reference(bytes)
            if let ours, let theirs {
                #expect(ours == theirs, "mutation round \(round)")
                acceptedByBoth += 1
            } else if ours == nil && theirs == nil {
                refusedByBoth += 1
            }
        }
        // Both outcomes must be common for the comparison to mean anything.
        #expect(refusedByBoth > 500)
        #expect(acceptedByBoth > 100)
    }
}

/// Random `ReceiveMessage` answers, serialised with every liberty JSON allows
/// (escapes, whitespace, key order, unknown members), with the values they hold.
struct AnswerGenerator {
    var state: UInt64

    init(seed: UInt64) { state = seed }

    mutating func next(_ bound: Int) -> Int {
        // SplitMix64: deterministic across runs and platforms.
        state &+= 0x9E37_79B9_7F4A_7C15
        var z = state
        z = (z ^ (z >> 30)) &* 0xBF58_476D_1CE4_E5B9
        z = (z ^ (z >> 27)) &* 0x94D0_49BB_1331_11EB
        z ^= z >> 31
        return Int(z % UInt64(bound))
    }

    static let characters: [Unicode.Scalar] = [
        "a", "Z", "0", " ", "\"", "\\", "/", "{", "}", ":", ",", "\u{0}", "\u{1}", "\u{8}", "\u{9}", "\u{A}", "\u{C}", "\u{D}",
        "\u{1F}", "\u{7F}", "é", "ß", "€", "\u{FFFD}", "\u{FEFF}", "\u{D7FF}", "\u{E000}", "😀", "\u{10FFFF}", "中",
    ]

    mutating func text() -> String {
        var scalars = String.UnicodeScalarView()
        for _ in 0..<next(12) { scalars.append(Self.characters[next(Self.characters.count)]) }
        return String(scalars)
    }

    mutating func whitespace() -> String {
        ["", "", "", " ", "\n", "\t", "\r\n  "][next(7)]
    }

    /// A JSON string literal for `value`, each character written one of the ways JSON allows.
    mutating func literal(_ value: String) -> String {
        var out = "\""
        for scalar in value.unicodeScalars {
            let mustEscape = scalar == "\"" || scalar == "\\" || scalar.value < 0x20
            switch (mustEscape, next(4)) {
            case (_, 0), (true, 1), (true, 3):
                if scalar.value > 0xFFFF {
                    let v = scalar.value - 0x10000
                    out += hex(0xD800 + (v >> 10)) + hex(0xDC00 + (v & 0x3FF))
                } else {
                    out += hex(scalar.value)
                }
            case (true, _):
                switch scalar {
                case "\"": out += "\\\""
                case "\\": out += "\\\\"
                case "\n": out += "\\n"
                case "\t": out += "\\t"
                case "\r": out += "\\r"
                case "\u{8}": out += "\\b"
                case "\u{C}": out += "\\f"
                default: out += hex(scalar.value)
                }
            default:
                out += scalar == "/" && next(2) == 0 ? "\\/" : String(scalar)
            }
        }
        return out + "\""
    }

    mutating func hex(_ value: UInt32) -> String {
        let digits = String(value, radix: 16)
        let padded = String(repeating: "0", count: 4 - digits.count) + digits
        return "\\u" + (next(2) == 0 ? padded : padded.uppercased())
    }

    /// Some JSON value of any type, for members the decoder must skip.
    mutating func anyValue(depth: Int = 0) -> String {
        switch next(depth > 2 ? 5 : 7) {
        case 0: return literal(text())
        case 1: return ["0", "-1", "12.5", "-0.25e+3", "1E9", "3e-2"][next(6)]
        case 2: return ["true", "false", "null"][next(3)]
        case 3: return literal("")
        case 4: return "[]"
        case 5: return "[" + (0..<next(3)).map { _ in whitespace() + anyValue(depth: depth + 1) }.joined(separator: ",") + "]"
        default:
            return "{" + (0..<next(3)).map { _ in literal(text()) + ":" + whitespace() + anyValue(depth: depth + 1) }.joined(separator: ",") + "}"
        }
    }

    mutating func object(_ members: [(String, String)]) -> String {
        var members = members
        for _ in 0..<next(3) { members.append((["MD5OfMessageAttributes", "MessageAttributes", "X"][next(3)], anyValue())) }
        members.shuffle(using: &self)
        return "{" + members.map { key, value in whitespace() + literal(key) + whitespace() + ":" + whitespace() + value + whitespace() }
            .joined(separator: ",") + "}"
    }

    mutating func answer(messages count: Int? = nil) -> ([UInt8], [ReceiveAnswerDecoder.WireMessage]) {
        var expected: [ReceiveAnswerDecoder.WireMessage] = []
        var encoded: [String] = []
        for _ in 0..<(count ?? next(11)) {
            var attributes: [String: String]?
            if next(3) > 0 {
                var values: [String: String] = [:]
                for _ in 0..<next(3) { values[text()] = text() }
                attributes = values
            }
            let message = ReceiveAnswerDecoder.WireMessage(
                messageId: text(), receiptHandle: text(), md5OfBody: text(), body: text(), attributes: attributes)
            var members = [("MessageId", literal(message.messageId)), ("ReceiptHandle", literal(message.receiptHandle)),
                           ("MD5OfBody", literal(message.md5OfBody)), ("Body", literal(message.body))]
            if let attributes = message.attributes {
                var pairs: [String] = []
                for (name, value) in attributes.sorted(by: { $0.key < $1.key }) {
                    let pair: String = literal(name) + ":" + whitespace() + literal(value)
                    pairs.append(pair)
                }
                members.append(("Attributes", "{" + pairs.joined(separator: ",") + "}"))
            } else if next(2) == 0 {
                members.append(("Attributes", "null"))
            }
            expected.append(message)
            encoded.append(object(members))
        }
        let list = count == nil && encoded.isEmpty && next(2) == 0 ? "null" : "[" + encoded.joined(separator: "," + whitespace()) + "]"
        let json: String = whitespace() + object([("Messages", list)]) + whitespace()
        return (Array(json.utf8), expected)
    }
}

extension AnswerGenerator: RandomNumberGenerator {
    mutating func next() -> UInt64 {
        UInt64(next(Int.max)) &* 2 &+ UInt64(next(2))
    }
}
