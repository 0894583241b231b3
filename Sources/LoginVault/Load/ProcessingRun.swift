import Foundation
import Postgres

/// One `process_raw_logins` run, as its run-log row (`loginvault.process_runs`)
/// records it: read as values after the run, not parsed from its NOTICE.
public struct ProcessingRun: Sendable, Equatable, Codable {
    /// `loginvault.process_runs.run_id`.
    public let runId: Int
    /// Batches that claimed at least one staged row.
    public let batches: Int
    /// Staging rows claimed (and deleted from raw_logins).
    public let staged: Int
    /// user_logins rows inserted, or updated because a value changed.
    public let upserted: Int
    /// New rejected_logins rows.
    public let rejected: Int
    /// Re-staged messages that were already processed (nothing changed).
    public let unchanged: Int
    public let startedAt: Date
    /// Nil while the run is going (or if it died).
    public let finishedAt: Date?
    /// The new rejected_logins rows by reason code (`process_runs.rejected_reasons`); they add up to `rejected`.
    public let rejectedReasons: [String: Int]

    public init(runId: Int, batches: Int, staged: Int, upserted: Int, rejected: Int, unchanged: Int,
                startedAt: Date, finishedAt: Date?, rejectedReasons: [String: Int] = [:]) {
        self.runId = runId
        self.batches = batches
        self.staged = staged
        self.upserted = upserted
        self.rejected = rejected
        self.unchanged = unchanged
        self.startedAt = startedAt
        self.finishedAt = finishedAt
        self.rejectedReasons = rejectedReasons
    }

    /// How long the run took, in seconds (nil if it has not finished).
    public var seconds: Double? { finishedAt.map { $0.timeIntervalSince(startedAt) } }

    /// One line, as the procedure's NOTICE words it:
    /// `process_raw_logins: 3 staged, 2 upserted, 1 rejected, 0 unchanged, 1 batches, 0.012 s (run 7)`.
    public var summary: String {
        "process_raw_logins: \(staged) staged, \(upserted) upserted, \(rejected) rejected, \(unchanged) unchanged, "
            + "\(batches) batches, " + (seconds.map { String(format: "%.3f", $0) } ?? "?") + " s (run \(runId))"
    }

    /// A row of `lastRunQuery`; nil without a run id or start time.
    init?(row: PostgresRow) {
        guard let runId = row["run_id"].int, let started = row["started_at"].double else { return nil }
        self.init(runId: runId, batches: row["batches"].int ?? 0, staged: row["staged"].int ?? 0,
                  upserted: row["upserted"].int ?? 0, rejected: row["rejected"].int ?? 0,
                  unchanged: row["unchanged"].int ?? 0, startedAt: Date(timeIntervalSince1970: started),
                  finishedAt: row["finished_at"].double.map { Date(timeIntervalSince1970: $0) },
                  rejectedReasons: Self.reasonCounts(row["rejected_reasons"].string))
    }

    /// A `{"reason": count}` object as the database writes it (`process_runs.rejected_reasons`,
    /// the staging setting `loginvault.rejected_reasons`); empty for NULL, '' or anything else.
    static func reasonCounts(_ json: String?) -> [String: Int] {
        guard let json, !json.isEmpty,
              let counts = try? JSONDecoder().decode([String: Int].self, from: Data(json.utf8)) else { return [:] }
        return counts
    }

    /// The query that reads this session's latest run (`loginvault.last_process_run()`),
    /// with the columns `init(row:)` expects.
    static let lastRunQuery = """
        SELECT run_id, batches, staged, upserted, rejected, unchanged, rejected_reasons::text AS rejected_reasons,
               extract(epoch FROM started_at)::float8 AS started_at, extract(epoch FROM finished_at)::float8 AS finished_at
          FROM loginvault.last_process_run()
        """
}
