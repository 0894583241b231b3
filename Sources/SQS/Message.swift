import Foundation

/// A message received from SQS. `body` is exactly what the service returned.
public struct SQSMessage: Sendable, Equatable {
    public var messageId: String
    public var receiptHandle: String
    public var body: String
    public var md5OfBody: String
    /// Whether the MD5 of `body` (UTF-8) equals `md5OfBody`. Always `true` for messages returned
    /// with the default `.fail` policy (a mismatch throws instead).
    public var md5Matches: Bool
    /// `SentTimestamp` (milliseconds since the epoch in the wire format).
    public var sentTimestamp: Date?
    /// `ApproximateReceiveCount`: 1 on first delivery, 2 on the first redelivery, ...
    public var approximateReceiveCount: Int?
    /// All system attributes the service returned, as strings.
    public var attributes: [String: String]

    public init(
        messageId: String, receiptHandle: String, body: String, md5OfBody: String, md5Matches: Bool = true,
        sentTimestamp: Date? = nil, approximateReceiveCount: Int? = nil, attributes: [String: String] = [:]
    ) {
        self.messageId = messageId
        self.receiptHandle = receiptHandle
        self.body = body
        self.md5OfBody = md5OfBody
        self.md5Matches = md5Matches
        self.sentTimestamp = sentTimestamp
        self.approximateReceiveCount = approximateReceiveCount
        self.attributes = attributes
    }
}

/// What `receiveMessages` does when a body does not match its `MD5OfBody`.
public enum MD5MismatchPolicy: Sendable {
    /// Throw `SQSError` with code `MD5Mismatch` and the ids of the bad messages; nothing of the
    /// batch is returned, so nothing can be staged or deleted: every message of the batch
    /// becomes visible again after its visibility timeout (and a persistently bad one ends in
    /// the queue's dead-letter queue, if there is a redrive policy).
    case fail
    /// Return every message with `md5Matches` set; the caller must not stage or delete the
    /// mismatching ones (leave them to redelivery), but can process the rest.
    case mark
}

/// One entry of a `DeleteMessageBatch`: a caller-chosen id (unique in the batch) and a receipt handle.
public struct SQSBatchEntry: Sendable, Equatable {
    public var id: String
    public var receiptHandle: String

    public init(id: String, receiptHandle: String) {
        self.id = id
        self.receiptHandle = receiptHandle
    }
}

/// A batch entry the service refused.
public struct SQSBatchFailure: Sendable, Equatable {
    public var id: String
    public var code: String
    public var message: String
    public var senderFault: Bool

    public init(id: String, code: String, message: String, senderFault: Bool) {
        self.id = id
        self.code = code
        self.message = message
        self.senderFault = senderFault
    }
}

/// The outcome of a batch call: which entry ids succeeded, which failed and why.
public struct SQSBatchResult: Sendable, Equatable {
    public var successful: [String]
    public var failed: [SQSBatchFailure]
    /// For `SendMessageBatch`: entry id → the new message's id.
    public var messageIds: [String: String]

    public init(successful: [String], failed: [SQSBatchFailure], messageIds: [String: String] = [:]) {
        self.successful = successful
        self.failed = failed
        self.messageIds = messageIds
    }
}
