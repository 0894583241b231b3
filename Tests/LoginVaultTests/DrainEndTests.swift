import Foundation
import Logging
@testable import LoginVault
import Synchronization
import TestSupport
import Testing

/// When a drain may believe an empty answer: on a FIFO queue an empty answer can mean
/// "every message group is locked behind messages some receive of ours was handed", and
/// the answer carrying those may still be on its way. The race is played here in an
/// explicit order (gates hold chosen answers and the deletes); the staging is the real one.
@Suite("Drain end")
struct DrainEndTests {
    /// Holds whoever waits until it is opened; then lets everyone through.
    final class Gate: Sendable {
        private let state = Mutex<(open: Bool, waiting: [CheckedContinuation<Void, Never>])>((false, []))

        func wait() async {
            await withCheckedContinuation { continuation in
                let through = state.withLock { state -> Bool in
                    if state.open { return true }
                    state.waiting.append(continuation)
                    return false
                }
                if through { continuation.resume() }
            }
        }

        func open() {
            let waiting = state.withLock { state in
                state.open = true
                defer { state.waiting = [] }
                return state.waiting
            }
            for continuation in waiting { continuation.resume() }
        }
    }

    /// An in-memory FIFO queue as SQS keeps one: a receive is served when it arrives, with
    /// the oldest messages of groups that have none in flight (handed out, not yet deleted or
    /// released); `waitTimeSeconds` is ignored (an empty answer comes at once). The answers
    /// to chosen receives (numbered from 1 in arrival order), and the deletes, can be held
    /// back until a gate opens: served, but not yet arrived at the loader.
    final class FifoQueue: MessageQueue {
        struct Stored: Sendable {
            let id: String
            let group: String
            let body: String
        }

        private struct State {
            var visible: [Stored]
            var handedOut: [String: Stored] = [:]  // receipt handle -> message
            var deleted: Set<String> = []
            var receives = 0
            var emptyAnswers = 0
        }

        private let state: Mutex<State>
        private let heldAnswers: [Int: Gate]
        private let heldDeletes: Gate?

        init(_ messages: [Stored], holdingAnswersTo heldAnswers: [Int: Gate] = [:], holdingDeletes: Gate? = nil) {
            state = Mutex(State(visible: messages))
            self.heldAnswers = heldAnswers
            self.heldDeletes = holdingDeletes
        }

        var receives: Int { state.withLock { $0.receives } }
        var emptyAnswers: Int { state.withLock { $0.emptyAnswers } }
        var deletedMessages: Int { state.withLock { $0.deleted.count } }
        var messagesLeft: Int { state.withLock { $0.visible.count + $0.handedOut.count } }
        var requestCount: Int { receives }

        func receive(maxMessages: Int, waitTimeSeconds: Int, visibilityTimeout: Int) async throws -> [IncomingMessage] {
            let (number, answer) = state.withLock { state -> (Int, [IncomingMessage]) in
                state.receives += 1
                let locked = Set(state.handedOut.values.map(\.group))
                var taken: [Int] = []
                for (index, message) in state.visible.enumerated() where taken.count < maxMessages && !locked.contains(message.group) {
                    taken.append(index)
                }
                let answer = taken.map { index in
                    let message = state.visible[index]
                    let handle = "h-\(UUID().uuidString)"
                    state.handedOut[handle] = message
                    return IncomingMessage(messageId: message.id, body: message.body, receiveCount: 1, receiptHandle: handle)
                }
                for index in taken.reversed() { state.visible.remove(at: index) }
                if answer.isEmpty { state.emptyAnswers += 1 }
                return (state.receives, answer)
            }
            await heldAnswers[number]?.wait()
            return answer
        }

        func delete(receiptHandles: [String]) async throws -> [ReceiptFailure] {
            await heldDeletes?.wait()
            return state.withLock { state in
                for handle in receiptHandles {
                    if let message = state.handedOut.removeValue(forKey: handle) { state.deleted.insert(message.id) }
                }
                return []
            }
        }

        func changeVisibility(receiptHandles: [String], timeout: Int) async throws -> [ReceiptFailure] {
            guard timeout == 0 else { return [] }
            state.withLock { state in
                let back = receiptHandles.compactMap { state.handedOut.removeValue(forKey: $0) }
                state.visible.insert(contentsOf: back, at: 0)
            }
            return []
        }
    }

    struct NotReached: Error, CustomStringConvertible {
        let description: String
    }

    /// Waits (polling) until `condition` holds; throws if it does not within 20 s.
    static func waitUntil(_ what: String, _ condition: () -> Bool) async throws {
        let deadline = ContinuousClock.now + .seconds(20)
        while !condition() {
            guard ContinuousClock.now < deadline else { throw NotReached(description: "never happened: \(what)") }
            try await Task.sleep(for: .milliseconds(5))
        }
    }

    /// Receiver B's receive is served first and takes the only message group's first ten; A's,
    /// sent while this process holds nothing, is served next and finds the group locked. B's
    /// answer arrives, the empty receives that follow make `--receivers auto` go down to one,
    /// B retires as one too many, B's ten are staged and deleted, and only then does A's empty
    /// answer arrive: nothing in flight when A's receive was sent, nothing in flight now. A
    /// must not take that for "drained": twenty messages are still in the queue.
    @Test(.enabled(if: Integration.postgres))
    func anEmptyAnswerWhileAnotherReceiveTookTheLastFreeGroupDoesNotEndTheDrain() async throws {
        try await StagingDatabaseTests.migrated("drain_end") { database in
            let messages = (0..<30).map {
                FifoQueue.Stored(id: "f-\($0)", group: "only-group",
                                 body: #"{"user_id":"f-\#($0)","ip":"10.4.0.\#($0)","device_id":"d-\#($0)"}"#)
            }
            let answerToB = Gate(), answerToA = Gate(), deletes = Gate()
            let queue = FifoQueue(messages, holdingAnswersTo: [1: answerToB, 2: answerToA], holdingDeletes: deletes)
            var settings = LoadSettings()
            settings.receivers = 2
            settings.maxReceivers = 2  // --receivers auto, between 1 and 2
            settings.receiverInterval = .milliseconds(20)
            settings.batchSize = 10
            settings.batchWindow = .milliseconds(20)
            settings.waitTimeSeconds = 0
            settings.process = false
            let staging = StagingDatabase(connectionString: database.connectionString, logger: Logger(label: "test"))
            let loader = QueueLoader(queue: queue, database: staging, settings: settings, logger: Logger(label: "test"))
            let running = Task { await Result(catching: { try await loader.run() }) }
            let script = await Result(catching: {
                try await Self.waitUntil("both first receives served") { queue.receives >= 2 }
                #expect(queue.emptyAnswers == 1, "A's receive found the only group locked by B's ten")
                answerToB.open()
                try await Self.waitUntil("B retired as one too many") { loader.receiversRunning == 1 }
                deletes.open()
                try await Self.waitUntil("B's ten deleted") { queue.deletedMessages == 10 && loader.messagesInFlight == 0 }
                answerToA.open()
            })
            // However the script went, let the loader finish (a drain ends by itself once nothing is held back).
            for gate in [answerToB, deletes, answerToA] { gate.open() }
            let result = await running.value
            await staging.close()
            await staging.shutdown()
            try script.get()
            _ = try result.get()
            let s = loader.statistics.snapshot
            #expect(queue.messagesLeft == 0, "the drain ended with \(queue.messagesLeft) of 30 messages still in the queue")
            #expect(s.staged == 30)
            #expect(s.deleted == 30)
            #expect(queue.deletedMessages == 30)
            #expect(loader.receiversRunning == 0)
        }
    }

    @Test func anEmptyAnswerIsTrustedOnlyOnceEveryReceiveStartedBeforeItHasAnsweredEmpty() throws {
        let pool = ReceiverPool(target: 3, maxHeld: 100)
        let first = try #require(pool.startReceive(wanted: 10, held: 0))
        let ours = try #require(pool.startReceive(wanted: 10, held: 0))
        pool.answered(ours, asked: 10, got: 0)
        let last = pool.lastStarted
        #expect(pool.quietSince(ours, through: last) == nil, "a receive started earlier is still out")
        let later = try #require(pool.startReceive(wanted: 10, held: 0))
        pool.answered(first, asked: 10, got: 3)
        // `later` is still out, but it started after `through`: not waited for.
        #expect(pool.quietSince(ours, through: last) == false, "it brought messages: the queue may hold more behind them")

        let second = try #require(pool.startReceive(wanted: 10, held: 0))
        pool.answered(later, asked: 10, got: 0)
        pool.answered(second, asked: 10, got: 0)
        #expect(pool.quietSince(second, through: pool.lastStarted) == true, "every receive since came back empty")

        let failing = try #require(pool.startReceive(wanted: 10, held: 0))
        let third = try #require(pool.startReceive(wanted: 10, held: 0))
        pool.failed(failing)
        pool.answered(third, asked: 10, got: 0)
        #expect(pool.quietSince(third, through: pool.lastStarted) == false, "a failed receive may have taken messages")

        let unsent = try #require(pool.startReceive(wanted: 10, held: 0))
        let fourth = try #require(pool.startReceive(wanted: 10, held: 0))
        pool.failed(unsent, sent: false)
        pool.answered(fourth, asked: 10, got: 0)
        #expect(pool.quietSince(fourth, through: pool.lastStarted) == true, "a receive never sent took nothing")
    }
}
