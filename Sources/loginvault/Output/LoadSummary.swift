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

    init(mode: String, statistics: LoadStatistics.Snapshot, elapsed: Duration, queueRequests: Int?, runs: [ProcessingRun]) {
        self.mode = mode
        self.statistics = statistics
        seconds = Double(elapsed.components.seconds) + Double(elapsed.components.attoseconds) / 1e18
        messagesPerSecond = seconds > 0 ? Double(statistics.received) / seconds : 0
        self.queueRequests = queueRequests
        requestsPerMessage = queueRequests.flatMap { statistics.received > 0 ? Double($0) / Double(statistics.received) : nil }
        process = runs.map(\.summary)
        processRuns = runs
    }

    var text: String {
        let s = statistics
        var lines = [
            "loginvault load (\(mode)): received \(s.received), staged \(s.staged), duplicates \(s.duplicates), "
                + "rejected \(s.rejected), quarantined \(s.quarantined), deleted \(s.deleted)",
            String(format: "  %.1f s, %.0f msgs/s", seconds, messagesPerSecond)
                + (requestsPerMessage.map { String(format: ", %.3f SQS requests/message", $0) } ?? "")
                + ", \(s.batches) batches",
        ]
        if s.failedBatches + s.released + s.deleteFailures + s.md5Mismatches + s.extended > 0 {
            lines.append("  failed batches \(s.failedBatches), released \(s.released), delete failures \(s.deleteFailures), "
                         + "MD5 mismatches \(s.md5Mismatches), visibility extended \(s.extended)")
        }
        lines += process
        return lines.joined(separator: "\n")
    }

    var json: String {
        let encoder = JSONEncoder()
        encoder.keyEncodingStrategy = .convertToSnakeCase
        encoder.outputFormatting = [.sortedKeys]
        encoder.dateEncodingStrategy = .iso8601
        return String(decoding: (try? encoder.encode(self)) ?? Data("{}".utf8), as: UTF8.self)
    }
}
