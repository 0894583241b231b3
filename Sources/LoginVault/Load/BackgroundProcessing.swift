import Logging
import Synchronization

/// Runs `process_raw_logins` on a connection of its own while a load is still
/// staging, so that the call at the end of a drain has little left to do, and
/// so that staging never waits for processing.
///
/// A run starts whenever `threshold` messages have been staged since the last
/// one started (or when `trigger()` is called, e.g. by the `--follow` timer);
/// triggers that arrive while a run is going are merged into one next run.
/// Concurrent runs are safe: the procedure claims rows with `FOR UPDATE SKIP
/// LOCKED`, so each staged row is processed by exactly one run.
/// A failed run is logged and not retried here: its rows stay staged for the
/// next run, or for the final call, whose failure the loader reports.
final class BackgroundProcessing: Sendable {
    private let database: StagingDatabase
    private let threshold: Int?
    private let logger: Logger
    private let stream: AsyncStream<Void>
    private let continuation: AsyncStream<Void>.Continuation
    private let sinceLastRun = Mutex(0)
    private let collected = Mutex<[ProcessingRun]>([])

    /// `threshold` nil: runs only on `trigger()`.
    init(database: StagingDatabase, threshold: Int?, logger: Logger) {
        self.database = database
        self.threshold = threshold
        self.logger = logger
        (stream, continuation) = AsyncStream.makeStream(of: Void.self, bufferingPolicy: .bufferingNewest(1))
    }

    /// Counts newly staged messages; starts a run once `threshold` is reached.
    func staged(_ count: Int) {
        guard let threshold, count > 0 else { return }
        let due = sinceLastRun.withLock { pending in
            pending += count
            guard pending >= threshold else { return false }
            pending = 0
            return true
        }
        if due { continuation.yield() }
    }

    /// Asks for a run as soon as the current one (if any) is over.
    func trigger() { continuation.yield() }

    /// No more runs after the current one; `run()` then returns.
    func finish() { continuation.finish() }

    /// The runs so far.
    var runs: [ProcessingRun] { collected.withLock { $0 } }

    /// Runs until `finish()`; then closes its connection and stops its thread.
    func run() async {
        for await _ in stream {
            do {
                let run = try await database.processRawLogins()
                logger.info("\(run.summary)")
                collected.withLock { $0.append(run) }
            } catch {
                logger.warning("process_raw_logins while loading failed (the rows stay staged for the next run): \(error)")
            }
        }
        await database.close()
        await database.shutdown()
    }
}
