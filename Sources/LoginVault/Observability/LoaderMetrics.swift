import CoreMetrics
import Foundation
import SQS
import Synchronization

/// The instruments of one `load` run (swift-metrics, exported by `PrometheusExport`), and
/// the hooks that feed them: the loader's counters (`observe(_:_:)`, given to
/// `LoadStatistics`), its timings (`LoadObserver`), the SQS client's attempts, the
/// processing runs, and the pollers (queue attributes, staging backlog).
///
/// The counters shared with the final summary move by exactly the differences the
/// summary's counters move by, so after a run they agree to the message.
public final class LoaderMetrics: LoadObserver, Sendable {
    private let factory: any MetricsFactory
    private let received, staged, duplicates, rejected, quarantined, deleted: Counter
    private let deleteFailures, released, extended, md5Mismatches, committedBatches, failedBatches: Counter
    private let batchSize: Recorder
    private let commitDuration, receiveToCommit, receiveToDelete, processingDuration: CoreMetrics.Timer
    private let inFlight, lastCommit, lastProcessingSuccess: Gauge
    private let queueVisible, queueNotVisible, backlogRows, backlogOldestAge: Gauge
    private let processingUpserted, processingRejected, credentialRefreshes: Counter
    private let processingSucceeded, processingFailed: Counter
    /// What `refresh()` reads the in-flight gauge from (the running loader).
    private let inFlightSource = Mutex<(@Sendable () -> Int)?>(nil)
    /// Liveness: the last sign of progress (a receive answered, or a batch committed).
    public let liveness = Liveness()

    public init(factory: any MetricsFactory) {
        self.factory = factory
        func counter(_ metric: MetricCatalog.Metric, _ dimensions: [(String, String)] = []) -> Counter {
            Counter(label: metric.name, dimensions: dimensions, factory: factory)
        }
        func gauge(_ metric: MetricCatalog.Metric) -> Gauge { Gauge(label: metric.name, factory: factory) }
        func timer(_ metric: MetricCatalog.Metric) -> CoreMetrics.Timer { CoreMetrics.Timer(label: metric.name, factory: factory) }
        received = counter(MetricCatalog.received)
        staged = counter(MetricCatalog.staged)
        duplicates = counter(MetricCatalog.duplicates)
        rejected = counter(MetricCatalog.rejected)
        quarantined = counter(MetricCatalog.quarantined)
        deleted = counter(MetricCatalog.deleted)
        deleteFailures = counter(MetricCatalog.deleteFailures)
        released = counter(MetricCatalog.released)
        extended = counter(MetricCatalog.extended)
        md5Mismatches = counter(MetricCatalog.md5Mismatches)
        committedBatches = counter(MetricCatalog.batches, [("outcome", "committed")])
        failedBatches = counter(MetricCatalog.batches, [("outcome", "failed")])
        batchSize = Recorder(label: MetricCatalog.batchSize.name, dimensions: [], aggregate: true, factory: factory)
        commitDuration = timer(MetricCatalog.commitDuration)
        receiveToCommit = timer(MetricCatalog.receiveToCommit)
        receiveToDelete = timer(MetricCatalog.receiveToDelete)
        processingDuration = timer(MetricCatalog.processingDuration)
        inFlight = gauge(MetricCatalog.inFlight)
        lastCommit = gauge(MetricCatalog.lastCommit)
        lastProcessingSuccess = gauge(MetricCatalog.lastProcessingSuccess)
        queueVisible = gauge(MetricCatalog.queueVisible)
        queueNotVisible = gauge(MetricCatalog.queueNotVisible)
        backlogRows = gauge(MetricCatalog.backlogRows)
        backlogOldestAge = gauge(MetricCatalog.backlogOldestAge)
        processingUpserted = counter(MetricCatalog.processingUpserted)
        processingRejected = counter(MetricCatalog.processingRejected)
        processingSucceeded = counter(MetricCatalog.processingRuns, [("outcome", "success")])
        processingFailed = counter(MetricCatalog.processingRuns, [("outcome", "failure")])
        credentialRefreshes = counter(MetricCatalog.credentialRefreshes)
        // Present from the first scrape, at 0, so rate() and absent() behave from the start.
        for gauge in [inFlight, lastCommit, lastProcessingSuccess, backlogRows, backlogOldestAge] { gauge.record(0.0) }
    }

    // MARK: - The loader's counters

    /// `observe(_:_:)` as a closure, for `LoadStatistics(onChange:)`.
    public var statisticsHook: @Sendable (LoadStatistics.Snapshot, LoadStatistics.Snapshot) -> Void {
        { [self] before, after in observe(before, after) }
    }

    /// `processRun(_:)` as a closure, for `StagingDatabase(onProcessRun:)`.
    public var processRunHook: @Sendable (ProcessRun) -> Void {
        { [self] run in processRun(run) }
    }

    /// `rejectsStored(_:)` as a closure, for `StagingDatabase(onStagingRejects:)`.
    public var stagingRejectsHook: @Sendable ([String: Int]) -> Void {
        { [self] reasons in rejectsStored(reasons) }
    }

    /// Counts rows put in rejected_logins, by the reason codes the database reported
    /// (`loginvault_rejected_logins_total{reason}`).
    public func rejectsStored(_ reasons: [String: Int]) {
        for (reason, count) in reasons where count > 0 {
            Counter(label: MetricCatalog.rejectedByReason.name, dimensions: [("reason", reason)], factory: factory).increment(by: count)
        }
    }

    /// Give to `LoadStatistics(onChange:)`: counts what each update added.
    public func observe(_ before: LoadStatistics.Snapshot, _ after: LoadStatistics.Snapshot) {
        func add(_ counter: Counter, _ path: KeyPath<LoadStatistics.Snapshot, Int>) {
            let delta = after[keyPath: path] - before[keyPath: path]
            if delta > 0 { counter.increment(by: delta) }
        }
        add(received, \.received)
        add(staged, \.staged)
        add(duplicates, \.duplicates)
        add(rejected, \.rejected)
        add(quarantined, \.quarantined)
        add(deleted, \.deleted)
        add(deleteFailures, \.deleteFailures)
        add(released, \.released)
        add(extended, \.extended)
        add(md5Mismatches, \.md5Mismatches)
        add(committedBatches, \.batches)
        add(failedBatches, \.failedBatches)
        // Messages received or a batch committed (also when loading a file): the loops are turning.
        if after.received > before.received || after.batches > before.batches { liveness.progressed() }
    }

    // MARK: - LoadObserver

    public func batchCommitted(_ batch: [IncomingMessage], took: Duration) {
        let now = ContinuousClock.now
        batchSize.record(batch.count)
        commitDuration.recordNanoseconds(took.nanoseconds)
        for message in batch { receiveToCommit.recordNanoseconds((now - message.receivedAt).nanoseconds) }
        lastCommit.record(Date().timeIntervalSince1970)
        liveness.progressed()
    }

    public func messagesDeleted(_ messages: [IncomingMessage]) {
        let now = ContinuousClock.now
        for message in messages { receiveToDelete.recordNanoseconds((now - message.receivedAt).nanoseconds) }
    }

    // MARK: - SQS

    /// Give to `SQSClient.observeRequests`.
    public func sqsRequest(_ event: SQSRequestEvent) {
        Counter(label: MetricCatalog.sqsRequests.name,
                dimensions: [("operation", event.action), ("outcome", event.outcome.rawValue)], factory: factory).increment()
        if event.willRetry {
            Counter(label: MetricCatalog.sqsRetries.name, dimensions: [("operation", event.action)], factory: factory).increment()
        }
        if event.outcome == .throttled {
            Counter(label: MetricCatalog.sqsThrottles.name, dimensions: [("operation", event.action)], factory: factory).increment()
        }
        // An answered long poll, empty or not, shows the receive loop is turning.
        if event.action == "ReceiveMessage", event.outcome == .success { liveness.progressed() }
    }

    /// The queue's approximate counts, from `GetQueueAttributes`.
    public func queueDepth(visible: Int, notVisible: Int) {
        queueVisible.record(visible)
        queueNotVisible.record(notVisible)
        if visible == 0 { liveness.progressed() }
    }

    /// Counts one refresh of temporary AWS credentials (`loginvault_credential_refreshes_total`;
    /// code without this object can also increment `Counter(label: "loginvault_credential_refreshes_total")`
    /// through the bootstrapped `MetricsSystem`).
    public func credentialsRefreshed() {
        credentialRefreshes.increment()
    }

    // MARK: - Processing and the backlog

    /// Give to `StagingDatabase(onProcessRun:)`.
    public func processRun(_ run: ProcessRun) {
        processingDuration.recordNanoseconds(run.duration.nanoseconds)
        guard let row = run.run else {
            processingFailed.increment()
            return
        }
        processingSucceeded.increment()
        processingUpserted.increment(by: row.upserted)
        processingRejected.increment(by: row.rejected)
        rejectsStored(row.rejectedReasons)
        lastProcessingSuccess.record(Date().timeIntervalSince1970)
    }

    /// The staging backlog, from the database.
    public func stagingBacklog(rows: Int, oldestAgeSeconds: Double) {
        backlogRows.record(rows)
        backlogOldestAge.record(oldestAgeSeconds)
    }

    /// Where the in-flight gauge is read from at each scrape.
    public func readInFlight(from source: @escaping @Sendable () -> Int) {
        inFlightSource.withLock { $0 = source }
    }

    /// Brings the gauges read at scrape time up to date.
    public func refresh() {
        if let source = inFlightSource.withLock({ $0 }) { inFlight.record(source()) }
    }
}

extension Duration {
    var nanoseconds: Int64 {
        components.seconds * 1_000_000_000 + components.attoseconds / 1_000_000_000
    }
}
