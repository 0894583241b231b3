import Logging
import SQS

/// Adapts the SQS client to what `load` needs, for one queue.
public struct SQSQueue: MessageQueue {
    public let client: SQSClient
    public let queueURL: String
    let statistics: LoadStatistics?
    let logger: Logger

    public init(client: SQSClient, queueURL: String, statistics: LoadStatistics? = nil, logger: Logger) {
        self.client = client
        self.queueURL = queueURL
        self.statistics = statistics
        self.logger = logger
    }

    public var requestCount: Int { client.requestCount }

    public var taskExecutor: (any TaskExecutor)? { client.taskExecutor }

    /// The only message attributes `load` keeps (`sent_at`, `receive_count`); asking for
    /// these instead of `All` keeps the other seven out of every response.
    public static let attributeNames = ["SentTimestamp", "ApproximateReceiveCount"]

    /// Messages whose body does not match its MD5 are left alone: they become
    /// visible again after the visibility timeout and are tried once more.
    public func receive(maxMessages: Int, waitTimeSeconds: Int, visibilityTimeout: Int) async throws -> [IncomingMessage] {
        let received = try await mapErrors {
            try await client.receiveMessages(queueURL: queueURL, maxMessages: maxMessages,
                                             waitTimeSeconds: waitTimeSeconds, visibilityTimeout: visibilityTimeout,
                                             attributeNames: Self.attributeNames, onMD5Mismatch: .mark)
        }
        let corrupt = received.filter { !$0.md5Matches }
        if !corrupt.isEmpty {
            logger.warning("\(corrupt.count) message bodies did not match their MD5 (\(corrupt.map(\.messageId).joined(separator: ", "))); leaving them to redelivery")
            statistics?.update { $0.md5Mismatches += corrupt.count }
        }
        return received.filter(\.md5Matches).map { message in
            // The body as it came, even with a NUL byte (AWS SQS refuses those, SQS-compatible
            // servers deliver them): the database judges it (nul_byte).
            IncomingMessage(messageId: message.messageId, body: message.body,
                            sentAt: message.sentTimestamp, receiveCount: message.approximateReceiveCount,
                            receiptHandle: message.receiptHandle)
        }
    }

    public func delete(receiptHandles: [String]) async throws -> [ReceiptFailure] {
        var failures: [ReceiptFailure] = []
        for start in stride(from: 0, to: receiptHandles.count, by: 10) {
            let chunk = Array(receiptHandles[start..<min(start + 10, receiptHandles.count)])
            let entries = chunk.enumerated().map { SQSBatchEntry(id: String($0.offset), receiptHandle: $0.element) }
            let result = try await mapErrors { try await client.deleteMessageBatch(queueURL: queueURL, entries: entries) }
            for failure in result.failed {
                guard let index = Int(failure.id), chunk.indices.contains(index) else { continue }
                // A sender fault (bad or expired receipt handle) will not heal by retrying.
                failures.append(ReceiptFailure(receiptHandle: chunk[index], code: failure.code, retryable: !failure.senderFault))
            }
        }
        return failures
    }

    @discardableResult
    public func changeVisibility(receiptHandles: [String], timeout: Int) async throws -> [ReceiptFailure] {
        var failures: [ReceiptFailure] = []
        for start in stride(from: 0, to: receiptHandles.count, by: 10) {
            let chunk = Array(receiptHandles[start..<min(start + 10, receiptHandles.count)])
            let entries = chunk.enumerated().map { (id: String($0.offset), receiptHandle: $0.element, visibilityTimeout: timeout) }
            let result = try await mapErrors {
                try await client.changeMessageVisibilityBatch(queueURL: queueURL, entries: entries)
            }
            for failure in result.failed {
                guard let index = Int(failure.id), chunk.indices.contains(index) else { continue }
                failures.append(ReceiptFailure(receiptHandle: chunk[index], code: failure.code, retryable: !failure.senderFault))
            }
        }
        return failures
    }

    private func mapErrors<T>(_ body: () async throws -> T) async throws -> T {
        do {
            return try await body()
        } catch let error as SQSError {
            // A 2xx answer that does not parse (cut short on the way) is a transport fault to
            // the loader: what it carried comes back after its visibility timeout, so retry it
            // like a reset instead of giving up on the queue.
            throw QueueError(error.description,
                             retryable: error.isRetryable || error.code == SQSError.LocalCode.invalidResponse)
        }
    }
}
