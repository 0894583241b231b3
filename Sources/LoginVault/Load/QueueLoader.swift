import Logging
import Synchronization

/// `load` from a queue: receivers long-poll concurrently, messages are grouped
/// into write batches, each batch is staged in one transaction, and only after
/// COMMIT are its messages deleted. A batch that fails is rolled back and its
/// messages made visible again; nothing is deleted that was not committed.
public final class QueueLoader: Sendable {
    let queue: any MessageQueue
    let database: StagingDatabase
    let settings: LoadSettings
    public let statistics: LoadStatistics
    let logger: Logger
    let observer: (any LoadObserver)?

    private let inFlight = InFlightMessages()
    private let stopping = Mutex(false)
    private let remaining: Mutex<Int?>
    private let receiving = Mutex<Task<Void, Never>?>(nil)
    private let fatal = Mutex<(any Error)?>(nil)
    /// The final process_raw_logins run's notices, or why it failed.
    private let finalRun = Mutex<Result<[String], any Error>?>(nil)

    public init(queue: any MessageQueue, database: StagingDatabase, settings: LoadSettings,
                statistics: LoadStatistics = LoadStatistics(), logger: Logger, observer: (any LoadObserver)? = nil) {
        self.queue = queue
        self.observer = observer
        self.database = database
        self.settings = settings
        self.statistics = statistics
        self.logger = logger
        self.remaining = Mutex(settings.maxMessages)
    }

    /// Stops receiving (in-flight long polls are cancelled); what was received is
    /// still staged and deleted, or released if it cannot be. `run` then returns.
    public func requestShutdown() {
        stopping.withLock { $0 = true }
        receiving.withLock { $0?.cancel() }
    }

    private var isStopping: Bool { stopping.withLock { $0 } }

    /// Messages received and neither deleted nor released yet.
    public var messagesInFlight: Int { inFlight.count }

    private func failFatally(_ error: any Error) {
        fatal.withLock { if $0 == nil { $0 = error } }
        requestShutdown()
    }

    /// Runs until the queue is drained (drain mode), `maxMessages` is reached, or
    /// `requestShutdown` is called. Returns the summaries of process_raw_logins runs:
    /// those that ran while loading (`processAfter`, the follow-mode timer), then the
    /// final one.
    public func run() async throws -> [String] {
        // Received messages wait here for their write batch (receivers pause while two
        // batches' worth wait); committed ones wait in 10-message deletes for the deleters
        // (the writer pauses while two batches' worth wait).
        let inbox = BoundedQueue<IncomingMessage>(capacity: 2 * settings.batchSize)
        let deletions = BoundedQueue<[IncomingMessage]>(capacity: 2 * max(1, settings.batchSize / 10))
        // Processing while loading runs on a connection of its own, so staging never waits for it.
        let timer = settings.mode == .follow ? settings.processEvery : nil
        let background = settings.process && (settings.processAfter != nil || timer != nil)
            ? BackgroundProcessing(database: database.sibling(), threshold: settings.processAfter, logger: logger) : nil
        let backgroundRuns = background.map { background in Task { await background.run() } }
        func stopBackground() async {
            background?.finish()
            await backgroundRuns?.value
        }

        do {
            try await withThrowingTaskGroup(of: Void.self) { outer in
                outer.addTask { try await self.heartbeat() }
                if let background, let timer {
                    outer.addTask {
                        while !Task.isCancelled {
                            try await Task.sleep(for: timer)
                            background.trigger()
                        }
                    }
                }
                try await withThrowingTaskGroup(of: Void.self) { pipeline in
                    let receivers = Task {
                        await withTaskGroup(of: Void.self) { group in
                            for index in 0..<self.settings.receivers {
                                group.addTask(executorPreference: self.queue.taskExecutor) {
                                    await self.receiveLoop(index, into: inbox)
                                }
                            }
                        }
                        inbox.finish()
                    }
                    receiving.withLock { $0 = receivers }
                    if isStopping { receivers.cancel() }
                    pipeline.addTask { await receivers.value }
                    pipeline.addTask {
                        await self.writeLoop(from: inbox, to: deletions, background: background)
                        deletions.finish()
                        // Everything received is staged (or released) now: the final processing
                        // overlaps the last deletes and a background run that may still be going
                        // (SKIP LOCKED: each takes other rows). Not after a fatal error.
                        guard self.settings.process, self.fatal.withLock({ $0 == nil }) else { return }
                        background?.finish()
                        do {
                            let notices = try await self.database.processRawLogins()
                            self.finalRun.withLock { $0 = .success(notices) }
                        } catch {
                            self.finalRun.withLock { $0 = .failure(error) }
                        }
                    }
                    for _ in 0..<settings.deleters {
                        pipeline.addTask(executorPreference: queue.taskExecutor) { await self.deleteLoop(deletions) }
                    }
                    try await pipeline.waitForAll()
                }
                outer.cancelAll()
            }
        } catch {
            await stopBackground()
            throw error
        }
        await stopBackground()
        if let error = fatal.withLock({ $0 }) { throw error }
        // The writer task made the final run (it always does when processing and no
        // fatal error stopped the load, and a fatal error was thrown just above).
        var notices = background?.notices ?? []
        if let final = finalRun.withLock({ $0 }) { notices += try final.get() }
        return notices
    }

    // MARK: - Receiving

    /// How many messages this receiver may still take (`maxMessages`).
    private func reserve(_ wanted: Int) -> Int {
        remaining.withLock { left in
            guard let available = left else { return wanted }
            let granted = min(wanted, available)
            left = available - granted
            return granted
        }
    }

    private func giveBack(_ unused: Int) {
        guard unused > 0 else { return }
        remaining.withLock { left in if let available = left { left = available + unused } }
    }

    private func receiveLoop(_ index: Int, into inbox: BoundedQueue<IncomingMessage>) async {
        var failingSince: ContinuousClock.Instant?
        var backoff = Duration.milliseconds(250)
        while !isStopping, !Task.isCancelled {
            let wanted = reserve(10)
            guard wanted > 0 else { return }
            let messages: [IncomingMessage]
            // SQS starts a message's visibility timeout when it hands the message out, which is after this
            // request left and before its answer arrived here: counting from now never overestimates how
            // long the message stays invisible, however slow the answer or this process is.
            let requestedAt = ContinuousClock.now
            do {
                messages = try await queue.receive(maxMessages: wanted, waitTimeSeconds: settings.waitTimeSeconds,
                                                   visibilityTimeout: settings.visibilityTimeout)
                failingSince = nil
                backoff = .milliseconds(250)
            } catch {
                giveBack(wanted)
                if Task.isCancelled || isStopping { return }
                let retryable = (error as? QueueError)?.retryable ?? true
                logger.warning("receiver \(index): \(error)")
                let since = failingSince ?? .now
                failingSince = since
                if !retryable || (settings.mode == .drain && ContinuousClock.now - since > settings.giveUpAfter) {
                    failFatally(LoadError.queueUnavailable(String(describing: error)))
                    return
                }
                try? await Task.sleep(for: backoff)
                backoff = min(backoff * 2, .seconds(10))
                continue
            }
            giveBack(wanted - messages.count)
            if messages.isEmpty {
                if settings.mode == .drain { return }
                continue
            }
            let handles = messages.compactMap(\.receiptHandle)
            inFlight.add(handles, visibleAgainAt: requestedAt + .seconds(settings.visibilityTimeout))
            statistics.update { $0.received += messages.count }
            // Handed over even if shutdown began meanwhile (send ignores cancellation):
            // the writer stages or releases them.
            await inbox.send(contentsOf: messages)
        }
    }

    // MARK: - Writing

    /// Stages batches one after another on the one database connection, and
    /// hands each committed batch to the deleters in 10-message deletes. Both
    /// hand-overs buffer (see `run`), so receivers, writer and deleters rarely
    /// wait for each other (measured: with rendezvous hand-overs and 20 ms to
    /// the queue, receivers spent half their time blocked).
    private func writeLoop(from inbox: BoundedQueue<IncomingMessage>,
                           to deletions: BoundedQueue<[IncomingMessage]>,
                           background: BackgroundProcessing?) async {
        var givenUp = false
        var failingSince: ContinuousClock.Instant?
        var backoff = Duration.milliseconds(200)
        while true {
            let batch = await inbox.nextBatch(maxCount: settings.batchSize, window: settings.batchWindow)
            guard !batch.isEmpty else { break }  // finished
            if givenUp {
                // Gave up on the database: everything still arriving goes back to the queue.
                await release(batch)
                continue
            }
            do {
                let stagingStarted = ContinuousClock.now
                let outcome = try await database.stage(batch, maxReceives: settings.maxReceives)
                observer?.batchCommitted(batch, took: ContinuousClock.now - stagingStarted)
                statistics.record(outcome)
                background?.staged(outcome.staged)
                failingSince = nil
                backoff = .milliseconds(200)
            } catch {
                statistics.update { $0.failedBatches += 1 }
                logger.error("staging a batch of \(batch.count) failed, releasing it: \(error)")
                await release(batch)
                let since = failingSince ?? .now
                failingSince = since
                let deadline = settings.mode == .drain ? since + settings.giveUpAfter : nil
                if await waitForDatabase(until: deadline) {
                    // Reachable, but the batch may fail again for another reason: do not spin.
                    try? await Task.sleep(for: backoff)
                    backoff = min(backoff * 2, .seconds(5))
                }
                if let deadline, ContinuousClock.now >= deadline {
                    givenUp = true
                    failFatally(LoadError.databaseUnavailable(String(describing: error)))
                }
                continue
            }
            await deletions.send(contentsOf: stride(from: 0, to: batch.count, by: 10).map {
                Array(batch[$0..<min($0 + 10, batch.count)])
            })
        }
    }

    /// Reconnects with capped exponential backoff until the database answers,
    /// `deadline` passes (returns false), or, in follow mode, shutdown begins.
    private func waitForDatabase(until deadline: ContinuousClock.Instant?) async -> Bool {
        var delay = Duration.milliseconds(200)
        while true {
            if isStopping && settings.mode == .follow { return true }
            do {
                try await database.connect()
                return true
            } catch {
                if let deadline, ContinuousClock.now >= deadline { return false }
                logger.warning("waiting for the database: \(error)")
                try? await Task.sleep(for: delay)
                delay = min(delay * 2, .seconds(5))
            }
        }
    }

    /// Makes messages visible again at once, so they are not lost to a timeout.
    private func release(_ messages: [IncomingMessage]) async {
        let handles = messages.compactMap(\.receiptHandle)
        guard !handles.isEmpty else { return }
        do {
            try await queue.changeVisibility(receiptHandles: handles, timeout: 0)
            statistics.update { $0.released += handles.count }
        } catch {
            logger.warning("could not release \(handles.count) messages (they return after their visibility timeout): \(error)")
        }
        inFlight.remove(handles)
    }

    // MARK: - Deleting

    private func deleteLoop(_ deletions: BoundedQueue<[IncomingMessage]>) async {
        while let chunk = await deletions.next() {
            var handles = chunk.compactMap(\.receiptHandle)
            var attempt = 0
            while !handles.isEmpty {
                attempt += 1
                do {
                    let failures = try await queue.delete(receiptHandles: handles)
                    let failed = Set(failures.map(\.receiptHandle))
                    let done = handles.filter { !failed.contains($0) }
                    statistics.update { $0.deleted += done.count }
                    inFlight.remove(done)
                    if let observer {
                        let deleted = Set(done)
                        observer.messagesDeleted(chunk.filter { $0.receiptHandle.map(deleted.contains) ?? false })
                    }
                    let retry = failures.filter(\.retryable).map(\.receiptHandle)
                    let final = failures.filter { !$0.retryable }
                    if !final.isEmpty {
                        logger.warning("\(final.count) deletes refused (\(final.map(\.code).joined(separator: ", "))): those messages will be redelivered and skipped as duplicates")
                        statistics.update { $0.deleteFailures += final.count }
                        inFlight.remove(final.map(\.receiptHandle))
                    }
                    handles = retry
                } catch {
                    logger.warning("delete attempt \(attempt) failed: \(error)")
                }
                if !handles.isEmpty {
                    if attempt >= 5 {
                        logger.warning("giving up deleting \(handles.count) messages: they will be redelivered and skipped as duplicates")
                        statistics.update { $0.deleteFailures += handles.count }
                        inFlight.remove(handles)
                        break
                    }
                    try? await Task.sleep(for: .milliseconds(100 << min(attempt, 5)))
                }
            }
        }
    }

    // MARK: - Visibility heartbeat

    /// Extends the visibility of messages held longer than planned (a slow or
    /// unreachable database) before it runs out, so they are not redelivered
    /// while this process still holds them.
    private func heartbeat() async throws {
        let timeout = settings.visibilityTimeout
        let tick = Duration.seconds(max(1, timeout / 6))
        while true {
            try await Task.sleep(for: tick)
            let due = inFlight.takeDue(before: .now + .seconds(max(2, timeout / 3)),
                                       newDeadline: .now + .seconds(timeout))
            guard !due.isEmpty else { continue }
            do {
                try await queue.changeVisibility(receiptHandles: due, timeout: timeout)
                statistics.update { $0.extended += due.count }
            } catch {
                logger.warning("could not extend the visibility of \(due.count) messages: \(error)")
            }
        }
    }
}
