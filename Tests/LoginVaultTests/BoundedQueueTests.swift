@testable import LoginVault
import Synchronization
import Testing

/// The hand-over between load's stages: order, batching, bounds, finishing, and
/// that a send is never lost. No test here depends on how fast the machine is:
/// windows are either long enough to never fire or are waited out.
@Suite("BoundedQueue")
struct BoundedQueueTests {
    @Test func keepsOrderAndHandsOutFullBatches() async {
        let queue = BoundedQueue<Int>(capacity: 100)
        await queue.send(contentsOf: Array(0..<25))
        // A full batch is there at once: no waiting for the (hour-long) window.
        #expect(await queue.nextBatch(maxCount: 10, window: .seconds(3600)) == Array(0..<10))
        #expect(await queue.nextBatch(maxCount: 10, window: .seconds(3600)) == Array(10..<20))
        queue.finish()
        // After finish: what is left, then the empty batch that means "done".
        #expect(await queue.nextBatch(maxCount: 10, window: .seconds(3600)) == Array(20..<25))
        #expect(await queue.nextBatch(maxCount: 10, window: .seconds(3600)) == [])
    }

    @Test func aShortBatchLeavesAfterItsWindow() async {
        let queue = BoundedQueue<Int>(capacity: 100)
        await queue.send(contentsOf: [1, 2, 3])
        #expect(await queue.nextBatch(maxCount: 500, window: .milliseconds(20)) == [1, 2, 3])
    }

    @Test func aWaitingWriterIsWokenByTheElementThatFillsItsBatch() async {
        let queue = BoundedQueue<Int>(capacity: 100)
        async let batch = queue.nextBatch(maxCount: 30, window: .seconds(3600))
        for start in stride(from: 0, to: 30, by: 10) {
            await queue.send(contentsOf: Array(start..<(start + 10)))
        }
        #expect(await batch == Array(0..<30))
    }

    @Test func finishWakesAWaitingWriterWithWhatIsLeft() async {
        let queue = BoundedQueue<Int>(capacity: 100)
        async let batch = queue.nextBatch(maxCount: 30, window: .seconds(3600))
        await queue.send(contentsOf: [7])
        queue.finish()
        #expect(await batch == [7])
    }

    @Test func consumersShareTheElementsAndEndOnFinish() async {
        let queue = BoundedQueue<Int>(capacity: 10)
        let seen = Shared<[Int]>([])
        await withTaskGroup(of: Void.self) { group in
            for _ in 0..<4 {
                group.addTask {
                    while let element = await queue.next() { seen.update { $0.append(element) } }
                }
            }
            for start in stride(from: 0, to: 1_000, by: 10) {
                await queue.send(contentsOf: Array(start..<(start + 10)))
            }
            queue.finish()
        }
        #expect(seen.value.sorted() == Array(0..<1_000))
    }

    @Test func producersPauseWhileMoreThanTheCapacityWaits() async {
        let queue = BoundedQueue<Int>(capacity: 10)
        let sent = Shared(0)
        let waited = Shared<[Bool]>([])
        let producer = Task {
            for start in stride(from: 0, to: 50, by: 10) {
                let didWait = await queue.send(contentsOf: Array(start..<(start + 10)))
                waited.update { $0.append(didWait) }
                sent.update { $0 += 10 }
            }
            queue.finish()
        }
        // The second send (20 waiting > 10) cannot return before something is taken.
        while sent.value < 10 { await Task.yield() }
        for _ in 0..<200 { await Task.yield() }
        #expect(sent.value == 10)
        var taken: [Int] = []
        while true {
            let batch = await queue.nextBatch(maxCount: 15, window: .milliseconds(1))
            if batch.isEmpty { break }
            taken += batch
        }
        await producer.value
        #expect(taken == Array(0..<50))
        // A send says whether it waited (the loader counts that as the writer being behind):
        // the first did not, the second did.
        #expect(waited.value.prefix(2) == [false, true])
    }

    @Test func aCancelledSenderStillHandsOver() async {
        let queue = BoundedQueue<Int>(capacity: 2)
        await queue.send(contentsOf: [0, 1])  // at capacity: the next send has to wait
        let sender = Task { await queue.send(contentsOf: [2, 3]) }
        sender.cancel()
        #expect(await queue.nextBatch(maxCount: 2, window: .seconds(3600)) == [0, 1])
        _ = await sender.value
        queue.finish()
        #expect(await queue.nextBatch(maxCount: 10, window: .seconds(3600)) == [2, 3])
    }
}

/// A value tasks share, behind a lock.
final class Shared<Value: Sendable>: Sendable {
    private let storage: Mutex<Value>
    init(_ value: Value) { storage = Mutex(value) }
    var value: Value { storage.withLock { $0 } }
    func update(_ change: (inout Value) -> Void) { storage.withLock { change(&$0) } }
}
