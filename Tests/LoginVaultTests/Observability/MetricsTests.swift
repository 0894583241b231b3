import CoreMetrics
import Foundation
import LoginVault
import SQS
import TestSupport
import Testing

/// The metrics, in process: what the loader's hooks feed in comes out of the
/// Prometheus exposition, named by the conventions promtool checks.
@Suite("Observability: metrics")
struct MetricsTests {
    @Test func countersAddUpToTheStatisticsExactly() throws {
        let export = PrometheusExport()
        let metrics = LoaderMetrics(factory: export)
        let statistics = LoadStatistics(onChange: { metrics.observe($0, $1) })
        // Updates from many tasks at once, as the pipeline makes them.
        DispatchQueue.concurrentPerform(iterations: 200) { index in
            statistics.update {
                $0.received += 10
                $0.staged += index % 3
                $0.duplicates += index % 2
                $0.deleted += 7
                $0.batches += 1
            }
            if index % 50 == 0 { statistics.update { $0.failedBatches += 1; $0.released += 3 } }
        }
        let text = export.exposition()
        let snapshot = statistics.snapshot
        #expect(Scrape.value(text, "loginvault_messages_received_total") == Double(snapshot.received))
        #expect(Scrape.value(text, "loginvault_messages_staged_total") == Double(snapshot.staged))
        #expect(Scrape.value(text, "loginvault_messages_duplicate_total") == Double(snapshot.duplicates))
        #expect(Scrape.value(text, "loginvault_messages_deleted_total") == Double(snapshot.deleted))
        #expect(Scrape.value(text, "loginvault_messages_released_total") == Double(snapshot.released))
        #expect(Scrape.value(text, "loginvault_batches_total", labels: #"outcome="committed""#) == Double(snapshot.batches))
        #expect(Scrape.value(text, "loginvault_batches_total", labels: #"outcome="failed""#) == 4)
        #expect(snapshot.received == 2000)
    }

    @Test func timingsRequestsAndRunsAreExported() throws {
        let export = PrometheusExport()
        let metrics = LoaderMetrics(factory: export)
        let batch = (0..<20).map { IncomingMessage(messageId: "m\($0)", body: "{}", receiptHandle: "h\($0)",
                                                     receivedAt: .now - .seconds(2)) }
        metrics.batchCommitted(batch, took: .milliseconds(30))
        metrics.messagesDeleted(Array(batch.prefix(15)))
        metrics.sqsRequest(SQSRequestEvent(action: "ReceiveMessage", outcome: .success, willRetry: false))
        metrics.sqsRequest(SQSRequestEvent(action: "DeleteMessageBatch", outcome: .throttled, willRetry: true))
        metrics.processRun(ProcessRun(duration: .milliseconds(120), run: ProcessingRun(
            runId: 3, batches: 1, staged: 20, upserted: 19, rejected: 1, unchanged: 0,
            startedAt: Date(), finishedAt: Date(), rejectedReasons: ["wrong_type:ip": 1])))
        metrics.rejectsStored(["invalid_json": 2, "wrong_type:ip": 3])
        metrics.processRun(ProcessRun(duration: .seconds(1), run: nil))
        metrics.queueDepth(visible: 42, notVisible: 7)
        metrics.stagingBacklog(rows: 5, oldestAgeSeconds: 12.5)
        metrics.credentialsRefreshed()
        metrics.readInFlight { 3 }
        metrics.refresh()
        let text = export.exposition()
        #expect(Scrape.value(text, "loginvault_batch_size_messages_count") == 1)
        #expect(Scrape.value(text, "loginvault_batch_size_messages_sum") == 20)
        #expect(Scrape.value(text, "loginvault_batch_commit_duration_seconds_sum") == 0.03)
        #expect(Scrape.value(text, "loginvault_receive_to_commit_seconds_count") == 20)
        // Received two seconds ago: every message falls in the 2.5 s bucket, none in the 1 s one.
        #expect(Scrape.value(text, "loginvault_receive_to_commit_seconds_bucket", labels: #"le="1.0""#) == 0)
        #expect(Scrape.value(text, "loginvault_receive_to_commit_seconds_bucket", labels: #"le="2.5""#) == 20)
        #expect(Scrape.value(text, "loginvault_receive_to_delete_seconds_count") == 15)
        #expect(Scrape.value(text, "loginvault_sqs_requests_total", labels: #"operation="ReceiveMessage",outcome="success""#) == 1)
        #expect(Scrape.value(text, "loginvault_sqs_requests_total", labels: #"operation="DeleteMessageBatch",outcome="throttled""#) == 1)
        #expect(Scrape.value(text, "loginvault_sqs_retries_total", labels: #"operation="DeleteMessageBatch""#) == 1)
        #expect(Scrape.value(text, "loginvault_sqs_throttles_total", labels: #"operation="DeleteMessageBatch""#) == 1)
        #expect(Scrape.value(text, "loginvault_processing_runs_total", labels: #"outcome="success""#) == 1)
        #expect(Scrape.value(text, "loginvault_processing_runs_total", labels: #"outcome="failure""#) == 1)
        #expect(Scrape.value(text, "loginvault_processing_rows_upserted_total") == 19)
        #expect(Scrape.value(text, "loginvault_processing_rows_rejected_total") == 1)
        #expect(Scrape.value(text, "loginvault_rejected_logins_total", labels: #"reason="wrong_type:ip""#) == 4,
                "a run's rejects and staging's add up per reason")
        #expect(Scrape.value(text, "loginvault_rejected_logins_total", labels: #"reason="invalid_json""#) == 2)
        #expect(Scrape.value(text, "loginvault_processing_run_duration_seconds_count") == 2)
        #expect((Scrape.value(text, "loginvault_last_processing_success_timestamp_seconds") ?? 0) > 1_700_000_000)
        #expect((Scrape.value(text, "loginvault_last_commit_timestamp_seconds") ?? 0) > 1_700_000_000)
        #expect(Scrape.value(text, "loginvault_queue_messages_visible") == 42)
        #expect(Scrape.value(text, "loginvault_queue_messages_not_visible") == 7)
        #expect(Scrape.value(text, "loginvault_staging_backlog_rows") == 5)
        #expect(Scrape.value(text, "loginvault_staging_backlog_oldest_age_seconds") == 12.5)
        #expect(Scrape.value(text, "loginvault_credential_refreshes_total") == 1)
        #expect(Scrape.value(text, "loginvault_messages_in_flight") == 3)
        if let problems = try Scrape.promtoolProblems(text) { #expect(problems.isEmpty, "\(problems)") }
    }

    @Test func everyCataloguedMetricIsExportedWithHelpAndPassesPromtool() throws {
        let export = PrometheusExport()
        let metrics = LoaderMetrics(factory: export)
        metrics.sqsRequest(SQSRequestEvent(action: "ReceiveMessage", outcome: .serverError, willRetry: true))
        metrics.sqsRequest(SQSRequestEvent(action: "ReceiveMessage", outcome: .throttled, willRetry: false))
        metrics.batchCommitted([IncomingMessage(messageId: "m", body: "{}", receiptHandle: "h")], took: .milliseconds(1))
        metrics.messagesDeleted([IncomingMessage(messageId: "m", body: "{}", receiptHandle: "h")])
        metrics.processRun(ProcessRun(duration: .milliseconds(1), run: nil))
        metrics.queueDepth(visible: 0, notVisible: 0)
        metrics.rejectsStored(["invalid_json": 1])   // a labelled counter appears with its first label value
        let text = export.exposition()
        for metric in MetricCatalog.all {
            #expect(text.contains("# TYPE \(metric.name) "), "\(metric.name) is not exported")
            #expect(text.contains("# HELP \(metric.name) \(metric.help)"), "\(metric.name) has no help text")
            #expect(metric.name.hasPrefix("loginvault_"))
            if metric.kind == .counter { #expect(metric.name.hasSuffix("_total"), "\(metric.name)") }
            if case .durationHistogram = metric.kind { #expect(metric.name.hasSuffix("_seconds"), "\(metric.name)") }
        }
        if let problems = try Scrape.promtoolProblems(text) { #expect(problems.isEmpty, "\(problems)") }
        // promtool does fail on a badly named metric (so the check above can fail).
        if let problems = try Scrape.promtoolProblems("# HELP bad_count x\n# TYPE bad_count counter\nbad_count 1\n") {
            #expect(problems.contains("_total"), "\(problems)")
        }
    }

    @Test func theReadmeTableListsEveryMetric() throws {
        let readme = try String(contentsOf: Integration.repositoryRoot.appendingPathComponent("README.md"), encoding: .utf8)
        for metric in MetricCatalog.all {
            #expect(readme.contains("`\(metric.name)`"), "README's metrics table lacks \(metric.name)")
        }
    }
}
