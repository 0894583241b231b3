import Synchronization

/// Received messages that are neither deleted nor released yet, with the
/// moment their visibility runs out: what the heartbeat extends.
///
/// It also remembers which messages this run received through more than one
/// receipt handle (SQS delivers at least once, and may hand one message to two
/// receives at the same time). When one receipt deletes such a message, a
/// delete through the other may be refused as `ReceiptHandleIsInvalid` (moto
/// does this): the message is gone all the same, and the loader counts that
/// receipt as deleted, not as a failure.
final class InFlightMessages: Sendable {
    private struct State {
        var deadlines: [String: ContinuousClock.Instant] = [:]
        /// Receipt handles in flight per message id.
        var receipts: [String: Int] = [:]
        /// Message ids received through two receipt handles during this run.
        var duplicated: Set<String> = []
        /// The ids of the last messages whose receipts were all done, oldest first (a copy
        /// handed to a second receive may arrive after the first copy was deleted).
        var recentlyDone: [String] = []
        var recentlyDoneSet: Set<String> = []
    }

    /// How many finished message ids are remembered to recognise a late second copy.
    static let rememberedDone = 4096

    private let state = Mutex(State())

    func add(_ messages: [IncomingMessage], visibleAgainAt deadline: ContinuousClock.Instant) {
        state.withLock { state in
            for message in messages {
                guard let handle = message.receiptHandle else { continue }
                state.deadlines[handle] = deadline
                let count = (state.receipts[message.messageId] ?? 0) + 1
                state.receipts[message.messageId] = count
                if count > 1 || state.recentlyDoneSet.contains(message.messageId) { state.duplicated.insert(message.messageId) }
            }
        }
    }

    /// The messages are done (deleted, released, or given up on).
    func remove(_ messages: [IncomingMessage]) {
        state.withLock { state in
            for message in messages {
                guard let handle = message.receiptHandle, state.deadlines.removeValue(forKey: handle) != nil else { continue }
                let count = (state.receipts[message.messageId] ?? 1) - 1
                state.receipts[message.messageId] = count > 0 ? count : nil
                if count <= 0, state.recentlyDoneSet.insert(message.messageId).inserted {
                    state.recentlyDone.append(message.messageId)
                    if state.recentlyDone.count > 2 * Self.rememberedDone {
                        for old in state.recentlyDone.prefix(Self.rememberedDone) { state.recentlyDoneSet.remove(old) }
                        state.recentlyDone.removeFirst(Self.rememberedDone)
                    }
                }
            }
        }
    }

    /// Whether this run received `messageId` through more than one receipt handle at once.
    func wasDuplicated(_ messageId: String) -> Bool {
        state.withLock { $0.duplicated.contains(messageId) }
    }

    /// Handles whose visibility ends before `limit`; their deadline moves to `newDeadline`.
    func takeDue(before limit: ContinuousClock.Instant, newDeadline: ContinuousClock.Instant) -> [String] {
        state.withLock { state in
            let due = state.deadlines.filter { $0.value < limit }.map(\.key)
            for handle in due { state.deadlines[handle] = newDeadline }
            return due
        }
    }

    var count: Int { state.withLock { $0.deadlines.count } }
}
