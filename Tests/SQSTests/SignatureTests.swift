import Foundation
import SQS
import TestSupport
import Testing

/// Our signatures judged by a real server: moto started with INITIAL_NO_AUTH_ACTION_COUNT,
/// which verifies SigV4 on every request against its IAM.
@Suite("SigV4 checked by moto", .enabled(if: Integration.enabled(Integration.authEndpoint, Integration.authKeyId, Integration.authSecret),
                                          "needs LOGINVAULT_TEST_SQS_AUTH_* (scripts/with-servers.sh)"))
struct SignatureTests {
    static func configuration(secret: String? = nil, keyId: String? = nil) throws -> SQSConfiguration {
        SQSConfiguration(
            region: "us-east-1", endpoint: URL(string: try Integration.value(Integration.authEndpoint))!,
            credentials: .init(accessKeyId: try keyId ?? Integration.value(Integration.authKeyId),
                               secretAccessKey: try secret ?? Integration.value(Integration.authSecret)))
    }

    @Test func signedCallsSucceed() async throws {
        try await Integration.withClient(Self.configuration()) { client in
            let queue = try await client.createQueue(name: Integration.queueName("signed"))
            let sent = try await client.sendMessageBatch(queueURL: queue, bodies: ["signed ✓", "{\"a\":1}"])
            #expect(sent.successful.count == 2)
            let attributes = try await client.getQueueAttributes(queueURL: queue, names: ["ApproximateNumberOfMessages"])
            #expect(attributes["ApproximateNumberOfMessages"] == "2")
            let messages = try await MotoTests.receive(client, queue, count: 2)
            #expect(Set(messages.map(\.body)) == ["signed ✓", "{\"a\":1}"])
            let deleted = try await client.deleteMessageBatch(
                queueURL: queue, entries: messages.enumerated().map { SQSBatchEntry(id: "\($0.offset)", receiptHandle: $0.element.receiptHandle) })
            #expect(deleted.successful.count == 2)
            #expect(client.metrics.retries == 0)
        }
    }

    @Test func wrongSecretIsSignatureDoesNotMatch() async throws {
        try await Integration.withClient(Self.configuration(secret: "definitely-not-the-secret")) { client in
            let error = await #expect(throws: SQSError.self) {
                _ = try await client.createQueue(name: Integration.queueName("unsigned"))
            }
            #expect(error?.code == "SignatureDoesNotMatch")
            #expect(error?.httpStatus == 403)
            #expect(error?.isRetryable == false)
            #expect(error?.message.contains("signature") == true)
            #expect(client.requestCount == 1)
            #expect(error.map { "\($0)" }?.contains("definitely-not-the-secret") == false)
        }
    }

    @Test func unknownKeyIsRejected() async throws {
        try await Integration.withClient(Self.configuration(secret: "x", keyId: "AKIAUNKNOWNKEY000000")) { client in
            let error = await #expect(throws: SQSError.self) {
                _ = try await client.queueURL(for: "anything")
            }
            #expect(error?.code == "InvalidClientTokenId")
            #expect(error?.httpStatus == 403)
        }
    }
}
