/// An SQS call that failed: AWS's error code and message when the service answered, or a
/// transport, timeout, integrity or argument problem otherwise.
///
/// `code` is the modern AWS error code (`QueueDoesNotExist`, `AccessDenied`,
/// `SignatureDoesNotMatch`, `ThrottlingException`, ...); legacy query-protocol codes such as
/// `AWS.SimpleQueueService.NonExistentQueue` are normalised to it and kept in `queryErrorCode`.
public struct SQSError: Error, Sendable, CustomStringConvertible {
    /// Codes this client produces itself (the service's own codes are passed through).
    public enum LocalCode {
        /// The request could not be sent or the connection failed (reset, refused, closed).
        public static let transport = "TransportError"
        /// No complete response within the request's timeout.
        public static let timeout = "RequestTimeout"
        /// A received body did not match its `MD5OfBody` (see `SQSClient.receiveMessages`).
        public static let md5Mismatch = "MD5Mismatch"
        /// The server answered 2xx with something that is not the expected JSON.
        public static let invalidResponse = "InvalidResponse"
        /// The call was rejected before anything was sent (e.g. more than 10 batch entries).
        public static let invalidArgument = "InvalidArgument"
        /// No credentials to sign with (see `CredentialsProvider`); nothing was sent.
        public static let credentials = "CredentialsUnavailable"
    }

    public var code: String
    public var message: String
    /// The action that failed, e.g. `ReceiveMessage`.
    public var action: String
    public var httpStatus: Int?
    public var requestId: String?
    /// The query-protocol code from `x-amzn-query-error`, e.g. `AWS.SimpleQueueService.NonExistentQueue`.
    public var queryErrorCode: String?
    /// `Sender` or `Receiver`, when the service said.
    public var faultType: String?
    /// How many HTTP attempts were made before giving up (0: nothing was sent).
    public var attempts: Int
    public var isThrottling: Bool
    public var isRetryable: Bool
    /// For `MD5Mismatch`: the ids of the messages whose bodies did not match.
    public var messageIds: [String]

    public init(
        code: String, message: String, action: String, httpStatus: Int? = nil, requestId: String? = nil,
        queryErrorCode: String? = nil, faultType: String? = nil, attempts: Int = 1,
        isThrottling: Bool? = nil, isRetryable: Bool? = nil, messageIds: [String] = []
    ) {
        self.code = code
        self.message = message
        self.action = action
        self.httpStatus = httpStatus
        self.requestId = requestId
        self.queryErrorCode = queryErrorCode
        self.faultType = faultType
        self.attempts = attempts
        let throttling = isThrottling ?? (Self.throttlingCodes.contains(code) || httpStatus == 429)
        self.isThrottling = throttling
        self.isRetryable = isRetryable ?? (throttling || (httpStatus ?? 0) >= 500 || Self.transientCodes.contains(code))
        self.messageIds = messageIds
    }

    public var description: String {
        var text = "SQS \(action) failed: \(code): \(message)"
        var details: [String] = []
        if let httpStatus { details.append("HTTP \(httpStatus)") }
        if let requestId { details.append("request id \(requestId)") }
        if attempts > 1 { details.append("gave up after \(attempts) attempts") }
        if !details.isEmpty { text += " (" + details.joined(separator: ", ") + ")" }
        return text
    }

    /// Error codes that mean "slow down" across AWS services (what the SDKs retry as throttling).
    public static let throttlingCodes: Set<String> = [
        "Throttling", "ThrottlingException", "ThrottledException", "RequestThrottledException",
        "TooManyRequestsException", "ProvisionedThroughputExceededException", "TransactionInProgressException",
        "RequestLimitExceeded", "BandwidthLimitExceeded", "LimitExceededException", "RequestThrottled",
        "SlowDown", "PriorRequestNotComplete", "EC2ThrottledException", "KMS.ThrottlingException",
    ]

    /// Codes that say the request's temporary credentials have expired.
    public static let expiredTokenCodes: Set<String> = ["ExpiredToken", "ExpiredTokenException"]

    /// Error codes that are worth retrying even when they come with a 4xx status.
    public static let transientCodes: Set<String> = [
        "RequestTimeout", "RequestTimeoutException", "InternalError", "InternalFailure", "ServiceUnavailable",
        LocalCode.transport, LocalCode.timeout,
    ]

    /// Maps a query-protocol code to the JSON-protocol one (`AWS.SimpleQueueService.NonExistentQueue`
    /// → `QueueDoesNotExist`; other `AWS.SimpleQueueService.X` → `X`).
    public static func normalizedCode(_ code: String) -> String {
        let legacy: [String: String] = [
            "AWS.SimpleQueueService.NonExistentQueue": "QueueDoesNotExist",
            "AWS.SimpleQueueService.QueueDeletedRecently": "QueueDeletedRecently",
            "QueueAlreadyExists": "QueueNameExists",
        ]
        if let mapped = legacy[code] { return mapped }
        let prefix = "AWS.SimpleQueueService."
        if code.hasPrefix(prefix) { return String(code.dropFirst(prefix.count)) }
        return code
    }
}
