import Logging
import Postgres
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
    private let receiverPool: ReceiverPool
    private let rejectGuard: RejectGuard
    private let stopping = Mutex(false)
    private let remaining: Mutex<Int?>
    private let receiving = Mutex<Task<Void, Never>?>(nil)
    private let fatal = Mutex<(any Error)?>(nil)
    /// The final process_raw_logins runs (one per processing session), or why one failed.
    private let finalRuns = Mutex<Result<[ProcessingRun], any Error>?>(nil)

    public init(queue: any MessageQueue, database: StagingDatabase, settings: LoadSettings,
                statistics: LoadStatistics = LoadStatistics(), logger: Logger, observer: (any LoadObserver)? = nil) {
        self.queue = queue
        self.observer = observer
        self.database = database
        self.settings = settings
        self.statistics = statistics
        self.logger = logger
        self.remaining = Mutex(settings.maxMessages)
        self.rejectGuard = RejectGuard(maxRatio: settings.maxRejectRatio)
        self.receiverPool = ReceiverPool(target: settings.receivers, maxHeld: settings.maxHeld ?? 5 * settings.batchSize + 10 * settings.receivers)
    }

    /// Receivers running now (with `--receivers auto`, what the controller last chose).
    public var receiversRunning: Int { receiverPool.running }

    /// Stops receiving; what was received is still staged and deleted, or released if it
    /// cannot be. `run` then returns.
    ///
    /// Receives already sent are given `settings.shutdownGrace` to answer before they are
    /// cancelled: SQS hands messages out before its answer arrives, so a receive cancelled
    /// mid-answer would leave what it took invisible for the whole visibility timeout. A
    /// long poll on an empty queue just runs out the grace, having taken nothing.
    public func requestShutdown() {
        stopReceiving(cancelAfter: settings.shutdownGrace)
    }

    /// No new receives; with `cancelAfter`, the ones in flight are cancelled after it, else
    /// they run to their end (at most the long poll). A fatal error lets them end: messages it
    /// releases would otherwise be taken by a long poll this process abandoned (the server
    /// does not notice the client left) and stay invisible for the whole visibility timeout.
    private func stopReceiving(cancelAfter grace: Duration?) {
        stopping.withLock { $0 = true }
        guard let grace else { return }
        Task {
            try? await Task.sleep(for: grace)
            self.receiving.withLock { $0?.cancel() }
        }
    }

    private var isStopping: Bool { stopping.withLock { $0 } }

    /// Messages received and neither deleted nor released yet.
    public var messagesInFlight: Int { inFlight.count }

    private func failFatally(_ error: any Error) {
        fatal.withLock { if $0 == nil { $0 = error } }
        stopReceiving(cancelAfter: nil)
    }

    /// Runs until the queue is drained (drain mode), `maxMessages` is reached, or
    /// `requestShutdown` is called. Returns the process_raw_logins runs (their run-log rows):
    /// those that ran while loading (`processAfter`, the follow-mode timer), then the
    /// final ones (one per `processingSessions`).
    public func run() async throws -> [ProcessingRun] {
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
                        await self.runReceivers(into: inbox)
                        inbox.finish()
                    }
                    receiving.withLock { $0 = receivers }
                    pipeline.addTask { await receivers.value }
                    pipeline.addTask {
                        await self.writeLoop(from: inbox, to: deletions, background: background)
                        deletions.finish()
                        // Everything received is staged (or released) now: the final processing
                        // overlaps the last deletes and a background run that may still be going
                        // (SKIP LOCKED: each takes other rows). Not after a fatal error.
                        guard self.settings.process, self.fatal.withLock({ $0 == nil }) else { return }
                        background?.finish()
                        self.statistics.enter(.processing)
                        do {
                            let runs = try await ParallelProcessing.run(on: self.database,
                                                                        sessions: self.settings.processingSessions)
                            self.finalRuns.withLock { $0 = .success(runs) }
                        } catch {
                            self.finalRuns.withLock { $0 = .failure(error) }
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
        var runs = background?.runs ?? []
        if let final = finalRuns.withLock({ $0 }) { runs += try final.get() }
        return runs
    }

    // MARK: - Receiving

    private enum ReceiverEvent: Sendable { case ended, tick }

    /// Runs the receivers: `settings.receivers` of them, or with `maxReceivers` as many as
    /// the `ReceiverController` decides every `receiverInterval` (receivers it no longer
    /// wants end after their current receive). Returns once every receiver has ended.
    private func runReceivers(into inbox: BoundedQueue<IncomingMessage>) async {
        var controller = settings.maxReceivers.map {
            ReceiverController(minimum: 1, maximum: $0, initial: settings.receivers)
        } ?? .fixed(settings.receivers)
        let pool = receiverPool
        pool.setTarget(controller.target)
        await withTaskGroup(of: ReceiverEvent.self) { group in
            let adaptive = controller.minimum < controller.maximum
            let interval = settings.receiverInterval
            var started = 0
            var lastLook = ContinuousClock.now
            var next: ReceiverEvent? = .tick  // the first pass starts the receivers
            while let event = next {
                if pool.isFinished {
                    group.cancelAll()  // the next tick
                } else if event == .tick, !isStopping, !Task.isCancelled {
                    if started > 0 {
                        let now = ContinuousClock.now
                        let seen = pool.takeObservation(seconds: (now - lastLook) / .seconds(1))
                        lastLook = now
                        let before = controller.target
                        controller.observe(seen)
                        if controller.target != before {
                            logger.debug("receivers \(before) -> \(controller.target) (\(controller.reason.rawValue): \(seen.receives) receives, \(seen.messages) messages, \(seen.emptyReceives) empty, \(seen.failedReceives) failed, \(seen.blocked) blocked)")
                        }
                        pool.setTarget(controller.target)
                    }
                    while pool.claimStart() {
                        let index = started
                        started += 1
                        group.addTask(executorPreference: queue.taskExecutor) {
                            await self.receiveLoop(index, into: inbox, pool: pool)
                            return .ended
                        }
                    }
                    if adaptive { group.addTask { try? await Task.sleep(for: interval); return .tick } }
                }
                next = await group.next()
            }
        }
    }

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

    /// One receiver: receives until drained, `maxMessages`, shutdown, or the pool has one
    /// too many (then it ends between receives, taking nothing with it).
    private func receiveLoop(_ index: Int, into inbox: BoundedQueue<IncomingMessage>, pool: ReceiverPool) async {
        if await receiveUntilDone(index, into: inbox, pool: pool) { _ = pool.ended() }
    }

    /// Returns true if the receiver ended for good, false if it retired as one too many.
    private func receiveUntilDone(_ index: Int, into inbox: BoundedQueue<IncomingMessage>, pool: ReceiverPool) async -> Bool {
        var failingSince: ContinuousClock.Instant?
        var backoff = Duration.milliseconds(250)
        while !isStopping, !Task.isCancelled {
            if pool.retireIfSurplus() { return false }
            // The messages held stay within their bound (the writer or the deletes are behind).
            guard let ticket = pool.startReceive(wanted: 10, held: inFlight.count) else {
                try? await Task.sleep(for: .milliseconds(20))
                continue
            }
            let wanted = reserve(10)
            guard wanted > 0 else {
                pool.failed(ticket, sent: false)
                return true
            }
            let messages: [IncomingMessage]
            // SQS starts a message's visibility timeout when it hands the message out, which is after this
            // request left and before its answer arrived here: counting from now never overestimates how
            // long the message stays invisible, however slow the answer or this process is.
            let requestedAt = ContinuousClock.now
            let inFlightWhenSent = inFlight.count
            do {
                if settings.mode == .drain {
                    // --give-up-after bounds what an unreachable queue costs, however many attempts
                    // the client makes within one call: a call that outlasts what is left is cut off.
                    let budget = failingSince.map { settings.giveUpAfter - (requestedAt - $0) }
                        ?? settings.giveUpAfter + .seconds(settings.waitTimeSeconds + 10)
                    let queue = self.queue, wait = settings.waitTimeSeconds, visibility = settings.visibilityTimeout
                    messages = try await withTimeout(max(budget, .seconds(1)), what: "the queue") {
                        try await queue.receive(maxMessages: wanted, waitTimeSeconds: wait, visibilityTimeout: visibility)
                    }
                } else {
                    messages = try await queue.receive(maxMessages: wanted, waitTimeSeconds: settings.waitTimeSeconds,
                                                       visibilityTimeout: settings.visibilityTimeout)
                }
                failingSince = nil
                backoff = .milliseconds(250)
            } catch {
                pool.failed(ticket, sent: !(Task.isCancelled || isStopping))
                giveBack(wanted)
                if Task.isCancelled || isStopping { return true }
                let retryable = (error as? QueueError)?.retryable ?? true
                if failingSince == nil || !retryable {
                    logger.warning("receiver \(index): \(error)\(retryable ? "; retrying" : "")")
                } else {
                    logger.debug("receiver \(index): \(error)")
                }
                let since = failingSince ?? .now
                failingSince = since
                if !retryable || (settings.mode == .drain && ContinuousClock.now - since > settings.giveUpAfter) {
                    failFatally(LoadError.queueUnavailable(String(describing: error)))
                    return true
                }
                try? await Task.sleep(for: backoff)
                backoff = min(backoff * 2, .seconds(10))
                continue
            }
            giveBack(wanted - messages.count)
            if messages.isEmpty {
                pool.answered(ticket, asked: wanted, got: 0)
                guard settings.mode == .drain else { continue }
                if inFlightWhenSent == 0, await nothingWithheld(from: ticket, pool: pool) { return true }
                try? await Task.sleep(for: .milliseconds(100))
                continue
            }
            inFlight.add(messages, visibleAgainAt: requestedAt + .seconds(settings.visibilityTimeout))
            pool.answered(ticket, asked: wanted, got: messages.count)
            statistics.update { $0.received += messages.count }
            // Handed over even if shutdown began meanwhile (send ignores cancellation):
            // the writer stages or releases them.
            if await inbox.send(contentsOf: messages) { pool.blocked() }
        }
        return true
    }

    /// Whether a drain's empty answer to `ticket` (sent while this process held no message)
    /// means the queue is drained. A FIFO queue withholds a message group while any of its
    /// messages is in flight, and SQS hands messages out before its answer arrives here: a
    /// receive that SQS served before ours may have taken the last unlocked groups, while its
    /// answer was still on its way, and then ours came back empty with the rest of the queue
    /// locked behind those messages. Ending then is wrong: the receiver holding them may retire
    /// as one too many (`--receivers auto`), and then nobody receives the rest and the drain
    /// exits 0 early (`DrainEndTests` plays this in order). So wait until every receive started
    /// before our answer arrived (all SQS may have served before ours) has answered, then trust
    /// the empty answer only if none of them, nor any other since ours was sent, brought
    /// messages or failed (a failed receive may have taken some), and none are in flight now.
    /// Not drained: the caller receives again. On an idle queue this adds no request and little
    /// time: the receives waited for are the other receivers' last long polls, which the drain
    /// waits for anyway.
    private func nothingWithheld(from ticket: ReceiverPool.Ticket, pool: ReceiverPool) async -> Bool {
        let last = pool.lastStarted
        while !isStopping, !Task.isCancelled {
            if let quiet = pool.quietSince(ticket, through: last) { return quiet && inFlight.count == 0 }
            try? await Task.sleep(for: .milliseconds(20))
        }
        return false
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
        // After giving up, what is in hand and what receives still in flight bring is held (the
        // heartbeat keeps it invisible) and released in one go once the receivers have stopped:
        // released earlier, a long poll still running would take it again and raise its receive count.
        var held: [IncomingMessage] = []
        var failingSince: ContinuousClock.Instant?
        var backoff = Duration.milliseconds(200)
        while true {
            let batch = await inbox.nextBatch(maxCount: settings.batchSize, window: settings.batchWindow)
            guard !batch.isEmpty else { break }  // finished
            if givenUp {
                held += batch
                continue
            }
            do {
                let stagingStarted = ContinuousClock.now
                let outcome = try await database.stage(batch, maxReceives: settings.maxReceives)
                observer?.batchCommitted(batch, took: ContinuousClock.now - stagingStarted)
                statistics.record(outcome)
                background?.staged(outcome.staged)
                if let stop = rejectGuard.check(outcome, logger: logger) {
                    // The batch is committed: delete it like any other, then stop before more junk lands.
                    givenUp = true
                    failFatally(stop)
                }
                failingSince = nil
                backoff = .milliseconds(200)
            } catch let error as PostgresError where error.isPermanent {
                // Privileges, a database without loginvault's objects, a read-only server: trying
                // again cannot help, and every retry would raise the messages' receive count until
                // valid logins end up quarantined as too_many_receives. Release once and stop.
                statistics.update { $0.failedBatches += 1 }
                logger.debug("staging a batch of \(batch.count) failed for good: \(error)")
                held += batch
                givenUp = true
                failFatally(LoadError.databaseRefused(error))
                continue
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
        await release(held)
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
    /// Each is counted once: released, or (if SQS refused or could not be reached) left to
    /// its visibility timeout.
    private func release(_ messages: [IncomingMessage]) async {
        let handles = messages.compactMap(\.receiptHandle)
        guard !handles.isEmpty else { return }
        do {
            let refused = try await queue.changeVisibility(receiptHandles: handles, timeout: 0)
            statistics.update {
                $0.released += handles.count - refused.count
                $0.releaseFailures += refused.count
            }
            if !refused.isEmpty {
                logger.warning("could not release \(refused.count) messages (\(Set(refused.map(\.code)).sorted().joined(separator: ", "))): they return after their visibility timeout (\(settings.visibilityTimeout) s)")
            }
        } catch {
            statistics.update { $0.releaseFailures += handles.count }
            logger.warning("could not release \(handles.count) messages (they return after their visibility timeout, \(settings.visibilityTimeout) s): \(error)")
        }
        inFlight.remove(messages)
    }

    // MARK: - Deleting

    private func deleteLoop(_ deletions: BoundedQueue<[IncomingMessage]>) async {
        while let chunk = await deletions.next() {
            var pending = chunk.filter { $0.receiptHandle != nil }
            var attempt = 0
            while !pending.isEmpty {
                attempt += 1
                do {
                    let failures = try await queue.delete(receiptHandles: pending.compactMap(\.receiptHandle))
                    let failedCodes = Dictionary(failures.map { ($0.receiptHandle, $0) }, uniquingKeysWith: { first, _ in first })
                    // A message this run received twice is gone once one of its receipts deleted it;
                    // SQS (moto) may then refuse the other receipt as invalid. That receipt is done too.
                    let goneAnyway = pending.filter {
                        failedCodes[$0.receiptHandle!]?.code == ReceiptFailure.invalidHandle && inFlight.wasDuplicated($0.messageId)
                    }
                    let done = pending.filter { failedCodes[$0.receiptHandle!] == nil }
                    statistics.update { $0.deleted += done.count + goneAnyway.count }
                    inFlight.remove(done + goneAnyway)
                    observer?.messagesDeleted(done + goneAnyway)
                    let goneIds = Set(goneAnyway.map(\.receiptHandle!))
                    let retry = pending.filter { failedCodes[$0.receiptHandle!]?.retryable == true }
                    let final = pending.filter {
                        failedCodes[$0.receiptHandle!]?.retryable == false && !goneIds.contains($0.receiptHandle!)
                    }
                    if !final.isEmpty {
                        let codes = Set(final.compactMap { failedCodes[$0.receiptHandle!]?.code }).sorted()
                        logger.warning("\(final.count) deletes refused (\(codes.joined(separator: ", "))): those messages will be redelivered and skipped as duplicates")
                        statistics.update { $0.deleteFailures += final.count }
                        inFlight.remove(final)
                    }
                    pending = retry
                } catch {
                    logger.warning("delete attempt \(attempt) failed: \(error)")
                }
                if !pending.isEmpty {
                    if attempt >= 5 {
                        logger.warning("giving up deleting \(pending.count) messages: they will be redelivered and skipped as duplicates")
                        statistics.update { $0.deleteFailures += pending.count }
                        inFlight.remove(pending)
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
