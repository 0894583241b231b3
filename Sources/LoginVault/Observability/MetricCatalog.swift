/// Every metric `load --metrics-address` exports: its Prometheus name, type, help text and,
/// for histograms, buckets. Names follow the Prometheus conventions: the `loginvault_`
/// prefix, `_total` on counters, base units (seconds) in the name. The README's metrics
/// table lists the same names (a test compares them).
public enum MetricCatalog {
    /// A metric's type, and a histogram's buckets.
    public enum Kind: Sendable, Equatable {
        case counter
        case gauge
        /// A histogram of durations, exported in seconds.
        case durationHistogram([Duration])
        /// A histogram of plain numbers.
        case valueHistogram([Double])
    }

    /// One exported metric.
    public struct Metric: Sendable {
        public let name: String
        public let kind: Kind
        public let help: String
        /// Label names, if any (e.g. `reason`).
        public let labels: [String]

        init(_ name: String, _ kind: Kind, _ help: String, labels: [String] = []) {
            self.name = name
            self.kind = kind
            self.help = help
            self.labels = labels
        }
    }

    static let latencyBuckets: [Duration] = [
        .milliseconds(5), .milliseconds(10), .milliseconds(25), .milliseconds(50), .milliseconds(100),
        .milliseconds(250), .milliseconds(500), .seconds(1), .milliseconds(2500), .seconds(5), .seconds(10),
        .seconds(30), .seconds(60), .seconds(120), .seconds(300),
    ]
    static let runBuckets: [Duration] = [
        .milliseconds(50), .milliseconds(250), .seconds(1), .seconds(5), .seconds(15), .seconds(60), .seconds(300),
        .seconds(900), .seconds(3600),
    ]

    // The counters of the final summary (`LoadStatistics`), one for one.
    public static let received = Metric("loginvault_messages_received_total", .counter,
                                        "Messages received from the queue (or read from the file).")
    public static let staged = Metric("loginvault_messages_staged_total", .counter, "New rows staged in raw_logins.")
    public static let duplicates = Metric("loginvault_messages_duplicate_total", .counter,
                                          "Messages already staged before (redeliveries), skipped.")
    public static let rejected = Metric("loginvault_messages_rejected_total", .counter,
                                        "Bodies that are not valid jsonb, put in rejected_logins by the database while staging.")
    public static let rejectedByReason = Metric("loginvault_rejected_logins_total", .counter,
                                                "Rows this loader put in rejected_logins (while staging and in its processing runs), by reason code as the database reported it.",
                                                labels: ["reason"])
    public static let quarantined = Metric("loginvault_messages_quarantined_total", .counter,
                                           "Messages quarantined as poison (too_many_receives) or unstorable.")
    public static let deleted = Metric("loginvault_messages_deleted_total", .counter,
                                       "Messages deleted from the queue after their batch committed.")
    public static let deleteFailures = Metric("loginvault_messages_delete_failed_total", .counter,
                                              "Messages whose delete failed for good (they come back and are skipped as duplicates).")
    public static let released = Metric("loginvault_messages_released_total", .counter,
                                        "Messages made visible again without being staged (a failed batch, or shutdown).")
    public static let extended = Metric("loginvault_visibility_extensions_total", .counter,
                                        "Visibility extensions of messages held longer than planned.")
    public static let md5Mismatches = Metric("loginvault_messages_md5_mismatch_total", .counter,
                                             "Messages whose body did not match its MD5, left to redelivery.")
    public static let batches = Metric("loginvault_batches_total", .counter,
                                       "Write batches, by outcome: committed, or failed (rolled back and released).",
                                       labels: ["outcome"])

    // SQS.
    public static let sqsRequests = Metric("loginvault_sqs_requests_total", .counter,
                                           "SQS HTTP requests (every attempt), by action and outcome.",
                                           labels: ["operation", "outcome"])
    public static let sqsRetries = Metric("loginvault_sqs_retries_total", .counter,
                                          "SQS requests sent again after a retryable failure, by action.", labels: ["operation"])
    public static let sqsThrottles = Metric("loginvault_sqs_throttles_total", .counter,
                                            "SQS answers that were throttling errors, by action.", labels: ["operation"])
    public static let queueVisible = Metric("loginvault_queue_messages_visible", .gauge,
                                            "The queue's ApproximateNumberOfMessages, polled with GetQueueAttributes.")
    public static let queueNotVisible = Metric("loginvault_queue_messages_not_visible", .gauge,
                                               "The queue's ApproximateNumberOfMessagesNotVisible (in flight), polled with GetQueueAttributes.")
    public static let credentialRefreshes = Metric("loginvault_credential_refreshes_total", .counter,
                                                   "AWS credentials fetched again (temporary credentials about to expire).")

    // The pipeline.
    public static let batchSize = Metric("loginvault_batch_size_messages", .valueHistogram([1, 10, 50, 100, 250, 500, 1000, 2500, 5000, 10000]),
                                         "Messages per committed write batch.")
    public static let commitDuration = Metric("loginvault_batch_commit_duration_seconds", .durationHistogram(latencyBuckets),
                                              "Time to stage one batch: COPY, stage_incoming_logins() and COMMIT.")
    public static let receiveToCommit = Metric("loginvault_receive_to_commit_seconds", .durationHistogram(latencyBuckets),
                                               "Per message: from its receive to the commit of its batch.")
    public static let receiveToDelete = Metric("loginvault_receive_to_delete_seconds", .durationHistogram(latencyBuckets),
                                               "Per message: from its receive to its delete from the queue.")
    public static let inFlight = Metric("loginvault_messages_in_flight", .gauge,
                                        "Messages received and neither deleted nor released yet.")
    public static let lastCommit = Metric("loginvault_last_commit_timestamp_seconds", .gauge,
                                          "Unix time of the last committed write batch (0: none yet).")

    // Processing (process_raw_logins).
    public static let processingRuns = Metric("loginvault_processing_runs_total", .counter,
                                              "process_raw_logins runs made by this loader, by outcome (success, failure).",
                                              labels: ["outcome"])
    public static let processingUpserted = Metric("loginvault_processing_rows_upserted_total", .counter,
                                                  "user_logins rows inserted or changed by this loader's processing runs.")
    public static let processingRejected = Metric("loginvault_processing_rows_rejected_total", .counter,
                                                  "Staged rows rejected (to rejected_logins) by this loader's processing runs.")
    public static let processingDuration = Metric("loginvault_processing_run_duration_seconds", .durationHistogram(runBuckets),
                                                  "Duration of this loader's process_raw_logins runs.")
    public static let lastProcessingSuccess = Metric("loginvault_last_processing_success_timestamp_seconds", .gauge,
                                                     "Unix time of the last successful process_raw_logins run of this loader (0: none yet).")

    // The staging backlog, from the database.
    public static let backlogRows = Metric("loginvault_staging_backlog_rows", .gauge,
                                           "Rows in raw_logins waiting for process_raw_logins, polled from the database.")
    public static let backlogOldestAge = Metric("loginvault_staging_backlog_oldest_age_seconds", .gauge,
                                                "Age of the oldest row waiting in raw_logins (0: none), polled from the database.")

    /// Every metric, in the order of the README's table.
    public static let all: [Metric] = [
        received, staged, duplicates, rejected, rejectedByReason, quarantined, deleted, deleteFailures, released, extended, md5Mismatches,
        batches, sqsRequests, sqsRetries, sqsThrottles, queueVisible, queueNotVisible, credentialRefreshes,
        batchSize, commitDuration, receiveToCommit, receiveToDelete, inFlight, lastCommit,
        processingRuns, processingUpserted, processingRejected, processingDuration, lastProcessingSuccess,
        backlogRows, backlogOldestAge,
    ]

    static let byName: [String: Metric] = Dictionary(uniqueKeysWithValues: all.map { ($0.name, $0) })
}
