import Synchronization

/// A hand-over between the stages of `load` (receivers → writer, writer →
/// deleters): producers append under a lock and only suspend when more than
/// `capacity` elements wait; consumers take one element, or a batch, and only
/// suspend when there is nothing (or not enough) to take.
///
/// It replaces channels that passed each receive through a rendezvous, a
/// buffer task and a timer merge: every hand-over was a task switch (measured:
/// about a fifth of the loader's CPU). Here, while the consumer is busy, a
/// hand-over is an append; a waiting consumer is woken once per batch.
///
/// Sending never drops elements and ignores task cancellation (what a receiver
/// got must reach the writer, which stages or releases it); `finish()` lets
/// the consumers take what is left, then end.
final class BoundedQueue<Element: Sendable>: Sendable {
    private struct State {
        var elements: [Element] = []
        var head = 0
        var finished = false
        /// Consumers waiting in `next()`, and the one waiting in `nextBatch` with the count it wants.
        var consumers: [CheckedContinuation<Void, Never>] = []
        var batchConsumer: (wanted: Int, continuation: CheckedContinuation<Void, Never>, id: Int)?
        var nextWaitID = 0
        /// The last `nextBatch` wait whose timeout has passed.
        var expiredWaitID = 0
        /// Producers waiting for room.
        var producers: [CheckedContinuation<Void, Never>] = []

        var count: Int { elements.count - head }

        mutating func take(_ n: Int) -> [Element] {
            let taken = Array(elements[head..<(head + n)])
            head += n
            compact()
            return taken
        }

        mutating func takeOne() -> Element {
            let taken = elements[head]
            head += 1
            compact()
            return taken
        }

        /// Drops taken elements now and then, not on every take.
        private mutating func compact() {
            if head == elements.count {
                elements.removeAll(keepingCapacity: true)
                head = 0
            } else if head > 1024, head * 2 > elements.count {
                elements.removeFirst(head)
                head = 0
            }
        }
    }

    private let state = Mutex(State())
    let capacity: Int

    /// - Parameter capacity: how many elements may wait before producers suspend (at least 1).
    init(capacity: Int) {
        self.capacity = max(1, capacity)
    }

    /// Appends `elements` (all of them, even past `capacity`), then waits while more
    /// than `capacity` wait. Never throws and is not cut short by cancellation.
    /// Returns whether it had to wait (the consumer is behind).
    @discardableResult
    func send(contentsOf elements: [Element]) async -> Bool {
        guard !elements.isEmpty else { return false }
        let mustWait = state.withLock { state -> Bool in
            state.elements.append(contentsOf: elements)
            wakeConsumers(&state)
            return state.count > capacity && !state.finished
        }
        guard mustWait else { return false }
        await withCheckedContinuation { (continuation: CheckedContinuation<Void, Never>) in
            let resumeNow = state.withLock { state -> Bool in
                if state.count <= capacity || state.finished { return true }
                state.producers.append(continuation)
                return false
            }
            if resumeNow { continuation.resume() }
        }
        return true
    }

    /// No more elements will be sent: consumers take what is left, then get nil / [].
    func finish() {
        let waiting = state.withLock { state -> [CheckedContinuation<Void, Never>] in
            state.finished = true
            var all = state.consumers + state.producers
            if let batch = state.batchConsumer { all.append(batch.continuation) }
            state.consumers = []
            state.producers = []
            state.batchConsumer = nil
            return all
        }
        for continuation in waiting { continuation.resume() }
    }

    /// The next element, waiting for one; nil once finished and empty.
    func next() async -> Element? {
        while true {
            let taken: Element?? = state.withLock { state in
                if state.count > 0 {
                    let element = state.takeOne()
                    wakeProducers(&state)
                    return .some(element)
                }
                return state.finished ? .some(nil) : nil
            }
            if let taken { return taken }
            await withCheckedContinuation { (continuation: CheckedContinuation<Void, Never>) in
                let resumeNow = state.withLock { state -> Bool in
                    if state.count > 0 || state.finished { return true }
                    state.consumers.append(continuation)
                    return false
                }
                if resumeNow { continuation.resume() }
            }
        }
    }

    /// Up to `maxCount` elements: as soon as `maxCount` wait, or `window` after this
    /// call began with at least one waiting (then all of them), or once finished
    /// (what is left). An empty array means finished and empty. One consumer at a time.
    func nextBatch(maxCount: Int, window: Duration) async -> [Element] {
        let deadline = ContinuousClock.now + window
        while true {
            let taken: [Element]? = state.withLock { state in
                if state.count >= maxCount || ((state.finished || ContinuousClock.now >= deadline) && state.count > 0) {
                    let batch = state.take(min(maxCount, state.count))
                    wakeProducers(&state)
                    return batch
                }
                return state.finished ? [] : nil
            }
            if let taken { return taken }
            let now = ContinuousClock.now
            // Wait for a full batch, or the window (then again, in windows, until something arrives).
            await waitForBatch(maxCount, timeout: deadline > now ? deadline - now : window)
        }
    }

    private func waitForBatch(_ wanted: Int, timeout: Duration) async {
        let id = state.withLock { state -> Int in
            state.nextWaitID += 1
            return state.nextWaitID
        }
        await withTaskGroup(of: Void.self) { group in
            group.addTask {
                try? await Task.sleep(for: timeout)
                self.endBatchWait(id)
            }
            await withCheckedContinuation { (continuation: CheckedContinuation<Void, Never>) in
                let resumeNow = state.withLock { state -> Bool in
                    if state.count >= wanted || state.finished || state.expiredWaitID >= id { return true }
                    state.batchConsumer = (wanted, continuation, id)
                    return false
                }
                if resumeNow { continuation.resume() }
            }
            group.cancelAll()
        }
        endBatchWait(id)
    }

    /// Ends wait `id`: resumes the batch consumer if it is waiting in it, and
    /// keeps it from starting to wait if it has not yet.
    private func endBatchWait(_ id: Int) {
        let continuation = state.withLock { state -> CheckedContinuation<Void, Never>? in
            state.expiredWaitID = max(state.expiredWaitID, id)
            guard let waiting = state.batchConsumer, waiting.id == id else { return nil }
            state.batchConsumer = nil
            return waiting.continuation
        }
        continuation?.resume()
    }

    // Both run under the lock; resuming a continuation there is fine (it only schedules the task).

    private func wakeConsumers(_ state: inout State) {
        if let waiting = state.batchConsumer, state.count >= waiting.wanted {
            state.batchConsumer = nil
            waiting.continuation.resume()
        }
        // One consumer per waiting element: the others would find nothing and wait again.
        let wake = min(state.consumers.count, state.count)
        guard wake > 0 else { return }
        for continuation in state.consumers.prefix(wake) { continuation.resume() }
        state.consumers.removeFirst(wake)
    }

    private func wakeProducers(_ state: inout State) {
        guard state.count <= capacity, !state.producers.isEmpty else { return }
        let producers = state.producers
        state.producers = []
        for producer in producers { producer.resume() }
    }
}
