/// The `ReceiveMessage` answer, read straight from the response bytes.
///
/// Receive answers are the one response with volume (up to ten bodies each, on
/// every request of a drain); `JSONDecoder` spent about 8 µs per message on
/// them, measured as 13% of the loader's CPU. This reads the few fields the
/// client uses in one pass, with no intermediate objects, and reads what
/// `JSONDecoder` reads for the same shape: any key order, unknown keys (of any
/// JSON type) skipped, `Messages` absent or null, every JSON string escape
/// including surrogate pairs. Truncated input, invalid UTF-8 or a lone
/// surrogate in a field it reads, a missing required field or a wrong type
/// throws `JSONReader.Failure`, whose description names the offset and the
/// problem but never quotes the input (it carries message bodies). Like
/// `JSONDecoder`, it does not judge the inside of values it skips; on such
/// malformed bytes the two may disagree on refusing (a refused answer is
/// retried, so neither way loses a message).
enum ReceiveAnswerDecoder {
    /// One message of the answer, as on the wire.
    struct WireMessage: Equatable {
        var messageId: String
        var receiptHandle: String
        var md5OfBody: String
        var body: String
        var attributes: [String: String]?
    }

    typealias Failure = JSONReader.Failure

    /// The messages of a `ReceiveMessage` answer body (`{"Messages": [...]}`).
    /// An empty or whitespace-only body means no messages, as `{}` does.
    static func decode(_ bytes: UnsafeRawBufferPointer) throws -> [WireMessage] {
        var reader = JSONReader(bytes: bytes)
        reader.skipWhitespace()
        if reader.atEnd { return [] }
        var messages: [WireMessage] = []
        try reader.object { reader, key in
            if key == "Messages" {
                if try reader.null() { return }
                try reader.array { reader in messages.append(try message(&reader)) }
            } else {
                try reader.skipValue()
            }
        }
        reader.skipWhitespace()
        guard reader.atEnd else { throw reader.failure("unexpected content after the answer") }
        return messages
    }

    private static func message(_ reader: inout JSONReader) throws -> WireMessage {
        let start = reader.offset
        var messageId: String?, receiptHandle: String?, md5: String?, body: String?
        var attributes: [String: String]?
        try reader.object { reader, key in
            switch key {
            case "MessageId": messageId = try reader.string()
            case "ReceiptHandle": receiptHandle = try reader.string()
            case "MD5OfBody": md5 = try reader.string()
            case "Body": body = try reader.string()
            case "Attributes":
                if try reader.null() { attributes = nil; return }
                var values: [String: String] = [:]
                try reader.object { reader, name in values[name] = try reader.string() }
                attributes = values
            default: try reader.skipValue()
            }
        }
        guard let messageId, let receiptHandle, let md5, let body else {
            throw Failure(offset: start, problem: "a message lacks MessageId, ReceiptHandle, MD5OfBody or Body")
        }
        return WireMessage(messageId: messageId, receiptHandle: receiptHandle, md5OfBody: md5, body: body, attributes: attributes)
    }
}
