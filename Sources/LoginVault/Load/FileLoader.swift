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

    /// Stages the whole input (or `maxMessages` of it); returns the summaries of
    /// process_raw_logins when processing is on.
    public func run() async throws -> [String] {
        let batches = AsyncThrowingChannel<[IncomingMessage], any Error>()
        let batchSize = settings.batchSize
        let limit = settings.maxMessages
        try await withThrowingTaskGroup(of: Void.self) { group in
            group.addTask {
                do {
                    var batch: [IncomingMessage] = []
                    batch.reserveCapacity(batchSize)
                    var count = 0
                    for try await message in reader {
                        if let limit, count >= limit { break }
                        count += 1
                        batch.append(message)
                        if batch.count == batchSize {
                            await batches.send(batch)
                            batch.removeAll(keepingCapacity: true)
                        }
                    }
                    if !batch.isEmpty { await batches.send(batch) }
                    batches.finish()
                } catch {
                    batches.fail(error)
                }
            }
            group.addTask {
                for try await batch in batches {
                    statistics.update { $0.received += batch.count }
                    let outcome = try await database.stage(batch, maxReceives: nil)
                    statistics.record(outcome)
                }
            }
            try await group.waitForAll()
        }
        guard settings.process else { return [] }
        return try await database.processRawLogins()
    }
}
