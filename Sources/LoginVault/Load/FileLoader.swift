import AsyncAlgorithms
import Logging

/// `load --from-file`: stages messages from a JSON array or JSON-lines file
/// (or standard input) instead of SQS, for backfills, replays and benchmarks.
/// Reading the next batch overlaps with staging the previous one.
public struct FileLoader: Sendable {
    let reader: MessageFileReader
    let database: StagingDatabase
    let settings: LoadSettings
    public let statistics: LoadStatistics
    let logger: Logger

    public init(reader: MessageFileReader, database: StagingDatabase, settings: LoadSettings,
                statistics: LoadStatistics = LoadStatistics(), logger: Logger) {
        self.reader = reader
        self.database = database
        self.settings = settings
        self.statistics = statistics
        self.logger = logger
    }

    /// Stages the whole input (or `maxMessages` of it); returns the
    /// process_raw_logins run (its run-log row) when processing is on.
    public func run() async throws -> [ProcessingRun] {
        let batches = AsyncThrowingChannel<[IncomingMessage], any Error>()
        let batchSize = settings.batchSize
        let limit = settings.maxMessages
        // Writers share the batches; each stages on a session (and a thread) of its own, so
        // the server parses and inserts several batches at once.
        let siblings = (1..<max(1, settings.writers)).map { _ in database.sibling() }
        func closeSiblings() async {
            for sibling in siblings {
                await sibling.close()
                await sibling.shutdown()
            }
        }
        do {
            try await stage(into: [database] + siblings, batches: batches, batchSize: batchSize, limit: limit)
        } catch {
            await closeSiblings()
            throw error
        }
        await closeSiblings()
        guard settings.process else { return [] }
        statistics.enter(.processing)
        return try await ParallelProcessing.run(on: database, sessions: settings.processingSessions)
    }

    /// With a reject guard, the first batch is a small probe (`probeSize` messages) and
    /// nothing more is read until it is staged and judged: a file that is not JSON stops
    /// the load after at most that many rows of junk.
    static let probeSize = 100

    private func stage(into writers: [StagingDatabase], batches: AsyncThrowingChannel<[IncomingMessage], any Error>,
                       batchSize: Int, limit: Int?) async throws {
        let rejectGuard = RejectGuard(maxRatio: settings.maxRejectRatio)
        let statistics = statistics, logger = logger
        @Sendable func stage(_ batch: [IncomingMessage], on writer: StagingDatabase) async throws {
            statistics.update { $0.received += batch.count }
            let outcome = try await writer.stage(batch, maxReceives: nil)
            statistics.record(outcome)
            if let stop = rejectGuard.check(outcome, logger: logger) { throw stop }
        }
        try await withThrowingTaskGroup(of: Void.self) { group in
            group.addTask {
                do {
                    // The probe: staged here, before any writer has a batch, and judged before more is read.
                    var probe = settings.maxRejectRatio != nil
                    var size = probe ? min(batchSize, Self.probeSize) : batchSize
                    var batch: [IncomingMessage] = []
                    batch.reserveCapacity(batchSize)
                    var count = 0
                    for try await message in reader {
                        if let limit, count >= limit { break }
                        count += 1
                        batch.append(message)
                        if batch.count == size {
                            if probe {
                                try await stage(batch, on: writers[0])
                                probe = false
                                size = batchSize
                            } else {
                                await batches.send(batch)
                            }
                            batch.removeAll(keepingCapacity: true)
                        }
                    }
                    if !batch.isEmpty { await batches.send(batch) }
                    batches.finish()
                } catch {
                    batches.fail(error)
                }
            }
            for writer in writers {
                group.addTask {
                    for try await batch in batches {
                        try await stage(batch, on: writer)
                    }
                }
            }
            try await group.waitForAll()
        }
    }
}
