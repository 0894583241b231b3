/// What the queue loader tells as it goes, beyond its counters (`LoadStatistics`):
/// the timings the metrics need (`LoaderMetrics`). Called from the loader's tasks,
/// so implementations must be quick and must not block.
public protocol LoadObserver: Sendable {
    /// A write batch committed: its messages, and how long the COPY and COMMIT took.
    func batchCommitted(_ batch: [IncomingMessage], took: Duration)
    /// Messages deleted from the queue after their batch committed.
    func messagesDeleted(_ messages: [IncomingMessage])
}
