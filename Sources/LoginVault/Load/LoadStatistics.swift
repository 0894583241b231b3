import Synchronization

/// Counters of a `load` run, updated by every part of the pipeline at once.
public final class LoadStatistics: Sendable {
    /// The counters at one moment.
    public struct Snapshot: Sendable, Equatable, Codable {
        /// Messages received from the queue (or read from the file).
        public var received = 0
        /// New rows in raw_logins.
        public var staged = 0
        /// Messages already staged before (redeliveries), skipped.
        public var duplicates = 0
        /// Bodies that are not valid jsonb, quarantined by the database.
        public var rejected = 0
        /// Messages the database quarantined before staging: poison (too_many_receives),
        /// a NUL byte (nul_byte) or invalid UTF-8 (invalid_utf8).
        public var quarantined = 0
        /// Messages deleted from the queue after their batch committed (a redelivered copy
        /// skipped as a duplicate is deleted too). Every message received ends in exactly one
        /// of `deleted`, `deleteFailures`, `released` or `releaseFailures`.
        public var deleted = 0
        /// Messages whose delete failed for good (they come back and are skipped as duplicates).
        public var deleteFailures = 0
        /// Messages made visible again without being staged (failure or shutdown).
        public var released = 0
        /// Messages that could not be released (SQS refused or was unreachable): they
        /// return after their visibility timeout.
        public var releaseFailures = 0
        /// Visibility extensions of messages held longer than expected.
        public var extended = 0
        /// Messages whose body did not match its MD5, left to redelivery.
        public var md5Mismatches = 0
        /// Write batches committed.
        public var batches = 0
        /// Write batches that failed (rolled back, released).
        public var failedBatches = 0
    }

    /// What a run is doing now (for the progress line).
    public enum Phase: String, Sendable {
        /// Receiving (or reading) and staging.
        case loading
        /// The final process_raw_logins call.
        case processing
    }

    private let state = Mutex(Snapshot())
    private let currentPhase = Mutex(Phase.loading)
    private let onChange: (@Sendable (_ before: Snapshot, _ after: Snapshot) -> Void)?

    /// `onChange` is told of every update, with the counters just before and just after it
    /// (the metrics count the differences, so they add up to exactly what the summary shows).
    public init(onChange: (@Sendable (_ before: Snapshot, _ after: Snapshot) -> Void)? = nil) {
        self.onChange = onChange
    }

    public var phase: Phase { currentPhase.withLock { $0 } }

    public func enter(_ phase: Phase) {
        currentPhase.withLock { $0 = phase }
    }

    public var snapshot: Snapshot { state.withLock { $0 } }

    public func update(_ body: (inout Snapshot) -> Void) {
        guard let onChange else {
            state.withLock { body(&$0) }
            return
        }
        let (before, after) = state.withLock { (current: inout Snapshot) -> (Snapshot, Snapshot) in
            let before = current
            body(&current)
            return (before, current)
        }
        onChange(before, after)
    }

    func record(_ outcome: StagingOutcome) {
        update {
            $0.staged += outcome.staged
            $0.duplicates += outcome.duplicates
            $0.rejected += outcome.rejected
            $0.quarantined += outcome.quarantined
            $0.batches += 1
        }
    }
}
