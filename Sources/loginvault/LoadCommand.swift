import ArgumentParser
import Foundation
import Logging
import LoginVault
import Postgres
import SQS
import UnixSignals

/// `loginvault load`: SQS (or a file) -> raw_logins, then process_raw_logins.
struct LoadCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "load",
        abstract: "Stage messages from an SQS queue (or a file) into raw_logins, then process them.",
        discussion: """
            Before receiving anything, load checks the database (reachable, migrated, \
            the role may stage and process) and the queue (exists, reachable, \
            attributes readable); `loginvault check` runs the same checks alone.

            Receivers long-poll the queue concurrently; messages are grouped into write \
            batches; each batch is staged in one transaction (a binary COPY, then a plain \
            INSERT, or INSERT ... ON CONFLICT (message_id) DO NOTHING when an id is \
            already staged), and only after COMMIT are its messages deleted from the queue. \
            A batch that fails for a reason that may pass (connection lost, deadlock) is \
            rolled back, its messages made visible again at once, and retried with backoff. \
            A permanent error (missing privileges, a database without migrations) stops the \
            load at once: the messages in hand are made visible again, once. Bodies that \
            are not valid JSON are quarantined in rejected_logins (encrypted) by the \
            database, as are messages received more than --max-receives times; load warns \
            when a batch is mostly rejected, and stops past --max-reject-ratio. loginvault \
            never reads a field of a body.

            While loading it calls process_raw_logins, which masks and upserts into \
            user_logins, on a second session every --process-after staged messages (and \
            every --process-every seconds in follow mode), and once more at the end. \
            When the installation keeps its mask key outside the database, \
            LOGINVAULT_MASK_KEY_FILE names the file holding it (hex, one key per line; \
            both keys during a mask-key rotation): before each run load copies it into \
            the session (COPY, never logged) and the database checks it against the \
            stored fingerprint; a missing or wrong key stops load before anything is \
            received. See docs/security.md.

            AWS credentials come from the AWS SDKs' chain: environment keys, web \
            identity (EKS IRSA), the profile (static keys, role_arn with source_profile or \
            credential_source, SSO after `aws sso login`, credential_process), container \
            credentials (ECS, EKS Pod Identity), EC2 instance metadata. Temporary ones are \
            refreshed before they expire. Example: AWS_PROFILE=loader loginvault load \
            --queue login-events --follow. See docs/sqs.md.

            SIGINT or SIGTERM: stop receiving, finish the batches in flight (commit, \
            delete), make anything else visible again, exit 0.

            Exit codes: 0 success (also after SIGINT/SIGTERM); 1 error (configuration, \
            pre-flight, SQL, file); 4 the database stayed unreachable (--drain); 5 the queue \
            failed or refused (no such queue, access denied, unreachable); 6 more rejected \
            than --max-reject-ratio allows; 64 bad usage.

            Examples:
              loginvault load --queue login-queue                 # drain the queue, then stop
              loginvault load --queue https://sqs.eu-west-1.amazonaws.com/123456789012/login-queue --region eu-west-1 --follow
              loginvault load --from-file logins.json --json      # a backfill from a JSON array
              zcat logins.jsonl.gz | loginvault load --from-file - --format lines
            """
    )

    @Option(help: ArgumentHelp("The queue, by URL or by name.", valueName: "url-or-name"))
    var queue: String?

    @Option(name: .customLong("from-file"), help: ArgumentHelp(
        "Stage messages from a file instead of SQS: a JSON array or JSON lines; - for standard input.",
        discussion: "Message ids are derived from each message's position and content, so replaying the same file adds nothing to user_logins.",
        valueName: "path"))
    var fromFile: String?

    @Option(help: "From a file: its layout, auto (an array if it starts with '['), array or lines. (default: auto)")
    var format: MessageFileReader.Format?

    @Flag(help: ArgumentHelp("drain (default): stop once the queue stays empty for a long poll. follow: run until SIGINT/SIGTERM."))
    var mode: LoadSettings.Mode?

    @Option(parsing: .unconditional, help: "Stop after this many messages.")
    var maxMessages: Int?

    @Option(parsing: .unconditional, help: ArgumentHelp(
        "From a queue: receives in flight at once, auto or a number. (default: auto)",
        discussion: """
            auto starts at 4 and adapts every half second, between 1 and \(LoadCommand.maxAutoReceivers): \
            more while throughput grows with each step, fewer when receives come back empty, \
            part-full or failed (an idle queue costs one long poll at a time: with --follow, 3 receives a \
            minute) or when the database is behind. See docs/sqs.md.
            """,
        valueName: "auto|n"))
    var receivers: Concurrency?

    @Option(parsing: .unconditional, help: ArgumentHelp(
        "From a queue: deletes in flight at once, auto or a number. (default: auto)",
        discussion: "auto: up to \(LoadCommand.maxAutoDeleters), as many as committed 10-message deletes wait (an idle deleter sends nothing).",
        valueName: "auto|n"))
    var deleters: Concurrency?

    /// `--receivers auto`'s ceiling (and `--deleters auto`'s): enough for ~3,000 messages/s
    /// at 100 ms to the queue; each is an HTTP connection.
    static let maxAutoReceivers = 32
    static let maxAutoDeleters = 32

    @Option(parsing: .unconditional, help: "From a file: batches staged at once, each on a database session of its own. (default: 2)")
    var writers: Int?

    @Option(parsing: .unconditional, help: "Messages per write batch (one transaction). Default: 500 from a queue, 5000 from a file.")
    var batchSize: Int?

    @Option(parsing: .unconditional, help: "From a queue: longest time (ms) a received message waits for its write batch to fill. (default: 200)")
    var batchWindowMs: Int?

    @Option(parsing: .unconditional, help: "From a queue: long poll per receive, 0-20 s. Default: 2 with --drain, 20 with --follow.")
    var waitTimeSeconds: Int?

    @Option(parsing: .unconditional, help: "From a queue: seconds received messages stay invisible; extended while a batch is held up. (default: 120)")
    var visibilityTimeout: Int?

    @Option(parsing: .unconditional, help: "From a queue: quarantine a message as too_many_receives once received more often than this (0: never). (default: 10)")
    var maxReceives: Int?

    @Option(parsing: .unconditional, help: "From a queue: give up after the queue was unreachable, or (with --drain) the database kept failing, for this many seconds. (default: 60)")
    var giveUpAfter: Int?

    @Flag(name: .customLong("no-process"), help: "Only stage; leave process_raw_logins to the DBA or the scheduled job.")
    var noProcess = false

    @Option(parsing: .unconditional, help: "With --follow, call process_raw_logins every this many seconds. (default: 60)")
    var processEvery: Int?

    @Option(parsing: .unconditional, help: ArgumentHelp(
        "From a queue: while loading, run process_raw_logins on a second connection each time this many messages have been staged (0: only at the end). (default: 5000)",
        discussion: "The call at the end still runs, and finds less left to do. Concurrent runs are safe (rows are claimed with SKIP LOCKED).",
        valueName: "messages"))
    var processAfter: Int?

    @Option(parsing: .unconditional, help: ArgumentHelp(
        "The process_raw_logins call at the end runs on this many database sessions at once, auto or a number. (default: auto)",
        discussion: """
            Each session keeps one core of the database server busy; rows are claimed with \
            SKIP LOCKED, so the sessions never take the same row. auto: the cores of this \
            machine, at most \(LoadCommand.maxAutoProcessingSessions) (right when the database runs beside \
            loginvault; give a number when its server has more or fewer cores to spare). \
            See docs/benchmarks.md for how it scales.
            """,
        valueName: "auto|n"))
    var processingSessions: Concurrency?

    static let maxAutoProcessingSessions = 4

    @Option(parsing: .unconditional, help: ArgumentHelp(
        "Stop (exit 6) once more than this share (0-1) of the messages staged so far were rejected as not JSON. Default: 0.5 from a file, off from a queue (a warning only).",
        discussion: "From a file, the first 100 messages are staged and judged before the rest is read, so a file that is not JSON leaves at most 100 rows in rejected_logins.",
        valueName: "ratio"))
    var maxRejectRatio: Double?

    @Option(help: ArgumentHelp("The SQS endpoint (default: AWS_ENDPOINT_URL_SQS, AWS_ENDPOINT_URL, else AWS's regional endpoint).", valueName: "url"))
    var endpointURL: String?

    @Option(help: "The AWS region (default: AWS_REGION, AWS_DEFAULT_REGION, the profile's region).")
    var region: String?

    @Option(help: "The AWS profile in ~/.aws/config and ~/.aws/credentials (default: AWS_PROFILE, else default); when given, the environment's keys and web identity are skipped. Credentials follow the AWS SDKs' chain: see docs/sqs.md.")
    var profile: String?

    @Flag(help: "Print the final summary as JSON on standard output (with an error field: null, or why the load stopped).")
    var json = false

    @Flag(inversion: .prefixedNo, help: "A live progress line on standard error (default: when it is a terminal).")
    var progress: Bool?

    @OptionGroup var database: DatabaseOptions
    @OptionGroup var logging: LoggingOptions
    @OptionGroup var observability: ObservabilityOptions

    func validate() throws {
        try UnknownOptions.check(Self.self)
        if queue == nil && fromFile == nil {
            throw ValidationError("give the queue to load from (--queue <url-or-name>) or a file (--from-file <path>)")
        }
        if queue != nil && fromFile != nil {
            throw ValidationError("give either --queue (SQS) or --from-file (a file), not both")
        }
        if fromFile != nil {
            let queueOnly: [(String, Bool)] = [
                ("--follow/--drain", mode != nil), ("--receivers", receivers != nil), ("--deleters", deleters != nil),
                ("--batch-window-ms", batchWindowMs != nil), ("--wait-time-seconds", waitTimeSeconds != nil),
                ("--visibility-timeout", visibilityTimeout != nil), ("--max-receives", maxReceives != nil),
                ("--give-up-after", giveUpAfter != nil), ("--process-every", processEvery != nil),
                ("--process-after", processAfter != nil), ("--endpoint-url", endpointURL != nil),
                ("--region", region != nil), ("--profile", profile != nil),
            ]
            let given = queueOnly.filter(\.1).map(\.0)
            if !given.isEmpty { throw ValidationError("\(given.joined(separator: ", ")) only apply to --queue, not to --from-file") }
        } else {
            let fileOnly = [("--format", format != nil), ("--writers", writers != nil)].filter(\.1).map(\.0)
            if !fileOnly.isEmpty { throw ValidationError("\(fileOnly.joined(separator: ", ")) only apply to --from-file, not to --queue") }
            if processEvery != nil && mode != .follow { throw ValidationError("--process-every only applies with --follow") }
        }
        if let waitTimeSeconds, !(0...20).contains(waitTimeSeconds) { throw ValidationError("--wait-time-seconds must be 0-20") }
        for (name, value) in [("--receivers", receivers?.fixed), ("--deleters", deleters?.fixed), ("--writers", writers),
                              ("--batch-size", batchSize), ("--max-messages", maxMessages), ("--give-up-after", giveUpAfter),
                              ("--processing-sessions", processingSessions?.fixed),
                              ("--process-every", processEvery)] {
            if let value, value < 1 { throw ValidationError("\(name) must be at least 1 (got \(value))") }
        }
        for (name, value) in [("--process-after", processAfter), ("--max-receives", maxReceives), ("--batch-window-ms", batchWindowMs)] {
            if let value, value < 0 { throw ValidationError("\(name) must be 0 or more (got \(value))") }
        }
        if let visibilityTimeout, !(0...43_200).contains(visibilityTimeout) {
            throw ValidationError("--visibility-timeout must be 0-43200 seconds")
        }
        if let maxRejectRatio, !(0...1).contains(maxRejectRatio) {
            throw ValidationError("--max-reject-ratio must be between 0 and 1 (e.g. 0.5), got \(maxRejectRatio)")
        }
    }

    var settings: LoadSettings {
        var settings = LoadSettings()
        let mode = self.mode ?? .drain
        settings.mode = mode
        settings.maxMessages = maxMessages
        settings.receivers = receivers?.fixed ?? 4
        settings.maxReceivers = (receivers ?? .auto) == .auto ? Self.maxAutoReceivers : nil
        settings.deleters = deleters?.fixed ?? Self.maxAutoDeleters
        settings.writers = writers ?? 2
        settings.batchSize = batchSize ?? (fromFile == nil ? 500 : 5000)
        settings.batchWindow = .milliseconds(batchWindowMs ?? 200)
        settings.waitTimeSeconds = waitTimeSeconds ?? (mode == .drain ? 2 : 20)
        settings.visibilityTimeout = visibilityTimeout ?? 120
        settings.maxReceives = (maxReceives ?? 10) > 0 ? maxReceives ?? 10 : nil
        settings.giveUpAfter = .seconds(giveUpAfter ?? 60)
        settings.process = !noProcess
        settings.processEvery = .seconds(processEvery ?? 60)
        settings.processAfter = (processAfter ?? 5000) > 0 ? processAfter ?? 5000 : nil
        settings.processingSessions = processingSessions?.fixed
            ?? min(Self.maxAutoProcessingSessions, max(1, ProcessInfo.processInfo.activeProcessorCount))
        settings.maxRejectRatio = maxRejectRatio ?? (fromFile == nil ? nil : 0.5)
        return settings
    }

    func run() async throws {
        let logger = logging.makeLogger("loginvault.load")
        let instruments = observability.makeMetrics()
        let metrics = instruments?.metrics
        let statistics = LoadStatistics(onChange: metrics?.statisticsHook)
        var observing: LoadObservability?
        let started = ContinuousClock.now
        let modeName = fromFile == nil ? (mode ?? .drain).rawValue : "file"
        var client: SQSClient?
        var staging: StagingDatabase?
        var runs: [ProcessingRun] = []
        var requests: Int?
        var failure: (any Error)?
        do {
            // Pre-flight, before anything is received: the AWS configuration, the database, the queue.
            let configuration = fromFile == nil ? try await resolveSQSConfiguration(logger: logger) : nil
            if let configuration {
                logger.info("AWS credentials from \(configuration.credentialsSource); region \(configuration.region) from \(configuration.regionSource)")
            }
            try preflightDatabase()
            // Its thread is joined (`shutdown`) before run returns, on every path: a thread still
            // closing libpq while exit() runs the libraries' cleanup corrupted the heap (SIGABRT).
            let database = StagingDatabase(connectionString: self.database.connectionString, logger: logger,
                                           onProcessRun: metrics?.processRunHook, onStagingRejects: metrics?.stagingRejectsHook,
                                           maskKeyFile: MaskKeyFile.fromEnvironment())
            staging = database
            try await database.connect()
            if !noProcess { try await database.supplyMaskKeys() }
            var reporter = ProgressReporter(statistics: statistics, enabled: progress ?? (isatty(STDERR_FILENO) == 1))
            if let fromFile {
                let loader = FileLoader(reader: MessageFileReader(path: fromFile, format: format ?? .auto), database: database,
                                        settings: settings, statistics: statistics, logger: logger)
                if let instruments {
                    observing = try await observability.start(instruments, connectionString: self.database.connectionString,
                                                              queue: nil, logger: logger)
                }
                runs = try await reporter.while { try await loader.run() }
            } else if let configuration {
                let sqs = SQSClient(configuration: configuration, logger: Logger(label: "loginvault.sqs", level: logger.logLevel))
                client = sqs
                if let metrics { sqs.observeRequests { metrics.sqsRequest($0) } }
                let stop = StopFlag()
                let signals = Task {
                    for await signal in await UnixSignalsSequence(trapping: .sigterm, .sigint) {
                        logger.notice("\(signal): finishing the batches in flight, then stopping")
                        stop.request()
                    }
                }
                defer { signals.cancel() }
                if let instruments {
                    // Before the queue check: /readyz answers (503, with the reason) while load --follow waits.
                    observing = try await observability.start(instruments, connectionString: self.database.connectionString,
                                                              queue: (sqs, queue!), logger: logger)
                }
                try await awaitCredentials(configuration, stop: stop, observing: observing, logger: logger)
                let (result, found) = await QueueReadiness.check(client: sqs, queue: queue!, timeout: .seconds(giveUpAfter ?? 60))
                guard let found else { throw PreflightFailure(result: result, exitCode: ExitCodes.queueUnavailable) }
                reporter.total = found.messagesWaiting
                logger.info("loading \(found.queueURL) via \(configuration.endpoint.absoluteString)")
                await RedrivePolicyCheck.report(client: sqs, queueURL: found.queueURL, maxReceives: settings.maxReceives, logger: logger)
                let loader = QueueLoader(queue: SQSQueue(client: sqs, queueURL: found.queueURL, statistics: statistics, logger: logger),
                                         database: database, settings: settings, statistics: statistics, logger: logger,
                                         observer: metrics)
                instruments?.metrics.readInFlight { loader.messagesInFlight }
                stop.whenRequested { loader.requestShutdown() }
                runs = try await reporter.while { try await loader.run() }
                requests = sqs.requestCount
            }
        } catch {
            failure = error
        }
        await observing?.stop()
        try? await client?.shutdown()
        if let staging {
            await staging.close()
            await staging.shutdown()
        }
        let summary = LoadSummary(mode: modeName, statistics: statistics.snapshot, elapsed: ContinuousClock.now - started,
                                  queueRequests: requests ?? client?.requestCount, runs: runs,
                                  error: failure.map(describe))
        guard let failure else {
            print(json ? summary.json : summary.text)
            return
        }
        // The summary only when something happened: an all-zero one would only push the error down.
        if json {
            print(summary.json)
        } else if statistics.snapshot.received > 0 {
            StandardError.write(summary.text + "\n")
        }
        throw fail(failure)
    }

    /// The database part of the pre-flight: reachable, migrated, the role may load.
    private func preflightDatabase() throws {
        let connection = try database.connect()
        defer { connection.close() }
        let readiness = try DatabaseReadiness.inspect(connection, processing: !noProcess)
        if let failed = readiness.results(expectedVersion: nil).firstFailure {
            throw PreflightFailure(result: failed, exitCode: ExitCodes.failure)
        }
    }

    /// Credentials before the first SQS request: drain mode stops at once without them
    /// (exit 5); `--follow` waits for them with backoff, saying so in the log and on `/readyz`,
    /// unless the error will not pass by waiting (then it stops like drain mode).
    private func awaitCredentials(_ configuration: SQSConfiguration, stop: StopFlag, observing: LoadObservability?,
                                  logger: Logger) async throws {
        let error: (any Error)?
        observing?.notReady("waiting for the first AWS credentials from \(configuration.credentialsSource)")
        defer { observing?.notReady(nil) }
        if settings.mode == .follow {
            error = await CredentialsReadiness.wait(configuration, logger: logger, stop: stop) { reason in
                // Not ready, but alive: waiting on purpose is not a stuck loop (/healthz stays 200).
                observing?.notReady(reason)
                observing?.metrics.liveness.progressed()
            }
        } else {
            error = await CredentialsReadiness.probe(configuration)
        }
        guard let error else { return }
        var result = CredentialsReadiness.failure(error, configuration: configuration)
        if stop.isRequested {
            result = CheckResult("credentials", .failed, "stopped while waiting: \(result.detail)")
        }
        throw PreflightFailure(result: result, exitCode: ExitCodes.queueUnavailable)
    }

    /// The SQS configuration, with the profile named in any error about it.
    private func resolveSQSConfiguration(logger: Logger) async throws -> SQSConfiguration {
        do {
            return try await SQSConfiguration.resolve(
                endpointOverride: endpointURL, regionOverride: region, profile: profile,
                logger: Logger(label: "loginvault.credentials", level: logger.logLevel))
        } catch let error as SQSConfigurationError {
            if let profile, !error.description.contains("\"\(profile)\"") {
                throw SQSConfigurationError("\(error.description) (with --profile \"\(profile)\")")
            }
            throw error
        }
    }
}

extension LoadSettings.Mode: EnumerableFlag {}

extension MessageFileReader.Format: ExpressibleByArgument {}

extension Logger {
    init(label: String, level: Logger.Level) {
        self.init(label: label)
        self.logLevel = level
    }
}
