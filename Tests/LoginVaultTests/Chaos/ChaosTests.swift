import Foundation
import LoginVault
import Postgres
import SQS
import TestSupport
import Testing

/// Issue 6, chaos: `load` under crashes, database restarts, SQS faults, concurrency and a
/// soak, each ending with an exact check by message id: every valid message sent is exactly
/// one `user_logins` row, every invalid one exactly one `rejected_logins` row, nothing else,
/// nothing in both, nothing left in staging or in the queue.
///
/// `make test` runs the quick profile (moto, shallow queues); `make chaos` the full one
/// (LocalStack, 20,000 messages, the soak) and prints the figures. See docs/reliability.md.
@Suite("Chaos", .enabled(if: ChaosProfile.enabled), .serialized)
struct ChaosTests {
    static let full = ChaosProfile.current == .full

    /// Runs `body` with a fresh queue and a loader pool; kills leftover loaders and purges the
    /// queue afterwards, whatever happens.
    static func withQueue(_ label: String, _ body: (ChaosQueue, LoaderPool) async throws -> Void) async throws {
        let queue = try await ChaosQueue.create(label)
        let pool = LoaderPool()
        do {
            try await body(queue, pool)
        } catch {
            await pool.stopAll()
            await queue.tearDown()
            throw error
        }
        await pool.stopAll()
        await queue.tearDown()
    }

    // MARK: - 1. Crash loop

    /// Seeds valid, invalid and duplicate messages, some already received once (redeliveries),
    /// some already staged or processed by "a previous loader"; runs `load --drain` and
    /// kill -9s it at random moments, K times; drains to the end; checks exactness by id.
    @Test func crashLoopLosesAndDoublesNothing() async throws {
        let seed = ChaosProfile.seed()
        var random = SplitMix64(seed: seed)
        let count = ChaosProfile.knob("CRASH_MESSAGES", quick: 300, full: 20_000)
        let kills = ChaosProfile.knob("CRASH_KILLS", quick: 3, full: 20)
        let visibility = 4
        let started = ContinuousClock.now
        let database = try ScratchDatabase.create("chaos_crash")
        defer { database.drop() }
        let connection = try database.connect()
        try ChaosDatabase.migrate(connection)

        try await Self.withQueue("crash") { queue, pool in
            let ledger = try await queue.send(ChaosMessages.generate(count, using: &random), parallel: Self.full ? 8 : 4)
            // Redeliveries: received before and not deleted (visible again at once, or in a few
            // seconds); and committed by a loader that died before deleting (half of those
            // already processed into user_logins).
            let redelivered = try await queue.receiveWithoutDeleting(max(10, count / 20), visibilityTimeout: 0)
            let held = try await queue.receiveWithoutDeleting(max(10, count / 40), visibilityTimeout: 3)
            let preStaged = Array(ledger.valid.sorted().prefix(max(4, min(200, count / 50))))
            try ChaosDatabase.preStage(Array(preStaged.prefix(preStaged.count / 2)), ledger: ledger, on: connection)
            try connection.query("CALL process_raw_logins()")
            try ChaosDatabase.preStage(Array(preStaged.dropFirst(preStaged.count / 2)), ledger: ledger, on: connection)

            let arguments = loadArguments(queue: queue, database: database.connectionString, [
                "--receivers", Self.full ? "4" : "2", "--batch-size", Self.full ? "100" : "20",
                "--wait-time-seconds", "1", "--visibility-timeout", "\(visibility)", "--max-receives", "1000",
            ])
            // Short enough that the 20,000 messages of the full profile outlast K kills (a run
            // drains ~2,000 msgs/s on LocalStack once started; with (0.3, 2.0) the queue was
            // empty after 16 kills), long enough that most runs get past their start-up.
            let delays = Self.full ? (0.2, 1.0) : (0.3, 1.5)
            var crashes = 0, runs = 0, cleanExits = 0
            while crashes < kills && runs < kills * 4 {
                runs += 1
                let loader = try pool.start(arguments, environment: queue.environment)
                try await Task.sleep(for: .seconds(delays.0 + random.nextDouble() * (delays.1 - delays.0)))
                if loader.isRunning {
                    _ = await loader.kill9()
                    crashes += 1
                } else {
                    let outcome = await loader.finish()
                    #expect(outcome.status == 0, "a loader between crashes exited \(outcome.status): \(outcome.stderr)")
                    cleanExits += 1
                    let depth = try await queue.depth()
                    if depth.visible + depth.inFlight == 0 { break }
                    if depth.visible == 0 { try await Task.sleep(for: .seconds(1)) }
                }
            }
            let drains = try await drainToTheEnd(queue: queue, database: database.connectionString, pool: pool,
                                                 visibilityTimeout: visibility)

            let exactness = try Exactness.check(ledger, on: connection)
            var figures = ChaosFigures(scenario: "crash-loop", seed: seed)
            figures.take(exactness)
            figures.crashes = crashes
            figures.seconds = secondsSince(started)
            figures.notes = ["\(runs) runs (\(cleanExits) ended on their own), \(drains) final drains",
                             "\(redelivered + held) redelivered, \(preStaged.count) pre-staged"]
            figures.record()
            #expect(exactness.isExact, "\(exactness)")
            #expect(crashes >= min(kills, 1), "no loader was ever killed mid-run")
        }
    }

    // MARK: - 2. Database restarts

    /// Restarts a private PostgreSQL (`pg_ctl restart -m fast`, and once `-m immediate`) while
    /// a drain is staging: the loader reconnects with backoff and completes (or exits 4 having
    /// deleted nothing uncommitted, and a rerun completes); the result is exact.
    @Test func databaseRestartsMidDrain() async throws {
        let seed = ChaosProfile.seed()
        var random = SplitMix64(seed: seed)
        let count = ChaosProfile.knob("RESTART_MESSAGES", quick: 200, full: 3000)
        let modes = Self.full ? ["fast", "fast", "immediate", "fast"] : ["fast", "immediate"]
        let started = ContinuousClock.now
        let cluster = try PrivateCluster()
        defer { cluster.destroy() }
        let conninfo = cluster.connectionString()
        let admin = try PostgresConnection(conninfo)
        try ChaosDatabase.migrate(admin)
        // Every staging statement takes a while, so the restarts land mid-drain.
        try admin.runScript("""
            CREATE FUNCTION chaos_slow_staging() RETURNS trigger LANGUAGE plpgsql AS
              $$ BEGIN PERFORM pg_sleep(0.1); RETURN NULL; END $$;
            CREATE TRIGGER chaos_slow_staging AFTER INSERT ON raw_logins
              FOR EACH STATEMENT EXECUTE FUNCTION chaos_slow_staging();
            """)
        admin.close()

        try await Self.withQueue("restart") { queue, pool in
            let ledger = try await queue.send(ChaosMessages.generate(count, using: &random))
            let loader = try pool.start(loadArguments(queue: queue, database: conninfo, [
                "--receivers", "2", "--batch-size", Self.full ? "50" : "10", "--wait-time-seconds", "1",
                "--visibility-timeout", "20", "--give-up-after", "90", "--max-receives", "1000", "--json",
            ]), environment: queue.environment)

            var restarts = 0
            for (index, mode) in modes.enumerated() {
                let target = count * (index + 1) / (modes.count + 2)
                var landed = 0
                while loader.isRunning && landed < target {
                    try await Task.sleep(for: .milliseconds(100))
                    landed = (try? Self.landed(conninfo)) ?? landed
                }
                guard loader.isRunning else { break }
                try cluster.restart(mode: mode)
                restarts += 1
            }
            let outcome = await loader.finish()
            // Reconnecting is the expected way; giving up (4) is allowed, if nothing was lost.
            #expect(outcome.status == 0 || outcome.status == 4, "exit \(outcome.status): \(outcome.stderr)")
            let summary = try JSONSerialization.jsonObject(with: Data(outcome.stdout.utf8)) as? [String: Any]
            let statistics = summary?["statistics"] as? [String: Any] ?? [:]

            let check = try PostgresConnection(conninfo)
            try check.runScript("DROP TRIGGER chaos_slow_staging ON raw_logins")
            let drains = try await drainToTheEnd(queue: queue, database: conninfo, pool: pool, visibilityTimeout: 20)
            let exactness = try Exactness.check(ledger, on: check)
            var figures = ChaosFigures(scenario: "db-restart", seed: seed)
            figures.take(exactness)
            figures.restarts = restarts
            figures.seconds = secondsSince(started)
            figures.notes = ["modes \(modes.prefix(restarts).joined(separator: ",")), loader exit \(outcome.status), "
                             + "failed batches \(statistics["failed_batches"] ?? "?"), "
                             + "\(drains) final drains"]
            figures.record()
            #expect(restarts == modes.count, "the drain ended before every restart was done")
            #expect(exactness.isExact, "\(exactness)")
        }
    }

    /// Messages staged or already processed, on a fresh connection (the server restarts).
    static func landed(_ conninfo: String) throws -> Int {
        let connection = try PostgresConnection(conninfo)
        defer { connection.close() }
        return try connection.query("""
            SELECT (SELECT count(*) FROM raw_logins) + (SELECT count(*) FROM user_logins)
                 + (SELECT count(*) FROM rejected_logins)
            """).first?[0].int ?? 0
    }

    // MARK: - 3. SQS faults

    /// Drains through a fault-injecting proxy: 500s, 503s, throttling, 429s, resets before and
    /// after the server acted, answers held back past the client's timeout, truncated bodies.
    /// Every run must exit 0 and the result must be exact.
    @Test func sqsFaultsThroughAProxy() async throws {
        let seed = ChaosProfile.seed()
        var random = SplitMix64(seed: seed)
        let count = ChaosProfile.knob("FAULT_MESSAGES", quick: 250, full: 5000)
        let started = ContinuousClock.now
        let database = try ScratchDatabase.create("chaos_faults")
        defer { database.drop() }
        let connection = try database.connect()
        try ChaosDatabase.migrate(connection)
        let waitTime = 1
        let plan = FaultInjectingProxy.FaultPlan(
            seed: seed, rate: Self.full ? 0.1 : 0.25, maxDelayed: Self.full ? 6 : 1,
            delayedActions: Self.full ? nil : ["ReceiveMessage"],
            holdBack: { action in
                // Past the client's timeouts: a long poll waits wait + 10 s, anything else 30 s.
                action == "ReceiveMessage" ? .seconds(waitTime + 10 + 2) : .seconds(32)
            })

        try await Self.withQueue("faults") { queue, pool in
            let ledger = try await queue.send(ChaosMessages.generate(count, using: &random), parallel: Self.full ? 8 : 4)
            try await FaultInjectingProxy.with(upstream: URL(string: queue.endpoint)!, plan: plan) { proxy, endpoint in
                let arguments = ["--endpoint-url", endpoint.absoluteString, "--receivers", "3",
                                 "--batch-size", Self.full ? "100" : "20", "--give-up-after", "120"]
                let loader = try pool.start(loadArguments(queue: queue, database: database.connectionString, arguments + [
                    "--wait-time-seconds", "\(waitTime)", "--visibility-timeout", "5", "--max-receives", "1000",
                ]), environment: queue.environment)
                let first = await loader.finish()
                #expect(first.status == 0, "the load under faults exited \(first.status): \(first.stderr)")
                // What a dropped answer had received comes back after its visibility timeout.
                let drains = try await drainToTheEnd(queue: queue, database: database.connectionString, pool: pool,
                                                     arguments: arguments, visibilityTimeout: 5)

                let exactness = try Exactness.check(ledger, on: connection)
                var figures = ChaosFigures(scenario: "sqs-faults", seed: seed)
                figures.take(exactness)
                figures.faults = proxy.injectedCount
                figures.seconds = secondsSince(started)
                let kinds = proxy.injected.sorted { $0.key.rawValue < $1.key.rawValue }.map { "\($0.key.rawValue) \($0.value)" }
                figures.notes = ["\(proxy.requestCount) requests, faults: " + kinds.joined(separator: ", "),
                                 "\(drains) final drains"]
                figures.record()
                #expect(exactness.isExact, "\(exactness)")
                #expect(proxy.injectedCount > 0)
            }
        }
    }

    /// The regression behind b8fa721: receive answers cut in half (a 200 whose JSON does not
    /// parse) used to end `load --drain` with exit 5. Now they are retried like resets.
    @Test func garbledReceiveAnswersAreRetried() async throws {
        var random = SplitMix64(seed: 6)
        let database = try ScratchDatabase.create("chaos_garbled")
        defer { database.drop() }
        let connection = try database.connect()
        try ChaosDatabase.migrate(connection)
        let plan = FaultInjectingProxy.FaultPlan(seed: 6, rate: 1, faults: [.truncatedJSON],
                                                 actions: ["ReceiveMessage"], limit: 3)
        try await Self.withQueue("garbled") { queue, pool in
            let ledger = try await queue.send(ChaosMessages.generate(40, using: &random))
            try await FaultInjectingProxy.with(upstream: URL(string: queue.endpoint)!, plan: plan) { proxy, endpoint in
                let arguments = ["--endpoint-url", endpoint.absoluteString, "--receivers", "1"]
                let first = await (try pool.start(loadArguments(queue: queue, database: database.connectionString, arguments + [
                    "--wait-time-seconds", "1", "--visibility-timeout", "2", "--max-receives", "1000",
                ]), environment: queue.environment)).finish()
                #expect(first.status == 0, "exit \(first.status): \(first.stderr)")
                #expect(proxy.injectedCount == 3)
                try await drainToTheEnd(queue: queue, database: database.connectionString, pool: pool,
                                        arguments: arguments, visibilityTimeout: 2)
                let exactness = try Exactness.check(ledger, on: connection)
                #expect(exactness.isExact, "\(exactness)")
            }
        }
    }

    // MARK: - 4. Concurrency

    /// Three loaders and two sessions calling `process_raw_logins()` in a loop, all at once on
    /// the same queue and database: every loader exits 0 with nothing on stderr, no CALL
    /// fails (no deadlock, no serialization error), and the result is exact.
    @Test func threeLoadersAndTwoProcessSessionsAtOnce() async throws {
        let seed = ChaosProfile.seed()
        var random = SplitMix64(seed: seed)
        let count = ChaosProfile.knob("CONCURRENCY_MESSAGES", quick: 300, full: 6000)
        let started = ContinuousClock.now
        let database = try ScratchDatabase.create("chaos_concurrency")
        defer { database.drop() }
        let connection = try database.connect()
        try ChaosDatabase.migrate(connection)

        try await Self.withQueue("concurrency") { queue, pool in
            let ledger = try await queue.send(ChaosMessages.generate(count, using: &random), parallel: Self.full ? 8 : 4)
            _ = try await queue.receiveWithoutDeleting(max(10, count / 20), visibilityTimeout: 0)
            let sessions = ProcessSessions(conninfo: database.connectionString, count: 2)
            defer { sessions.stop() }
            let loaders = try (0..<3).map { _ in
                try pool.start(loadArguments(queue: queue, database: database.connectionString, [
                    "--receivers", "2", "--batch-size", Self.full ? "100" : "20", "--wait-time-seconds", "1",
                    "--visibility-timeout", "30", "--max-receives", "1000",
                ]), environment: queue.environment)
            }
            var outcomes: [LoginVaultExecutable.Outcome] = []
            for loader in loaders { outcomes.append(await loader.finish()) }
            let (calls, errors) = await sessions.finish()
            for (index, outcome) in outcomes.enumerated() {
                #expect(outcome.status == 0, "loader \(index) exited \(outcome.status): \(outcome.stderr)")
                #expect(outcome.stderr.trimmingCharacters(in: .whitespacesAndNewlines).isEmpty,
                        "loader \(index) reported: \(outcome.stderr)")
            }
            #expect(errors.isEmpty, "process_raw_logins failed: \(errors.prefix(3))")
            let leftBehind = try await queue.depth()
            let drains = try await drainToTheEnd(queue: queue, database: database.connectionString, pool: pool,
                                                 visibilityTimeout: 30)

            let exactness = try Exactness.check(ledger, on: connection)
            var figures = ChaosFigures(scenario: "concurrency", seed: seed)
            figures.take(exactness)
            figures.seconds = secondsSince(started)
            figures.notes = ["3 loaders, 2 sessions made \(calls) CALLs, \(errors.count) errors",
                             "after the loaders: \(leftBehind.visible) visible, \(leftBehind.inFlight) in flight; \(drains) final drains"]
            figures.record()
            #expect(exactness.isExact, "\(exactness)")
        }
    }

    // MARK: - 5. Soak (full profile only)

    /// `load --follow` under a steady producer: memory stays flat (RSS sampled from /proc),
    /// throughput never stalls, and the result is exact. `make chaos` only.
    @Test(.enabled(if: ChaosProfile.current == .full)) func soakUnderASteadyProducer() async throws {
        let seed = ChaosProfile.seed()
        let duration = ChaosProfile.knob("SOAK_SECONDS", quick: 60, full: 600)
        let rate = ChaosProfile.knob("SOAK_RATE", quick: 5, full: 25)
        let started = ContinuousClock.now
        let database = try ScratchDatabase.create("chaos_soak")
        defer { database.drop() }
        let connection = try database.connect()
        try ChaosDatabase.migrate(connection)

        try await Self.withQueue("soak") { queue, pool in
            let loader = try pool.start(loadArguments(queue: queue, database: database.connectionString, [
                "--follow", "--process-every", "10", "--visibility-timeout", "60", "--max-receives", "1000",
            ]), environment: queue.environment)

            let producer = Task {
                var random = SplitMix64(seed: seed)
                var ledger = SentLedger()
                let begin = ContinuousClock.now
                var tick = 0
                while ContinuousClock.now - begin < .seconds(duration) {
                    tick += 1
                    ledger.merge(try await queue.send(ChaosMessages.generate(rate, using: &random), parallel: 2))
                    try await Task.sleep(until: begin + .seconds(tick), clock: .continuous)
                }
                return ledger
            }

            struct Sample { let at: Double; let rss: Int; let landed: Int }
            var samples: [Sample] = []
            let begin = ContinuousClock.now
            while !producer.isCancelled, ContinuousClock.now - begin < .seconds(duration) {
                try await Task.sleep(for: .seconds(5))
                guard let rss = loader.residentBytes else { break }
                samples.append(Sample(at: secondsSince(begin), rss: rss, landed: try Self.landed(database.connectionString)))
            }
            let ledger = try await producer.value
            #expect(loader.isRunning, "the follower died")
            // Let it catch up, then stop it as a service manager would.
            for _ in 0..<120 {
                let depth = try await queue.depth()
                if depth.visible + depth.inFlight == 0 { break }
                try await Task.sleep(for: .seconds(1))
            }
            loader.signal(SIGTERM)
            let outcome = await loader.finish()
            #expect(outcome.status == 0, "the follower exited \(outcome.status) after SIGTERM: \(outcome.stderr)")
            let drains = try await drainToTheEnd(queue: queue, database: database.connectionString, pool: pool,
                                                 visibilityTimeout: 60)

            // Memory: after a minute's warm-up, the second half's peak is not above the first's
            // (beyond allocator noise). Throughput: every full minute moved messages.
            let warm = samples.filter { $0.at >= min(60, Double(duration) / 5) }
            let half = warm.count / 2
            let firstPeak = warm.prefix(half).map(\.rss).max() ?? 0
            let secondPeak = warm.dropFirst(half).map(\.rss).max() ?? 0
            var perMinute: [Int] = []
            var windowStart = samples.first
            for sample in samples {
                guard let start = windowStart else { break }
                if sample.at - start.at >= 60 {
                    perMinute.append(sample.landed - start.landed)
                    windowStart = sample
                }
            }
            let exactness = try Exactness.check(ledger, on: connection)
            var figures = ChaosFigures(scenario: "soak", seed: seed)
            figures.take(exactness)
            figures.seconds = secondsSince(started)
            let mib = { (bytes: Int) in String(format: "%.1f", Double(bytes) / 1_048_576) }
            figures.notes = ["\(duration) s at \(rate) msgs/s", "RSS MiB first-half peak \(mib(firstPeak)), second-half peak \(mib(secondPeak)), "
                             + "max \(mib(samples.map(\.rss).max() ?? 0))",
                             "landed per minute \(perMinute.map(String.init).joined(separator: " "))",
                             "\(drains) final drains"]
            figures.record()
            #expect(exactness.isExact, "\(exactness)")
            #expect(secondPeak <= firstPeak + firstPeak / 5 + 8 * 1_048_576,
                    "memory grew: \(mib(firstPeak)) MiB -> \(mib(secondPeak)) MiB")
            #expect(perMinute.allSatisfy { $0 > 0 }, "a minute went by without a message landing: \(perMinute)")
        }
    }
}

/// Sessions that call `process_raw_logins()` in a loop on threads of their own (libpq blocks),
/// until stopped; they count the calls and collect the errors.
final class ProcessSessions: @unchecked Sendable {
    private let lock = NSLock()
    private var stopping = false
    private var running = 0
    private var calls = 0
    private var errors: [String] = []

    init(conninfo: String, count: Int) {
        running = count
        for _ in 0..<count {
            Thread.detachNewThread { [self] in
                defer { lock.withLock { running -= 1 } }
                let connection: PostgresConnection
                do {
                    connection = try PostgresConnection(conninfo)
                } catch {
                    lock.withLock { errors.append("connect: \(error)") }
                    return
                }
                defer { connection.close() }
                while !lock.withLock({ stopping }) {
                    do {
                        try connection.query("CALL process_raw_logins()")
                        lock.withLock { calls += 1 }
                    } catch {
                        lock.withLock { errors.append("\(error)") }
                    }
                    Thread.sleep(forTimeInterval: 0.02)
                }
            }
        }
    }

    func stop() { lock.withLock { stopping = true } }

    /// Stops the sessions and waits for them; returns the calls made and the errors seen.
    func finish() async -> (calls: Int, errors: [String]) {
        stop()
        while lock.withLock({ running > 0 }) { try? await Task.sleep(for: .milliseconds(20)) }
        return lock.withLock { (calls, errors) }
    }
}
