/// How failed calls are retried: capped exponential backoff with full jitter.
///
/// Retried: throttling (any 4xx/5xx with a throttling code, or HTTP 429), every 5xx, connection
/// failures and timeouts. Any other 4xx fails at once with AWS's code and message. Attempt `n`
/// (1-based) is followed, if it fails retryably, by a sleep drawn uniformly from
/// `0 ... min(maxDelay, baseDelay * 2^(n-1))`.
///
/// As in the AWS SDKs, a retried `SendMessageBatch` whose first attempt did reach the queue
/// (e.g. the connection dropped after the server accepted it) sends the messages twice.
public struct RetryPolicy: Sendable {
    /// Total attempts, the first included (1 disables retries).
    public var maxAttempts: Int
    public var baseDelay: Duration
    public var maxDelay: Duration

    public init(maxAttempts: Int, baseDelay: Duration, maxDelay: Duration) {
        precondition(maxAttempts >= 1, "maxAttempts must be at least 1")
        self.maxAttempts = maxAttempts
        self.baseDelay = baseDelay
        self.maxDelay = maxDelay
    }

    /// 5 attempts, 200 ms base, 20 s cap.
    public static let `default` = RetryPolicy(maxAttempts: 5, baseDelay: .milliseconds(200), maxDelay: .seconds(20))
    /// One attempt, no retries.
    public static let none = RetryPolicy(maxAttempts: 1, baseDelay: .zero, maxDelay: .zero)

    /// The upper bound of the sleep after failed attempt `attempt` (1-based).
    public func backoffCap(afterAttempt attempt: Int) -> Duration {
        let exponent = min(max(attempt - 1, 0), 30)
        let cap = baseDelay * (1 << exponent)
        return cap < maxDelay ? cap : maxDelay
    }

    /// A full-jitter delay after failed attempt `attempt`: uniform in `0 ... backoffCap`.
    public func delay(afterAttempt attempt: Int, using generator: inout some RandomNumberGenerator) -> Duration {
        let cap = backoffCap(afterAttempt: attempt)
        let fraction = Double.random(in: 0...1, using: &generator)
        return cap * fraction
    }
}
