/// What `load` needs from a queue: receive, delete, and change visibility.
/// `SQSQueue` adapts the SQS client to it.
public protocol MessageQueue: Sendable {
    /// Receives up to `maxMessages` (≤ 10), waiting up to `waitTimeSeconds` for the first.
    func receive(maxMessages: Int, waitTimeSeconds: Int, visibilityTimeout: Int) async throws -> [IncomingMessage]
    /// Deletes messages by receipt handle (any number; the adapter batches by ten).
    /// Returns the handles that could not be deleted, with a reason each.
    func delete(receiptHandles: [String]) async throws -> [ReceiptFailure]
    /// Sets the visibility timeout of messages (0: visible again at once).
    /// Returns the handles whose change was refused, with a reason each.
    @discardableResult
    func changeVisibility(receiptHandles: [String], timeout: Int) async throws -> [ReceiptFailure]
    /// Requests sent so far, retries included (for "requests per message").
    var requestCount: Int { get }
    /// Where the loops that call this queue should run to avoid a thread hop per
    /// request (the SQS client's event loop); nil: anywhere.
    var taskExecutor: (any TaskExecutor)? { get }
}

extension MessageQueue {
    public var taskExecutor: (any TaskExecutor)? { nil }
}

/// A receipt handle SQS refused to delete (or to change the visibility of), with
/// AWS's error code, and whether trying again may help.
public struct ReceiptFailure: Sendable, Equatable {
    public let receiptHandle: String
    public let code: String
    public let retryable: Bool

    public init(receiptHandle: String, code: String, retryable: Bool) {
        self.receiptHandle = receiptHandle
        self.code = code
        self.retryable = retryable
    }

    /// SQS's code for a receipt handle it does not (or no longer) know.
    public static let invalidHandle = "ReceiptHandleIsInvalid"
}
