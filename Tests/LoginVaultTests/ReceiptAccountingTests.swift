import Foundation
import Logging
@testable import LoginVault
import Postgres
import Synchronization
import TestSupport
import Testing

/// Every receipt handle a load receives ends deleted (a redelivered copy skipped as a
/// duplicate is deleted too) or released, and the summary counts it.
///
/// SQS delivers at least once and may hand one message to two receives at once; moto does
/// too, but only now and then (getmoto/moto#519). This queue does it every time, the way
/// moto then behaves: the first delete removes the message, and a delete through the other
/// receipt handle is refused as `ReceiptHandleIsInvalid`. The staging is the real one.
@Suite("Receipt accounting", .enabled(if: Integration.postgres))
struct ReceiptAccountingTests {
    /// An in-memory queue that hands every message out twice, under two receipt handles.
    final class TwiceDeliveringQueue: MessageQueue {
        private struct State {
            var pending: [(id: String, body: String)]
            var handedOut: [(id: String, body: String)] = []
            var handles: [String: String] = [:]  // receipt handle -> message id
            var deleted: Set<String> = []
            var released = 0
        }

        private let state: Mutex<State>

        init(bodies: [String]) {
            state = Mutex(State(pending: bodies.enumerated().map { ("m-\($0.offset)", $0.element) }))
        }

        var deletedMessages: Int { state.withLock { $0.deleted.count } }

        func receive(maxMessages: Int, waitTimeSeconds: Int, visibilityTimeout: Int) async throws -> [IncomingMessage] {
            state.withLock { state in
                // Each message goes out once, then once more to the next receive.
                var batch: [(id: String, body: String)] = []
                if !state.handedOut.isEmpty {
                    batch = Array(state.handedOut.prefix(maxMessages))
                    state.handedOut.removeFirst(batch.count)
                } else {
                    batch = Array(state.pending.prefix(maxMessages))
                    state.pending.removeFirst(batch.count)
                    state.handedOut = batch
                }
                return batch.map { message in
                    let handle = "h-\(UUID().uuidString)"
                    state.handles[handle] = message.id
                    return IncomingMessage(messageId: message.id, body: message.body, receiveCount: 1, receiptHandle: handle)
                }
            }
        }

        func delete(receiptHandles: [String]) async throws -> [ReceiptFailure] {
            state.withLock { state in
                receiptHandles.compactMap { handle in
                    guard let id = state.handles[handle], state.deleted.insert(id).inserted else {
                        return ReceiptFailure(receiptHandle: handle, code: ReceiptFailure.invalidHandle, retryable: false)
                    }
                    return nil
                }
            }
        }

        func changeVisibility(receiptHandles: [String], timeout: Int) async throws -> [ReceiptFailure] {
            state.withLock { $0.released += receiptHandles.count }
            return []
        }

        var requestCount: Int { 0 }
    }

    @Test func aMessageDeliveredTwiceEndsWithBothReceiptsDeleted() async throws {
        try await StagingDatabaseTests.migrated("receipts") { database in
            let bodies = (0..<40).map { #"{"user_id":"r-\#($0)","ip":"10.1.1.\#($0)","device_id":"d-\#($0)"}"# }
            let queue = TwiceDeliveringQueue(bodies: bodies)
            var settings = LoadSettings()
            settings.receivers = 1
            settings.batchSize = 20
            settings.batchWindow = .milliseconds(20)
            settings.waitTimeSeconds = 0
            settings.process = false
            let staging = StagingDatabase(connectionString: database.connectionString, logger: Logger(label: "test"))
            let loader = QueueLoader(queue: queue, database: staging, settings: settings, logger: Logger(label: "test"))
            let result = await Result(catching: { try await loader.run() })
            await staging.close()
            await staging.shutdown()
            _ = try result.get()
            let s = loader.statistics.snapshot
            #expect(s.received == 80)
            #expect(s.staged == 40)
            #expect(s.duplicates == 40)
            #expect(s.deleted == s.received, "every receipt deleted: \(s)")
            #expect(s.deleteFailures == 0)
            #expect(s.deleted + s.deleteFailures + s.released + s.releaseFailures == s.received)
            #expect(queue.deletedMessages == 40)
        }
    }
}

extension Result where Failure == any Error {
    init(catching body: () async throws -> Success) async {
        do { self = .success(try await body()) } catch { self = .failure(error) }
    }
}
