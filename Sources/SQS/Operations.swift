import Crypto
import SigV4
import Foundation

// The SQS actions loginvault uses, over `SQSClient.call`. Wire shapes are private; the public
// API speaks `SQSMessage`, `SQSBatchEntry`, `SQSBatchResult`.

extension SQSClient {
    /// The URL of a queue given by URL (returned as is) or by name (looked up with `GetQueueUrl`).
    public func queueURL(for nameOrURL: String) async throws -> String {
        let lower = nameOrURL.lowercased()
        if lower.hasPrefix("https://") || lower.hasPrefix("http://") { return nameOrURL }
        struct Input: Encodable { let QueueName: String }
        struct Output: Decodable { let QueueUrl: String }
        return try await call("GetQueueUrl", Input(QueueName: nameOrURL), as: Output.self).QueueUrl
    }

    /// Receives up to `maxMessages` (1...10) messages, long-polling up to `waitTimeSeconds` (0...20).
    ///
    /// Asks for the system attributes in `attributeNames` (by default all of them, so
    /// `SentTimestamp` and `ApproximateReceiveCount` are set; naming only the ones needed makes
    /// the responses smaller and cheaper for the service to build). Each body's MD5 is checked against `MD5OfBody`; see `MD5MismatchPolicy` for what happens
    /// on a mismatch (by default the call throws `SQSError` with code `MD5Mismatch`). The request
    /// timeout is `waitTimeSeconds + configuration.longPollGrace`.
    public func receiveMessages(queueURL: String, maxMessages: Int = 10, waitTimeSeconds: Int = 20,
                                visibilityTimeout: Int? = nil, attributeNames: [String] = ["All"],
                                onMD5Mismatch: MD5MismatchPolicy = .fail) async throws -> [SQSMessage] {
        guard (1...10).contains(maxMessages), (0...20).contains(waitTimeSeconds) else {
            throw SQSError(code: SQSError.LocalCode.invalidArgument,
                           message: "maxMessages must be 1...10 and waitTimeSeconds 0...20 (got \(maxMessages), \(waitTimeSeconds))",
                           action: "ReceiveMessage", attempts: 0, isRetryable: false)
        }
        // Written by hand (JSONBodyWriter), members in the order JSONEncoder's sortedKeys gave.
        var input = JSONBodyWriter()
        input.member("AttributeNames", attributeNames)  // the pre-2023 name; older servers (and moto) read it
        input.member("MaxNumberOfMessages", maxMessages)
        input.member("MessageSystemAttributeNames", attributeNames)
        input.member("QueueUrl", queueURL)
        if let visibilityTimeout { input.member("VisibilityTimeout", visibilityTimeout) }
        input.member("WaitTimeSeconds", waitTimeSeconds)
        let wireMessages = try await call(
            "ReceiveMessage", body: input.finished(),
            timeout: .seconds(waitTimeSeconds) + configuration.longPollGrace, decode: ReceiveAnswerDecoder.decode)
        let messages = wireMessages.map { wire in
            let attributes = wire.attributes ?? [:]
            return SQSMessage(
                messageId: wire.messageId, receiptHandle: wire.receiptHandle, body: wire.body, md5OfBody: wire.md5OfBody,
                md5Matches: Self.md5Hex(wire.body) == wire.md5OfBody.lowercased(),
                sentTimestamp: attributes["SentTimestamp"].flatMap(Double.init).map { Date(timeIntervalSince1970: $0 / 1000) },
                approximateReceiveCount: attributes["ApproximateReceiveCount"].flatMap { Int($0) },
                attributes: attributes)
        }
        let bad = messages.filter { !$0.md5Matches }
        if !bad.isEmpty {
            logger.warning("SQS body MD5 mismatch", metadata: ["message_ids": "\(bad.map(\.messageId))"])
            if onMD5Mismatch == .fail {
                throw SQSError(
                    code: SQSError.LocalCode.md5Mismatch,
                    message: "the body of \(bad.count) of \(messages.count) received messages does not match its MD5OfBody "
                        + "(\(bad.map(\.messageId).joined(separator: ", "))); none of the batch was returned, it becomes visible again after its visibility timeout",
                    action: "ReceiveMessage", isRetryable: false, messageIds: bad.map(\.messageId))
            }
        }
        return messages
    }

    /// Deletes up to 10 messages; the result lists, per entry id, success or AWS's reason for failure.
    public func deleteMessageBatch(queueURL: String, entries: [SQSBatchEntry]) async throws -> SQSBatchResult {
        try Self.checkBatch(entries.map(\.id), action: "DeleteMessageBatch")
        var input = JSONBodyWriter()
        input.member("Entries", objects: entries) { entry, e in
            entry.member("Id", e.id)
            entry.member("ReceiptHandle", e.receiptHandle)
        }
        input.member("QueueUrl", queueURL)
        let output = try await call("DeleteMessageBatch", body: input.finished(), decode: BatchOutput.decode)
        return output.result
    }

    /// Changes the visibility timeout of up to 10 in-flight messages (0 makes them visible at once).
    public func changeMessageVisibilityBatch(
        queueURL: String, entries: [(id: String, receiptHandle: String, visibilityTimeout: Int)]
    ) async throws -> SQSBatchResult {
        try Self.checkBatch(entries.map(\.id), action: "ChangeMessageVisibilityBatch")
        var input = JSONBodyWriter()
        input.member("Entries", objects: entries) { entry, e in
            entry.member("Id", e.id)
            entry.member("ReceiptHandle", e.receiptHandle)
            entry.member("VisibilityTimeout", e.visibilityTimeout)
        }
        input.member("QueueUrl", queueURL)
        let output = try await call("ChangeMessageVisibilityBatch", body: input.finished(), decode: BatchOutput.decode)
        return output.result
    }

    /// Queue attributes by name (`["All"]` for every one).
    public func getQueueAttributes(queueURL: String, names: [String] = ["All"]) async throws -> [String: String] {
        struct Input: Encodable { let QueueUrl: String; let AttributeNames: [String] }
        struct Output: Decodable { let Attributes: [String: String]? }
        return try await call("GetQueueAttributes", Input(QueueUrl: queueURL, AttributeNames: names), as: Output.self).Attributes ?? [:]
    }

    /// Creates a queue (or returns the existing one with the same attributes) and returns its URL.
    public func createQueue(name: String, attributes: [String: String] = [:]) async throws -> String {
        struct Input: Encodable { let QueueName: String; let Attributes: [String: String]? }
        struct Output: Decodable { let QueueUrl: String }
        return try await call("CreateQueue", Input(QueueName: name, Attributes: attributes.isEmpty ? nil : attributes), as: Output.self).QueueUrl
    }

    /// Sends up to 10 messages; entry ids are the bodies' indices ("0", "1", ...). The MD5 the
    /// service reports for each accepted body is checked; a mismatch throws `MD5Mismatch`.
    /// `messageGroupId` is for FIFO queues (with content-based deduplication).
    public func sendMessageBatch(queueURL: String, bodies: [String], messageGroupId: String? = nil) async throws -> SQSBatchResult {
        let ids = bodies.indices.map(String.init)
        try Self.checkBatch(ids, action: "SendMessageBatch")
        struct Entry: Encodable { let Id: String; let MessageBody: String; let MessageGroupId: String? }
        struct Input: Encodable { let QueueUrl: String; let Entries: [Entry] }
        let output = try await call(
            "SendMessageBatch",
            Input(QueueUrl: queueURL, Entries: zip(ids, bodies).map { Entry(Id: $0, MessageBody: $1, MessageGroupId: messageGroupId) }),
            decode: BatchOutput.decode)
        let bad = (output.Successful ?? []).filter { entry in
            guard let md5 = entry.MD5OfMessageBody, let index = Int(entry.Id), bodies.indices.contains(index) else { return false }
            return md5.lowercased() != Self.md5Hex(bodies[index])
        }
        if !bad.isEmpty {
            throw SQSError(code: SQSError.LocalCode.md5Mismatch,
                           message: "the service reports a different MD5 for entries \(bad.map(\.Id).joined(separator: ", "))",
                           action: "SendMessageBatch", isRetryable: false, messageIds: bad.compactMap(\.MessageId))
        }
        return output.result
    }

    /// Deletes every message in the queue.
    public func purgeQueue(queueURL: String) async throws {
        struct Input: Encodable { let QueueUrl: String }
        struct Output: Decodable {}
        _ = try await call("PurgeQueue", Input(QueueUrl: queueURL), as: Output.self)
    }

    // MARK: - Helpers

    /// Lower-case hex MD5 of a string's UTF-8 bytes (what `MD5OfBody` is).
    public static func md5Hex(_ body: String) -> String {
        var body = body
        return body.withUTF8 { lowercaseHex(Insecure.MD5.hash(data: UnsafeRawBufferPointer($0))) }
    }

    static func checkBatch(_ ids: [String], action: String) throws {
        guard (1...10).contains(ids.count) else {
            throw SQSError(code: SQSError.LocalCode.invalidArgument, message: "a batch has 1...10 entries, not \(ids.count)",
                           action: action, attempts: 0, isRetryable: false)
        }
        guard Set(ids).count == ids.count else {
            throw SQSError(code: SQSError.LocalCode.invalidArgument, message: "batch entry ids must be distinct",
                           action: action, attempts: 0, isRetryable: false)
        }
    }
}

/// The response of the batch actions.
struct BatchOutput: Decodable {
    struct Success: Decodable { let Id: String; let MessageId: String?; let MD5OfMessageBody: String? }
    struct Failure: Decodable { let Id: String; let Code: String; let Message: String?; let SenderFault: Bool? }
    let Successful: [Success]?
    let Failed: [Failure]?

    var result: SQSBatchResult {
        var messageIds: [String: String] = [:]
        for s in Successful ?? [] { if let m = s.MessageId { messageIds[s.Id] = m } }
        return SQSBatchResult(
            successful: (Successful ?? []).map(\.Id),
            failed: (Failed ?? []).map { SQSBatchFailure(id: $0.Id, code: $0.Code, message: $0.Message ?? "", senderFault: $0.SenderFault ?? false) },
            messageIds: messageIds)
    }
}
