extension BatchOutput {
    /// The answer of the batch actions (`{"Successful": [...], "Failed": [...]}`), read
    /// straight from the response bytes like `ReceiveAnswerDecoder` reads receive answers:
    /// one delete answer per ten messages of a drain went through `JSONDecoder` before
    /// (about 5% of the loader's CPU). Reads what `JSONDecoder` reads for `BatchOutput`
    /// (see `ReceiveAnswerDecoder` on malformed bytes in skipped values); an empty or
    /// whitespace-only answer has no entries.
    static func decode(_ bytes: UnsafeRawBufferPointer) throws -> BatchOutput {
        var reader = JSONReader(bytes: bytes)
        reader.skipWhitespace()
        var successful: [Success]?
        var failed: [Failure]?
        if !reader.atEnd {
            try reader.object { reader, key in
                switch key {
                case "Successful":
                    if try reader.null() { successful = nil; return }
                    var entries: [Success] = []
                    try reader.array { reader in entries.append(try success(&reader)) }
                    successful = entries
                case "Failed":
                    if try reader.null() { failed = nil; return }
                    var entries: [Failure] = []
                    try reader.array { reader in entries.append(try failure(&reader)) }
                    failed = entries
                default:
                    try reader.skipValue()
                }
            }
            reader.skipWhitespace()
            guard reader.atEnd else { throw reader.failure("unexpected content after the answer") }
        }
        return BatchOutput(Successful: successful, Failed: failed)
    }

    private static func success(_ reader: inout JSONReader) throws -> Success {
        let start = reader.offset
        var id: String?, messageId: String?, md5: String?
        try reader.object { reader, key in
            switch key {
            case "Id": id = try reader.string()
            case "MessageId": messageId = try reader.null() ? nil : try reader.string()
            case "MD5OfMessageBody": md5 = try reader.null() ? nil : try reader.string()
            default: try reader.skipValue()
            }
        }
        guard let id else { throw JSONReader.Failure(offset: start, problem: "a Successful entry lacks its Id") }
        return Success(Id: id, MessageId: messageId, MD5OfMessageBody: md5)
    }

    private static func failure(_ reader: inout JSONReader) throws -> Failure {
        let start = reader.offset
        var id: String?, code: String?, message: String?, senderFault: Bool?
        try reader.object { reader, key in
            switch key {
            case "Id": id = try reader.string()
            case "Code": code = try reader.string()
            case "Message": message = try reader.null() ? nil : try reader.string()
            case "SenderFault": senderFault = try reader.null() ? nil : try reader.bool()
            default: try reader.skipValue()
            }
        }
        guard let id, let code else { throw JSONReader.Failure(offset: start, problem: "a Failed entry lacks its Id or Code") }
        return Failure(Id: id, Code: code, Message: message, SenderFault: senderFault)
    }
}
