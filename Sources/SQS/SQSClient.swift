import AsyncHTTPClient
import Foundation
import Logging
import NIOConcurrencyHelpers
import NIOCore
import NIOHTTP1
import NIOPosix
import SigV4

/// Counters of an `SQSClient`, for "SQS requests per message" and friends.
public struct SQSClientMetrics: Sendable, Equatable {
    /// HTTP requests sent (every attempt, retries included: what AWS bills).
    public var requests: Int = 0
    /// Attempts that were retries.
    public var retries: Int = 0
    /// Responses that were throttling errors.
    public var throttled: Int = 0
    /// Calls that finally failed (after any retries).
    public var failedCalls: Int = 0
}

/// An SQS client over the AWS JSON 1.0 protocol, signed with SigV4, with retries.
///
/// Every request goes to `configuration.endpoint`; a queue URL is only ever sent in the body,
/// never used to pick the host. Each attempt is signed with the current credentials of
/// `configuration.credentialsProvider` (temporary ones are refreshed there); an `ExpiredToken`
/// answer makes the provider fetch new ones and the request is sent once more. Logs at debug
/// level (action, status, latency, attempt), never credentials or the `Authorization` header.
public final class SQSClient: Sendable {
    public let configuration: SQSConfiguration
    public let retry: RetryPolicy
    let httpClient: HTTPClient
    /// The one-thread event loop group of an HTTP client this client created; nil when the
    /// HTTP client was passed in (then it is the caller's to shut down).
    let ownedEventLoopGroup: MultiThreadedEventLoopGroup?
    /// Where to run code that calls this client so it does not hop threads per request:
    /// the event loop of its connections (nil when `httpClient` was passed in).
    public let taskExecutor: EventLoopTaskExecutor?
    let logger: Logger
    let signer: SigV4Signer
    /// The endpoint's `Host` header and path, worked out once (not on every request).
    let hostHeader: String
    let requestPath: String
    let counters = NIOLockedValueBox(SQSClientMetrics())
    let requestObservers = SQSRequestObservers()
    /// Largest response body accepted (10 messages of up to 1 MiB each, with JSON escaping).
    static let maxResponseBytes = 64 * 1024 * 1024

    /// - Parameter httpClient: a client to share; `nil` creates one on an event loop of its own
    ///   (see `taskExecutor`), shut down by `shutdown()`.
    public init(configuration: SQSConfiguration, retry: RetryPolicy = .default, httpClient: HTTPClient? = nil,
                logger: Logger = Logger(label: "loginvault.sqs")) {
        self.configuration = configuration
        self.retry = retry
        self.logger = logger
        self.signer = SigV4Signer(credentials: AWSCredentials(accessKeyId: "", secretAccessKey: ""),
                                  region: configuration.region, service: "sqs")
        self.hostHeader = SigV4Signer.hostHeader(for: configuration.endpoint)
        let path = URLComponents(url: configuration.endpoint, resolvingAgainstBaseURL: false)?.percentEncodedPath ?? "/"
        self.requestPath = path.isEmpty ? "/" : path
        if let httpClient {
            self.httpClient = httpClient
            self.ownedEventLoopGroup = nil
            self.taskExecutor = nil
        } else {
            var config = HTTPClient.Configuration()
            config.timeout.connect = .nanoseconds(Int64(configuration.connectTimeout.components.seconds) * 1_000_000_000
                + configuration.connectTimeout.components.attoseconds / 1_000_000_000)
            // `load --receivers auto` keeps up to 32 receives and 32 deletes in flight (at 100 ms to
            // the queue that is what ~3,000 messages/s take), plus releases and extensions.
            config.connectionPool.concurrentHTTP1ConnectionsPerHostSoftLimit = 80
            // One loop for all connections: one thread handles a drain's requests with room to
            // spare, and callers can run on it (taskExecutor).
            let group = MultiThreadedEventLoopGroup(numberOfThreads: 1)
            self.httpClient = HTTPClient(eventLoopGroup: group, configuration: config)
            self.ownedEventLoopGroup = group
            self.taskExecutor = EventLoopTaskExecutor(eventLoop: group.next())
        }
    }

    /// Shuts down the HTTP client and its event loop if this client created them. Call once, before
    /// dropping the client, and not from a task running on `taskExecutor`.
    public func shutdown() async throws {
        // The loop goes even if the HTTP client's shutdown fails, so no thread is left behind.
        var failure: (any Error)?
        if ownedEventLoopGroup != nil {
            do { try await httpClient.shutdown() } catch { failure = error }
        }
        try await ownedEventLoopGroup?.shutdownGracefully()
        if let failure { throw failure }
    }

    /// HTTP requests sent so far (retries included).
    public var requestCount: Int { counters.withLockedValue { $0.requests } }

    /// A snapshot of all counters.
    public var metrics: SQSClientMetrics { counters.withLockedValue { $0 } }

    /// Calls `observer` after every HTTP attempt, from the task that made it (for metrics).
    public func observeRequests(_ observer: @escaping @Sendable (SQSRequestEvent) -> Void) {
        requestObservers.add(observer)
    }

    // MARK: - The protocol

    /// Calls `AmazonSQS.<action>` with a JSON body, retrying per `retry`, and decodes the answer
    /// with `JSONDecoder` (an empty answer reads as `{}`).
    func call<Output: Decodable>(_ action: String, _ input: some Encodable, timeout: Duration? = nil,
                                 as: Output.Type = Output.self) async throws -> Output {
        try await call(action, input, timeout: timeout) { bytes in
            var data = Data(bytes)
            if data.allSatisfy({ $0 == 0x20 || $0 == 0x0A || $0 == 0x0D || $0 == 0x09 }) { data = Data("{}".utf8) }
            return try JSONDecoder().decode(Output.self, from: data)
        }
    }

    /// Calls `AmazonSQS.<action>` with an `Encodable` input as its JSON body; see the overload below.
    func call<Output>(_ action: String, _ input: some Encodable, timeout: Duration? = nil,
                      decode: (UnsafeRawBufferPointer) throws -> Output) async throws -> Output {
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.withoutEscapingSlashes, .sortedKeys]
        let body: [UInt8]
        do {
            body = Array(try encoder.encode(input))
        } catch {
            throw SQSError(code: SQSError.LocalCode.invalidArgument, message: "cannot encode request: \(error)", action: action, attempts: 0)
        }
        return try await call(action, body: body, timeout: timeout, decode: decode)
    }

    /// Calls `AmazonSQS.<action>` with `body` (JSON), retrying per `retry`; `decode` reads a 2xx
    /// answer's body (an error it throws becomes an `invalidResponse` `SQSError`).
    func call<Output>(_ action: String, body: [UInt8], timeout: Duration? = nil,
                      decode: (UnsafeRawBufferPointer) throws -> Output) async throws -> Output {
        let timeout = timeout ?? configuration.requestTimeout
        var generator = SystemRandomNumberGenerator()
        var attempt = 0
        var rejected: AWSCredentials?
        var refreshedAfterExpiredToken = false
        while true {
            attempt += 1
            let started = ContinuousClock.now
            let credentials: AWSCredentials
            do {
                credentials = try await configuration.credentialsProvider.credentials(rejected: rejected)
            } catch let error where Task.isCancelled || error is CancellationError {
                throw error
            } catch {
                let transient = (error as? CredentialsError)?.isTransient ?? true
                let sqsError = SQSError(code: SQSError.LocalCode.credentials, message: "\(error)", action: action,
                                        attempts: attempt - 1, isRetryable: transient)
                logger.debug("SQS credentials unavailable", metadata: ["action": "\(action)", "attempt": "\(attempt)"])
                try await retryOrThrow(sqsError, attempt: attempt, generator: &generator)
                continue
            }
            rejected = nil
            do {
                let (status, headers, bytes) = try await send(action: action, body: body, credentials: credentials, timeout: timeout)
                logger.debug("SQS request", metadata: [
                    "action": "\(action)", "status": "\(status)", "attempt": "\(attempt)",
                    "latency_ms": "\(Self.milliseconds(ContinuousClock.now - started))",
                ])
                if (200..<300).contains(status) {
                    requestObservers.report(action, .success, willRetry: false)
                    return try Self.decode(bytes, with: decode, action: action, status: status, headers: headers, attempts: attempt)
                }
                var error = ErrorResponse.parse(status: status, headers: headers, body: bytes, action: action)
                error.attempts = attempt
                if SQSError.expiredTokenCodes.contains(error.code), !refreshedAfterExpiredToken {
                    // The credentials expired sooner than they said (or were revoked): new ones, one more try.
                    logger.info("SQS answered \(error.code): fetching new credentials from \(configuration.credentialsProvider.source)")
                    refreshedAfterExpiredToken = true
                    rejected = credentials
                    continue
                }
                if error.isThrottling { counters.withLockedValue { $0.throttled += 1 } }
                try await retryOrThrow(error, attempt: attempt, generator: &generator)
            } catch let error as SQSError {
                if error.code == SQSError.LocalCode.invalidResponse { counters.withLockedValue { $0.failedCalls += 1 } }
                throw error
            } catch let error where Task.isCancelled || error is CancellationError {
                throw error
            } catch {
                let sqsError = Self.transportError(error, action: action, timeout: timeout, attempts: attempt)
                logger.debug("SQS request failed", metadata: [
                    "action": "\(action)", "error": "\(sqsError.code)", "attempt": "\(attempt)",
                    "latency_ms": "\(Self.milliseconds(ContinuousClock.now - started))",
                ])
                try await retryOrThrow(sqsError, attempt: attempt, generator: &generator)
            }
        }
    }

    /// Sleeps and returns if `error` may be retried and attempts remain; throws it otherwise.
    private func retryOrThrow(_ error: SQSError, attempt: Int, generator: inout SystemRandomNumberGenerator) async throws {
        guard error.isRetryable, attempt < retry.maxAttempts else {
            counters.withLockedValue { $0.failedCalls += 1 }
            requestObservers.report(error.action, SQSRequestEvent.Outcome(error), willRetry: false)
            throw error
        }
        requestObservers.report(error.action, SQSRequestEvent.Outcome(error), willRetry: true)
        let delay = retry.delay(afterAttempt: attempt, using: &generator)
        if attempt == 1 {
            // The first retry is said at once, so a wrong or unreachable endpoint is not silence.
            logger.warning("SQS \(error.action) failed (\(error.code): \(error.message)); retrying up to \(retry.maxAttempts - 1) more times")
        }
        logger.debug("SQS retry", metadata: [
            "action": "\(error.action)", "code": "\(error.code)", "attempt": "\(attempt)",
            "delay_ms": "\(Self.milliseconds(delay))",
        ])
        counters.withLockedValue { $0.retries += 1 }
        try await Task.sleep(for: delay)
    }

    /// One signed HTTP exchange.
    private func send(action: String, body: [UInt8], credentials: AWSCredentials,
                      timeout: Duration) async throws -> (Int, HTTPHeaders, ByteBuffer) {
        let endpoint = configuration.endpoint
        let unsigned = SigV4Request(method: "POST", path: requestPath, headers: [
            ("Host", hostHeader),
            ("Content-Type", "application/x-amz-json-1.0"),
            ("X-Amz-Target", "AmazonSQS.\(action)"),
            ("x-amzn-query-mode", "true"),
        ], body: body)
        var signer = self.signer
        signer.credentials = credentials
        let signed = signer.sign(unsigned, date: Date())

        var request = HTTPClientRequest(url: endpoint.absoluteString)
        request.method = .POST
        for (name, value) in signed.headers { request.headers.add(name: name, value: value) }
        request.headers.add(name: "User-Agent", value: "loginvault-sqs/1")
        request.body = .bytes(ByteBuffer(bytes: body))
        counters.withLockedValue { $0.requests += 1 }
        let response = try await httpClient.execute(request, timeout: .nanoseconds(Self.nanoseconds(timeout)))
        let bytes = try await response.body.collect(upTo: Self.maxResponseBytes)
        return (Int(response.status.code), response.headers, bytes)
    }

    private static func decode<Output>(_ bytes: ByteBuffer, with decode: (UnsafeRawBufferPointer) throws -> Output, action: String,
                                       status: Int, headers: HTTPHeaders, attempts: Int) throws -> Output {
        do {
            return try bytes.withUnsafeReadableBytes { try decode($0) }
        } catch {
            throw SQSError(
                code: SQSError.LocalCode.invalidResponse,
                message: "HTTP \(status) with a body that is not the expected \(action) JSON (\(error)); \(describe(bytes, action: action))",
                action: action, httpStatus: status, requestId: headers.first(name: "x-amzn-requestid"),
                attempts: attempts, isRetryable: false)
        }
    }

    /// What an error message may say of a response body it could not decode. A
    /// `ReceiveMessage` answer carries message bodies (PII), so it is never quoted,
    /// only measured; other answers carry ids, URLs and digests, and their start
    /// (an HTML error page from a proxy, say) is what tells an operator what went wrong.
    static func describe(_ bytes: ByteBuffer, action: String) -> String {
        if action == "ReceiveMessage" {
            return "\(bytes.readableBytes) bytes, not quoted (a receive answer carries message bodies)"
        }
        return "body starts: \(String(decoding: bytes.readableBytesView.prefix(200), as: UTF8.self))"
    }

    private static func transportError(_ error: any Error, action: String, timeout: Duration, attempts: Int) -> SQSError {
        if let error = error as? HTTPClientError,
           error == .deadlineExceeded || error == .readTimeout || error == .connectTimeout || error == .writeTimeout {
            return SQSError(code: SQSError.LocalCode.timeout, message: "no response within \(timeout) (\(error))",
                            action: action, attempts: attempts, isRetryable: true)
        }
        return SQSError(code: SQSError.LocalCode.transport, message: describeTransport(error), action: action, attempts: attempts,
                        isRetryable: true)
    }

    /// A connection failure in plain words (`cannot connect to 127.0.0.1:1: Connection refused`),
    /// instead of the nested dump of NIO's error types.
    static func describeTransport(_ error: any Error) -> String {
        switch error {
        case let error as NIOConnectionError:
            if let dns = error.dnsAError ?? error.dnsAAAAError {
                return "cannot resolve \(error.host): \(describeTransport(dns))"
            }
            if let first = error.connectionErrors.first {
                return "cannot connect to \(error.host):\(error.port): \(describeTransport(first.error))"
            }
            return "cannot connect to \(error.host):\(error.port)"
        case let error as IOError:
            return String(cString: strerror(error.errnoCode))
        case let error as HTTPClientError:
            return "\(error)".replacingOccurrences(of: "HTTPClientError.", with: "")
        default:
            return "\(error)"
        }
    }

    static func nanoseconds(_ d: Duration) -> Int64 {
        d.components.seconds * 1_000_000_000 + d.components.attoseconds / 1_000_000_000
    }

    static func milliseconds(_ d: Duration) -> Int64 { nanoseconds(d) / 1_000_000 }
}
