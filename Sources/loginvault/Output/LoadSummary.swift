import Foundation
import LoginVault

/// The end-of-run report of `load`, as text or JSON.
struct LoadSummary: Encodable {
    let mode: String
    let statistics: LoadStatistics.Snapshot
    let seconds: Double
    let messagesPerSecond: Double
    let queueRequests: Int?
    let requestsPerMessage: Double?
    /// Each process_raw_logins run's summary line (`ProcessingRun.summary`).
    let process: [String]
    /// The same runs, as values (their run-log rows).
    let processRuns: [ProcessingRun]
    /// What became of the messages, from staging and the processing runs together.
    let totals: Totals
    /// Why the load stopped short (the line printed on standard error); nil when it did not.
    let error: String?

    init(mode: String, statistics: LoadStatistics.Snapshot, elapsed: Duration, queueRequests: Int?, runs: [ProcessingRun],
         error: String? = nil) {
        self.mode = mode
        self.statistics = statistics
        seconds = Double(elapsed.components.seconds) + Double(elapsed.components.attoseconds) / 1e18
        messagesPerSecond = seconds > 0 ? Double(statistics.received) / seconds : 0
        self.queueRequests = queueRequests
        requestsPerMessage = queueRequests.flatMap { statistics.received > 0 ? Double($0) / Double(statistics.received) : nil }
        process = runs.map(\.summary)
        processRuns = runs
        totals = Totals(statistics: statistics, runs: runs)
        self.error = error
    }

    enum CodingKeys: String, CodingKey {
        case mode, statistics, totals, seconds, messagesPerSecond, queueRequests, requestsPerMessage, process, processRuns, error
    }

    /// Every field, null ones included, so a script can rely on the keys being there.
    func encode(to encoder: any Encoder) throws {
        var container = encoder.container(keyedBy: CodingKeys.self)
        try container.encode(mode, forKey: .mode)
        try container.encode(statistics, forKey: .statistics)
        try container.encode(totals, forKey: .totals)
        try container.encode(seconds, forKey: .seconds)
        try container.encode(messagesPerSecond, forKey: .messagesPerSecond)
        try container.encode(queueRequests, forKey: .queueRequests)
        try container.encode(requestsPerMessage, forKey: .requestsPerMessage)
        try container.encode(process, forKey: .process)
        try container.encode(processRuns, forKey: .processRuns)
        try container.encode(error, forKey: .error)
    }

    var text: String {
        let s = statistics
        var lines = [
            "loginvault load (\(mode)): received \(s.received), staged \(s.staged), duplicates \(s.duplicates), "
                + "deleted \(s.deleted)",
            totals.text,
            String(format: "  %.1f s, %.0f msgs/s", seconds, messagesPerSecond)
                + (requestsPerMessage.map { String(format: ", %.3f SQS requests/message", $0) } ?? "")
                + ", \(s.batches) batches",
        ]
        if s.failedBatches + s.released + s.releaseFailures + s.deleteFailures + s.md5Mismatches + s.extended > 0 {
            lines.append("  failed batches \(s.failedBatches), released \(s.released), not released \(s.releaseFailures), "
                         + "delete failures \(s.deleteFailures), MD5 mismatches \(s.md5Mismatches), visibility extended \(s.extended)")
        }
        lines += process
        return lines.joined(separator: "\n")
    }

    var json: String { jsonLine }
}

/// One consistent set of counters for a load: the staging outcome and the processing runs
/// added up, so the summary never says "rejected 0" above a run that rejected one.
struct Totals: Encodable {
    /// user_logins rows inserted, or updated because a value changed (processing).
    let logins: Int
    /// Messages processed that were already logins, unchanged (a replayed file, a redelivery).
    let unchanged: Int
    /// Every reject: `rejectedNotJSON` plus `rejectedAtProcessing`.
    let rejected: Int
    /// Bodies the database rejected at staging because they are not JSON.
    let rejectedNotJSON: Int
    /// Valid JSON that is not a valid login (processing).
    let rejectedAtProcessing: Int
    /// Quarantined at staging: too_many_receives, or a body that cannot be stored.
    let quarantined: Int
    /// Whether process_raw_logins ran (with --no-process the staged rows wait for it).
    let processed: Bool

    init(statistics s: LoadStatistics.Snapshot, runs: [ProcessingRun]) {
        logins = runs.reduce(0) { $0 + $1.upserted }
        unchanged = runs.reduce(0) { $0 + $1.unchanged }
        rejectedNotJSON = s.rejected
        rejectedAtProcessing = runs.reduce(0) { $0 + $1.rejected }
        rejected = rejectedNotJSON + rejectedAtProcessing
        quarantined = s.quarantined
        processed = !runs.isEmpty
    }

    var text: String {
        let rejects = "rejected \(rejected) (\(rejectedNotJSON) not JSON, \(rejectedAtProcessing) at processing), quarantined \(quarantined)"
        guard processed else { return "  not processed yet; \(rejects)" }
        return "  logins new or changed \(logins), unchanged \(unchanged), \(rejects)"
    }
}

