import NIOConcurrencyHelpers

/// One SQS HTTP attempt as `SQSClient` saw it, for metrics: which action, how it ended,
/// and whether it will be retried. Carries no body, URL, credential or header.
public struct SQSRequestEvent: Sendable, Equatable {
    /// How an attempt ended.
    public enum Outcome: String, Sendable, CaseIterable {
        /// A 2xx answer.
        case success
        /// An error answer with a throttling code (or HTTP 429).
        case throttled
        /// Any other 4xx answer (access denied, no such queue, bad signature, ...).
        case clientError = "client_error"
        /// A 5xx answer.
        case serverError = "server_error"
        /// No answer in time.
        case timeout
        /// The connection failed or broke.
        case transportError = "transport_error"
    }

    /// The SQS action, e.g. `ReceiveMessage`.
    public let action: String
    public let outcome: Outcome
    /// Whether the client sleeps and sends this request again.
    public let willRetry: Bool

    public init(action: String, outcome: Outcome, willRetry: Bool) {
        self.action = action
        self.outcome = outcome
        self.willRetry = willRetry
    }
}

/// Where `SQSClient` reports its attempts (`SQSClient.observeRequests`).
final class SQSRequestObservers: Sendable {
    private let observers = NIOLockedValueBox<[@Sendable (SQSRequestEvent) -> Void]>([])

    func add(_ observer: @escaping @Sendable (SQSRequestEvent) -> Void) {
        observers.withLockedValue { $0.append(observer) }
    }

    func report(_ action: String, _ outcome: SQSRequestEvent.Outcome, willRetry: Bool) {
        let current = observers.withLockedValue { $0 }
        guard !current.isEmpty else { return }
        let event = SQSRequestEvent(action: action, outcome: outcome, willRetry: willRetry)
        for observer in current { observer(event) }
    }
}

extension SQSRequestEvent.Outcome {
    /// The outcome of an attempt that ended with `error`.
    init(_ error: SQSError) {
        if error.isThrottling {
            self = .throttled
        } else if error.code == SQSError.LocalCode.timeout {
            self = .timeout
        } else if error.code == SQSError.LocalCode.transport {
            self = .transportError
        } else if let status = error.httpStatus, status >= 500 {
            self = .serverError
        } else {
            self = .clientError
        }
    }
}
