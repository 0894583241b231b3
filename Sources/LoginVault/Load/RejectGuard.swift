import Logging
import Synchronization

/// Watches how much of what `load` stages the database rejects as not JSON at all
/// (`rejected` plus `quarantined` in a `StagingOutcome`): a text or binary file, or
/// `--format lines` on a JSON array, would otherwise "succeed" by filling the
/// quarantine with junk.
///
/// It warns when one batch (of at least `minimumSeen` messages) is mostly rejected, and, given `maxRatio`, stops the load
/// once the share rejected so far exceeds it (after at least `minimumSeen` messages,
/// so one bad message at the start does not stop a healthy load).
final class RejectGuard: Sendable {
    /// Share of a batch above which a warning is logged.
    static let warnRatio = 0.5
    /// Messages seen before the ratio may stop the load.
    static let minimumSeen = 20

    let maxRatio: Double?
    private let totals = Mutex((seen: 0, rejected: 0, lastWarning: ContinuousClock.Instant?.none))

    init(maxRatio: Double?) {
        self.maxRatio = maxRatio
    }

    /// Records a staged batch; returns the error to stop with when the ratio is exceeded.
    func check(_ outcome: StagingOutcome, logger: Logger) -> LoadError? {
        let rejected = outcome.rejected + outcome.quarantined
        let (seen, total, warn) = totals.withLock { totals in
            totals.seen += outcome.total
            totals.rejected += rejected
            var warn = false
            if outcome.total >= Self.minimumSeen, Double(rejected) / Double(outcome.total) > Self.warnRatio,
               totals.lastWarning.map({ ContinuousClock.now - $0 > .seconds(10) }) ?? true {
                totals.lastWarning = .now
                warn = true
            }
            return (totals.seen, totals.rejected, warn)
        }
        if warn {
            logger.warning("\(rejected) of a batch of \(outcome.total) messages were not JSON and went to rejected_logins: is this the right queue or file (and --format)?")
        }
        guard let maxRatio, seen >= min(Self.minimumSeen, max(1, outcome.total)), seen > 0 else { return nil }
        let ratio = Double(total) / Double(seen)
        return ratio > maxRatio ? LoadError.tooManyRejects(rejected: total, seen: seen, maxRatio: maxRatio) : nil
    }
}
