import Synchronization

/// Received messages that are neither deleted nor released yet, with the
/// moment their visibility runs out: what the heartbeat extends.
final class InFlightMessages: Sendable {
    private let deadlines = Mutex<[String: ContinuousClock.Instant]>([:])

    func add(_ receiptHandles: [String], visibleAgainAt deadline: ContinuousClock.Instant) {
        deadlines.withLock { table in
            for handle in receiptHandles { table[handle] = deadline }
        }
    }

    func remove(_ receiptHandles: [String]) {
        deadlines.withLock { table in
            for handle in receiptHandles { table[handle] = nil }
        }
    }

    /// Handles whose visibility ends before `limit`; their deadline moves to `newDeadline`.
    func takeDue(before limit: ContinuousClock.Instant, newDeadline: ContinuousClock.Instant) -> [String] {
        deadlines.withLock { table in
            let due = table.filter { $0.value < limit }.map(\.key)
            for handle in due { table[handle] = newDeadline }
            return due
        }
    }

    var count: Int { deadlines.withLock { $0.count } }
}
