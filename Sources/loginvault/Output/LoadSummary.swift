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
    let process: [String]
    /// Why the load stopped short (the line printed on standard error); nil when it did not.
    let error: String?

    init(mode: String, statistics: LoadStatistics.Snapshot, elapsed: Duration, queueRequests: Int?, process: [String],
         error: String? = nil) {
        self.mode = mode
        self.statistics = statistics
        seconds = Double(elapsed.components.seconds) + Double(elapsed.components.attoseconds) / 1e18
        messagesPerSecond = seconds > 0 ? Double(statistics.received) / seconds : 0
        self.queueRequests = queueRequests
        requestsPerMessage = queueRequests.flatMap { statistics.received > 0 ? Double($0) / Double(statistics.received) : nil }
        self.process = process
        self.error = error
    }

    enum CodingKeys: String, CodingKey {
        case mode, statistics, seconds, messagesPerSecond, queueRequests, requestsPerMessage, process, error
    }

    /// Every field, null ones included, so a script can rely on the keys being there.
    func encode(to encoder: any Encoder) throws {
        var container = encoder.container(keyedBy: CodingKeys.self)
        try container.encode(mode, forKey: .mode)
        try container.encode(statistics, forKey: .statistics)
        try container.encode(seconds, forKey: .seconds)
        try container.encode(messagesPerSecond, forKey: .messagesPerSecond)
        try container.encode(queueRequests, forKey: .queueRequests)
        try container.encode(requestsPerMessage, forKey: .requestsPerMessage)
        try container.encode(process, forKey: .process)
        try container.encode(error, forKey: .error)
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
        if s.failedBatches + s.released + s.releaseFailures + s.deleteFailures + s.md5Mismatches + s.extended > 0 {
            lines.append("  failed batches \(s.failedBatches), released \(s.released), not released \(s.releaseFailures), "
                         + "delete failures \(s.deleteFailures), MD5 mismatches \(s.md5Mismatches), visibility extended \(s.extended)")
        }
        lines += process
        return lines.joined(separator: "\n")
    }

    var json: String {
        let encoder = JSONEncoder()
        encoder.keyEncodingStrategy = .convertToSnakeCase
        encoder.outputFormatting = [.sortedKeys]
        return String(decoding: (try? encoder.encode(self)) ?? Data("{}".utf8), as: UTF8.self)
    }
}
