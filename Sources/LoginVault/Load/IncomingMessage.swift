import Foundation

/// One message on its way into `raw_logins`: the body exactly as received, and
/// the envelope facts the database keeps (id, sent time, receive count).
public struct IncomingMessage: Sendable {
    /// The SQS message id, or a synthetic one for `--from-file`.
    public let messageId: String
    /// The body, untouched.
    public let body: String
    /// SQS `SentTimestamp`; nil for messages read from a file.
    public let sentAt: Date?
    /// SQS `ApproximateReceiveCount`; nil for messages read from a file.
    public let receiveCount: Int?
    /// What SQS needs to delete or release the message; nil for a file.
    public let receiptHandle: String?
    /// Set when the body cannot be stored as text as it is (a file with invalid
    /// UTF-8 or a NUL byte): the message goes to the quarantine with this reason.
    public let unstorableReason: String?
    /// When this process got the message (for the receive-to-commit and receive-to-delete metrics).
    public let receivedAt: ContinuousClock.Instant

    public init(messageId: String, body: String, sentAt: Date? = nil, receiveCount: Int? = nil,
                receiptHandle: String? = nil, unstorableReason: String? = nil,
                receivedAt: ContinuousClock.Instant = .now) {
        self.messageId = messageId
        self.body = body
        self.sentAt = sentAt
        self.receiveCount = receiveCount
        self.receiptHandle = receiptHandle
        self.unstorableReason = unstorableReason
        self.receivedAt = receivedAt
    }
}
