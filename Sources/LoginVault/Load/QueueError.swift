/// A queue operation failed; `retryable` says whether waiting may help
/// (throttling, 5xx, network) or not (no such queue, access denied).
public struct QueueError: Error, Sendable, CustomStringConvertible {
    public let message: String
    public let retryable: Bool

    public init(_ message: String, retryable: Bool) {
        self.message = message
        self.retryable = retryable
    }

    public var description: String { message }
}
