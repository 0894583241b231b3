import Foundation
import Logging
@testable import LoginVault
import Postgres
import Synchronization
import TestSupport
import Testing

/// `--receivers auto` in the real loader, against an in-memory queue whose every call
/// takes a set time (a distant SQS endpoint): nothing lost or duplicated, the receives
/// in flight stay within their bound, and an idle queue is polled by one receive at a time.
/// The controller's decisions themselves are tested without a clock (ReceiverControllerTests).
@Suite("Adaptive receivers")
struct AdaptiveReceiversTests {
    /// Every call waits `latency`; a receive on an empty queue waits `longPoll` (its long poll).
    final class DistantQueue: MessageQueue {
        private struct State {
            var pending: [(id: String, body: String)]
            var handles: [String: String] = [:]
            var deleted: [String: Int] = [:]
            var receivesInFlight = 0
            var peakReceivesInFlight = 0
            var requests = 0
        }

        private let state: Mutex<State>
        let latency: Duration
        let longPoll: Duration

        init(bodies: [String], latency: Duration, longPoll: Duration) {
            state = Mutex(State(pending: bodies.enumerated().map { ("m-\($0.offset)", $0.element) }))
            self.latency = latency
            self.longPoll = longPoll
        }

        var deleted: [String: Int] { state.withLock { $0.deleted } }
        var peakReceivesInFlight: Int { state.withLock { $0.peakReceivesInFlight } }
        var requestCount: Int { state.withLock { $0.requests } }

        func resetPeak() {
            state.withLock { $0.peakReceivesInFlight = $0.receivesInFlight }
        }

        func receive(maxMessages: Int, waitTimeSeconds: Int, visibilityTimeout: Int) async throws -> [IncomingMessage] {
            let empty = state.withLock { state -> Bool in
                state.requests += 1
                state.receivesInFlight += 1
                state.peakReceivesInFlight = max(state.peakReceivesInFlight, state.receivesInFlight)
                return state.pending.isEmpty
            }
            try? await Task.sleep(for: empty ? longPoll : latency)
            return state.withLock { state in
                state.receivesInFlight -= 1
                let batch = state.pending.prefix(maxMessages)
                state.pending.removeFirst(batch.count)
                return batch.map { message in
                    let handle = "h-\(UUID().uuidString)"
                    state.handles[handle] = message.id
                    return IncomingMessage(messageId: message.id, body: message.body, receiveCount: 1, receiptHandle: handle)
                }
            }
        }

        func delete(receiptHandles: [String]) async throws -> [ReceiptFailure] {
            state.withLock { $0.requests += 1 }
            try? await Task.sleep(for: latency)
            return state.withLock { state in
                for handle in receiptHandles {
                    if let id = state.handles.removeValue(forKey: handle) { state.deleted[id, default: 0] += 1 }
                }
                return []
            }
        }

        func changeVisibility(receiptHandles: [String], timeout: Int) async throws -> [ReceiptFailure] {
            state.withLock { $0.requests += 1 }
            return []
        }
    }

    @Test(.enabled(if: Integration.postgres))
    func aDistantQueueDrainsWithNothingLostOrDuplicatedAndWithinTheBound() async throws {
        try await StagingDatabaseTests.migrated("adaptive") { database in
            let count = 3000
            let bodies = (0..<count).map { #"{"user_id":"a-\#($0)","ip":"10.2.\#($0 / 256).\#($0 % 256)","device_id":"d-\#($0)"}"# }
            let queue = DistantQueue(bodies: bodies, latency: .milliseconds(40), longPoll: .milliseconds(200))
            var settings = LoadSettings()
            settings.receivers = 2
            settings.maxReceivers = 12
            settings.receiverInterval = .milliseconds(200)
            settings.deleters = 32
            settings.batchSize = 200
            settings.batchWindow = .milliseconds(50)
            settings.waitTimeSeconds = 1
            settings.process = false
            let staging = StagingDatabase(connectionString: database.connectionString, logger: Logger(label: "test"))
            let loader = QueueLoader(queue: queue, database: staging, settings: settings, logger: Logger(label: "test"))
            let result = await Result(catching: { try await loader.run() })
            await staging.close()
            await staging.shutdown()
            _ = try result.get()
            let s = loader.statistics.snapshot
            #expect(s.received == count)
            #expect(s.staged == count)
            #expect(s.duplicates == 0)
            #expect(s.deleted == count)
            let deleted = queue.deleted
            #expect(deleted.count == count, "every message deleted")
            #expect(deleted.values.allSatisfy { $0 == 1 }, "none deleted twice")
            let connection = try database.connect()
            defer { connection.close() }
            let rows = try connection.query("SELECT count(*) AS n, count(DISTINCT message_id) AS d FROM public.raw_logins").first
            #expect(rows?["n"].int == count)
            #expect(rows?["d"].int == count)
            // The bound holds, and with 40 ms per call the controller went past where it started.
            #expect(queue.peakReceivesInFlight <= 12)
            #expect(queue.peakReceivesInFlight > 2, "peak \(queue.peakReceivesInFlight) receives in flight")
            #expect(loader.receiversRunning == 0)
        }
    }

    @Test func anIdleQueueIsPolledByOneReceiveAtATime() async throws {
        // Nothing is received, so the database is never used.
        let queue = DistantQueue(bodies: [], latency: .milliseconds(5), longPoll: .milliseconds(100))
        var settings = LoadSettings()
        settings.mode = .follow
        settings.receivers = 8
        settings.maxReceivers = 32
        settings.receiverInterval = .milliseconds(50)
        settings.waitTimeSeconds = 20
        settings.process = false
        settings.shutdownGrace = .milliseconds(500)
        let staging = StagingDatabase(connectionString: "host=127.0.0.1 port=1 connect_timeout=1", logger: Logger(label: "test"))
        let loader = QueueLoader(queue: queue, database: staging, settings: settings, logger: Logger(label: "test"))
        let running = Task { try await loader.run() }
        let deadline = ContinuousClock.now + .seconds(20)
        while loader.receiversRunning < 8, ContinuousClock.now < deadline {
            try await Task.sleep(for: .milliseconds(5))
        }
        while loader.receiversRunning > 1, ContinuousClock.now < deadline {
            try await Task.sleep(for: .milliseconds(20))
        }
        #expect(loader.receiversRunning == 1)
        // From now on: one long poll at a time, so about one request per long poll.
        try await Task.sleep(for: .milliseconds(150))
        queue.resetPeak()
        let before = queue.requestCount
        try await Task.sleep(for: .seconds(1))
        let requests = queue.requestCount - before
        #expect(queue.peakReceivesInFlight == 1)
        #expect(requests <= 11, "\(requests) requests in 1 s with 100 ms long polls")
        #expect(requests >= 2, "still polling: \(requests)")
        loader.requestShutdown()
        _ = try await running.value
        await staging.shutdown()
    }
}
