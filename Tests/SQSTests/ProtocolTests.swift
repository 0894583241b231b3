import Foundation
import Logging
import NIOCore
import NIOHTTP1
@testable import SQS
import Testing

/// Error parsing, retry policy and client bookkeeping; no network.
@Suite("Protocol details")
struct ProtocolTests {
    @Test func jsonErrorWithQueryHeader() {
        let error = ErrorResponse.parse(
            status: 400,
            headers: ["x-amzn-query-error": "AWS.SimpleQueueService.NonExistentQueue;Sender", "x-amzn-requestid": "rid-1"],
            body: ByteBuffer(string: #"{"__type":"com.amazonaws.sqs#QueueDoesNotExist","message":"The specified queue does not exist."}"#),
            action: "GetQueueUrl")
        #expect(error.code == "QueueDoesNotExist")
        #expect(error.queryErrorCode == "AWS.SimpleQueueService.NonExistentQueue")
        #expect(error.faultType == "Sender")
        #expect(error.requestId == "rid-1")
        #expect(!error.isRetryable)
        #expect(error.description == "SQS GetQueueUrl failed: QueueDoesNotExist: The specified queue does not exist. (HTTP 400, request id rid-1)")
    }

    @Test func xmlError() {
        let error = ErrorResponse.parse(
            status: 403, headers: [:],
            body: ByteBuffer(string: #"<?xml version="1.0"?><ErrorResponse><Errors><Error><Code>SignatureDoesNotMatch</Code><Message>a &amp; b</Message><Type>Sender</Type></Error></Errors><RequestId>x1</RequestId></ErrorResponse>"#),
            action: "CreateQueue")
        #expect(error.code == "SignatureDoesNotMatch")
        #expect(error.message == "a & b")
        #expect(error.requestId == "x1")
        #expect(error.faultType == "Sender")
        #expect(!error.isRetryable)
    }

    @Test func legacyCodesAreNormalised() {
        let error = ErrorResponse.parse(
            status: 400, headers: ["x-amzn-query-error": "AWS.SimpleQueueService.NonExistentQueue;Sender"], body: ByteBuffer(), action: "X")
        #expect(error.code == "QueueDoesNotExist")
        #expect(SQSError.normalizedCode("AWS.SimpleQueueService.PurgeQueueInProgress") == "PurgeQueueInProgress")
    }

    @Test func classification() {
        #expect(SQSError(code: "ThrottlingException", message: "", action: "A", httpStatus: 400).isThrottling)
        #expect(SQSError(code: "RequestThrottled", message: "", action: "A", httpStatus: 403).isRetryable)
        #expect(SQSError(code: "Whatever", message: "", action: "A", httpStatus: 429).isThrottling)
        #expect(SQSError(code: "InternalError", message: "", action: "A", httpStatus: 500).isRetryable)
        #expect(!SQSError(code: "InternalError", message: "", action: "A", httpStatus: 500).isThrottling)
        #expect(!SQSError(code: "AccessDenied", message: "", action: "A", httpStatus: 403).isRetryable)
        #expect(!SQSError(code: "InvalidParameterValue", message: "", action: "A", httpStatus: 400).isRetryable)
        let empty = ErrorResponse.parse(status: 502, headers: [:], body: ByteBuffer(), action: "A")
        #expect(empty.code == "HTTP502")
        #expect(empty.isRetryable)
    }

    @Test func backoffIsCappedExponentialWithFullJitter() {
        let policy = RetryPolicy(maxAttempts: 10, baseDelay: .milliseconds(100), maxDelay: .seconds(1))
        #expect(policy.backoffCap(afterAttempt: 1) == .milliseconds(100))
        #expect(policy.backoffCap(afterAttempt: 2) == .milliseconds(200))
        #expect(policy.backoffCap(afterAttempt: 4) == .milliseconds(800))
        #expect(policy.backoffCap(afterAttempt: 5) == .seconds(1))
        #expect(policy.backoffCap(afterAttempt: 60) == .seconds(1))
        var generator = SystemRandomNumberGenerator()
        let delays = (0..<200).map { _ in policy.delay(afterAttempt: 3, using: &generator) }
        #expect(delays.allSatisfy { $0 >= .zero && $0 <= .milliseconds(400) })
        #expect(Set(delays).count > 100, "jittered")
        #expect(delays.contains { $0 < .milliseconds(100) }, "full jitter reaches near zero")
    }

    @Test func md5Hex() {
        #expect(SQSClient.md5Hex("hi") == "49f68a5c8493ec2c0bf489821c21fc3b")
        #expect(SQSClient.md5Hex("") == "d41d8cd98f00b204e9800998ecf8427e")
    }

    @Test func logsNeverContainSecrets() async throws {
        let records = LogStore()
        let logger = Logger(label: "t") { _ in CapturingHandler(store: records) }
        var configuration = SQSConfiguration(
            region: "us-east-1", endpoint: URL(string: "http://127.0.0.1:1")!,
            credentials: .init(accessKeyId: "AKIDLOG", secretAccessKey: "SECRET-xyz", sessionToken: "TOKEN-xyz"))
        // async-http-client keeps retrying a refused connection until the request deadline.
        configuration.requestTimeout = .milliseconds(300)
        let client = SQSClient(configuration: configuration, retry: RetryPolicy(maxAttempts: 2, baseDelay: .milliseconds(1), maxDelay: .milliseconds(1)), logger: logger)
        let error = await #expect(throws: SQSError.self) { _ = try await client.queueURL(for: "q") }
        try await client.shutdown()
        #expect([SQSError.LocalCode.transport, SQSError.LocalCode.timeout].contains(error?.code ?? ""), "nothing listens on port 1")
        #expect(error?.attempts == 2)
        let text = records.lines.joined(separator: "\n")
        #expect(text.contains("GetQueueUrl"))
        #expect(text.contains("attempt"))
        for secret in ["SECRET-xyz", "TOKEN-xyz", "Signature=", "AWS4-HMAC-SHA256"] { #expect(!text.contains(secret)) }
        #expect(try await !"\(configuration.credentials)".contains("SECRET-xyz"))
    }
}

final class LogStore: Sendable {
    private let box = NIOLockedValueBoxWrapper()
    var lines: [String] { box.get() }
    func append(_ line: String) { box.append(line) }
}

import NIOConcurrencyHelpers

struct NIOLockedValueBoxWrapper: Sendable {
    private let box = NIOLockedValueBox<[String]>([])
    func get() -> [String] { box.withLockedValue { $0 } }
    func append(_ line: String) { box.withLockedValue { $0.append(line) } }
}

struct CapturingHandler: LogHandler {
    let store: LogStore
    var metadata: Logger.Metadata = [:]
    var logLevel: Logger.Level = .trace
    subscript(metadataKey key: String) -> Logger.Metadata.Value? {
        get { metadata[key] }
        set { metadata[key] = newValue }
    }
    func log(event: LogEvent) {
        store.append("\(event.level) \(event.message) \(event.metadata ?? [:])")
    }
}
