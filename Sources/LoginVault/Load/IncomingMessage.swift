import Foundation

/// One message on its way into `raw_logins`: the body exactly as received, and
/// the envelope facts the database keeps (id, sent time, receive count).
/// Nothing here judges the body: the database does (`stage_incoming_logins`,
/// sql/definitions/40_staging.sql), including a NUL byte or invalid UTF-8.
public struct IncomingMessage: Sendable {
    /// The body's bytes as they came: SQS's text, or a file's raw bytes.
    public enum Body: Sendable, Equatable {
        case text(String)
        case bytes([UInt8])
    }

    /// The SQS message id, or a synthetic one for `--from-file`.
    public let messageId: String
    /// The body, untouched.
    public let rawBody: Body
    /// SQS `SentTimestamp`; nil for messages read from a file.
    public let sentAt: Date?
    /// SQS `ApproximateReceiveCount`; nil for messages read from a file.
    public let receiveCount: Int?
    /// What SQS needs to delete or release the message; nil for a file.
    public let receiptHandle: String?
    /// When this process got the message (for the receive-to-commit and receive-to-delete metrics).
    public let receivedAt: ContinuousClock.Instant

    public init(messageId: String, body: String, sentAt: Date? = nil, receiveCount: Int? = nil,
                receiptHandle: String? = nil, receivedAt: ContinuousClock.Instant = .now) {
        self.init(messageId: messageId, rawBody: .text(body), sentAt: sentAt, receiveCount: receiveCount,
                  receiptHandle: receiptHandle, receivedAt: receivedAt)
    }

    public init(messageId: String, rawBody: Body, sentAt: Date? = nil, receiveCount: Int? = nil,
                receiptHandle: String? = nil, receivedAt: ContinuousClock.Instant = .now) {
        self.messageId = messageId
        self.rawBody = rawBody
        self.sentAt = sentAt
        self.receiveCount = receiveCount
        self.receiptHandle = receiptHandle
        self.receivedAt = receivedAt
    }

    /// The body as text (invalid UTF-8 replaced), for logs and tests; never what is staged.
    public var body: String {
        switch rawBody {
        case .text(let text): return text
        case .bytes(let bytes): return String(decoding: bytes, as: UTF8.self)
        }
    }

    /// The body's bytes.
    public var bodyBytes: [UInt8] {
        switch rawBody {
        case .text(let text): return Array(text.utf8)
        case .bytes(let bytes): return bytes
        }
    }
}
