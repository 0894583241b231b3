import ArgumentParser
import Foundation
import Logging
import LoginVault
import SQS
import UnixSignals

/// `loginvault load`: SQS (or a file) -> raw_logins, then process_raw_logins.
struct LoadCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "load",
        abstract: "Stage messages from an SQS queue (or a file) into raw_logins, then process them.",
        discussion: """
            Receivers long-poll the queue concurrently; messages are grouped into write \
            batches; each batch is staged in one transaction (a binary COPY, then a plain \
            INSERT, or INSERT ... ON CONFLICT (message_id) DO NOTHING when an id is \
            already staged), and only after COMMIT are its messages deleted from the queue. A batch that fails is rolled back and its messages \
            made visible again at once. Bodies that are not valid JSON are quarantined \
            in rejected_logins (encrypted) by the database, as are messages received \
            more than --max-receives times. loginvault never reads a field of a body.

            While loading it calls process_raw_logins, which masks and upserts into \
            user_logins, on a second session every --process-after staged messages (and \
            every --process-every seconds in follow mode), and once more at the end.

            SIGINT or SIGTERM: stop receiving, finish the batches in flight (commit, \
            delete), make anything else visible again, exit 0.

            Exit codes: 0 success (also after SIGINT/SIGTERM); 1 error (configuration, \
            SQL, file); 4 the database stayed unreachable (--drain); 5 the queue failed \
            or refused (no such queue, access denied, unreachable); 64 bad usage.
            """
    )

    @Option(help: ArgumentHelp("The queue, by URL or by name.", valueName: "url-or-name"))
    var queue: String?

    @Option(name: .customLong("from-file"), help: ArgumentHelp(
        "Stage messages from a file instead of SQS: a JSON array or JSON lines; - for standard input.",
        discussion: "Message ids are derived from each message's position and content, so replaying the same file adds nothing to user_logins.",
        valueName: "path"))
    var fromFile: String?

    @Option(help: "The file's layout: auto (an array if it starts with '['), array or lines.")
    var format: MessageFileReader.Format = .auto

    @Flag(help: ArgumentHelp("drain (default): stop once the queue stays empty for a long poll. follow: run until SIGINT/SIGTERM."))
    var mode: LoadSettings.Mode = .drain

    @Option(help: "Stop after this many messages.")
    var maxMessages: Int?

    @Option(help: "Concurrent long-polling receivers.")
    var receivers = 4

    @Option(help: "Concurrent delete workers.")
    var deleters = 4

    @Option(help: "From a file: batches staged at once, each on a database session of its own.")
    var writers = 2

    @Option(help: "Messages per write batch (one transaction). Default: 500 from a queue, 5000 from a file.")
    var batchSize: Int?

    @Option(help: "Longest time (ms) a received message waits for its write batch to fill.")
    var batchWindowMs = 200

    @Option(help: "Long poll per receive, 0-20 s. Default: 2 with --drain, 20 with --follow.")
    var waitTimeSeconds: Int?

    @Option(help: "Seconds received messages stay invisible; extended while a batch is held up.")
    var visibilityTimeout = 120

    @Option(help: "Quarantine a message as too_many_receives once received more often than this (0: never).")
    var maxReceives = 10

    @Option(help: "With --drain, give up after the database or queue failed for this many seconds.")
    var giveUpAfter = 60

    @Flag(name: .customLong("no-process"), help: "Only stage; leave process_raw_logins to the DBA or the scheduled job.")
    var noProcess = false

    @Option(help: "With --follow, call process_raw_logins every this many seconds.")
    var processEvery = 60

    @Option(help: ArgumentHelp(
        "From a queue: while loading, run process_raw_logins on a second connection each time this many messages have been staged (0: only at the end).",
        discussion: "The call at the end still runs, and finds less left to do. Concurrent runs are safe (rows are claimed with SKIP LOCKED).",
        valueName: "messages"))
    var processAfter = 5000

    @Option(help: ArgumentHelp("The SQS endpoint (default: AWS_ENDPOINT_URL_SQS, AWS_ENDPOINT_URL, else AWS's regional endpoint).", valueName: "url"))
    var endpointURL: String?

    @Option(help: "The AWS region (default: AWS_REGION, AWS_DEFAULT_REGION, the profile's region).")
    var region: String?

    @Option(help: "The AWS profile in ~/.aws/credentials and ~/.aws/config (default: AWS_PROFILE, else default).")
    var profile: String?

    @Flag(help: "Print the final summary as JSON on standard output.")
    var json = false

    @Flag(inversion: .prefixedNo, help: "A live progress line on standard error (default: when it is a terminal).")
    var progress: Bool?

    @OptionGroup var database: DatabaseOptions
    @OptionGroup var logging: LoggingOptions
    @OptionGroup var observability: ObservabilityOptions

    func validate() throws {
        if (queue == nil) == (fromFile == nil) {
            throw ValidationError("give either --queue (SQS) or --from-file (a file), not both or neither")
        }
        if fromFile != nil && mode == .follow { throw ValidationError("--follow reads a queue; it does not apply to --from-file") }
        if let waitTimeSeconds, !(0...20).contains(waitTimeSeconds) { throw ValidationError("--wait-time-seconds must be 0-20") }
        if receivers < 1 || deleters < 1 || writers < 1 {
            throw ValidationError("--receivers, --deleters and --writers must be at least 1")
        }
        if let batchSize, batchSize < 1 { throw ValidationError("--batch-size must be at least 1") }
        if let maxMessages, maxMessages < 1 { throw ValidationError("--max-messages must be at least 1") }
        if processAfter < 0 { throw ValidationError("--process-after must be 0 (off) or more") }
        if !(0...43_200).contains(visibilityTimeout) { throw ValidationError("--visibility-timeout must be 0-43200 seconds") }
    }

    var settings: LoadSettings {
        var settings = LoadSettings()
        settings.mode = mode
        settings.maxMessages = maxMessages
        settings.receivers = receivers
        settings.deleters = deleters
        settings.writers = writers
        settings.batchSize = batchSize ?? (fromFile == nil ? 500 : 5000)
        settings.batchWindow = .milliseconds(batchWindowMs)
        settings.waitTimeSeconds = waitTimeSeconds ?? (mode == .drain ? 2 : 20)
        settings.visibilityTimeout = visibilityTimeout
        settings.maxReceives = maxReceives > 0 ? maxReceives : nil
        settings.giveUpAfter = .seconds(giveUpAfter)
        settings.process = !noProcess
        settings.processEvery = .seconds(processEvery)
        settings.processAfter = processAfter > 0 ? processAfter : nil
        return settings
    }

    func run() async throws {
        let logger = logging.makeLogger("loginvault.load")
        let instruments = observability.makeMetrics()
        let metrics = instruments?.metrics
        let statistics = LoadStatistics(onChange: metrics?.statisticsHook)
        // Its thread is joined (`shutdown`) before run returns, on every path: a thread still
        // closing libpq while exit() runs the libraries' cleanup corrupted the heap (SIGABRT).
        let staging = StagingDatabase(connectionString: database.connectionString, logger: logger,
                                      onProcessRun: metrics?.processRunHook)
        var observing: LoadObservability?
        let started = ContinuousClock.now
        let reporter = ProgressReporter(statistics: statistics, enabled: progress ?? (isatty(STDERR_FILENO) == 1))
        var client: SQSClient?
        do {
            try await staging.connect()
            let notices: [String]
            var requests: Int?
            if let fromFile {
                let loader = FileLoader(reader: MessageFileReader(path: fromFile, format: format), database: staging,
                                        settings: settings, statistics: statistics, logger: logger)
                if let instruments {
                    observing = try await observability.start(instruments, connectionString: database.connectionString,
                                                              queue: nil, logger: logger)
                }
                notices = try await reporter.while { try await loader.run() }
            } else {
                let configuration = try SQSConfiguration.resolve(endpointOverride: endpointURL, regionOverride: region,
                                                                 profile: profile)
                let sqs = SQSClient(configuration: configuration, logger: Logger(label: "loginvault.sqs", level: logger.logLevel))
                client = sqs
                if let metrics { sqs.observeRequests { metrics.sqsRequest($0) } }
                let queueURL = try await sqs.queueURL(for: queue!)
                logger.info("loading \(queueURL) via \(configuration.endpoint.absoluteString)")
                let loader = QueueLoader(queue: SQSQueue(client: sqs, queueURL: queueURL, statistics: statistics, logger: logger),
                                         database: staging, settings: settings, statistics: statistics, logger: logger,
                                         observer: metrics)
                if let instruments {
                    instruments.metrics.readInFlight { loader.messagesInFlight }
                    observing = try await observability.start(instruments, connectionString: database.connectionString,
                                                              queue: (sqs, queueURL), logger: logger)
                }
                let signals = Task {
                    for await signal in await UnixSignalsSequence(trapping: .sigterm, .sigint) {
                        logger.notice("\(signal): finishing the batches in flight, then stopping")
                        loader.requestShutdown()
                    }
                }
                defer { signals.cancel() }
                notices = try await reporter.while { try await loader.run() }
                requests = sqs.requestCount
            }
            await observing?.stop()
            try? await client?.shutdown()
            await staging.close()
            await staging.shutdown()
            let summary = LoadSummary(mode: fromFile == nil ? mode.rawValue : "file", statistics: statistics.snapshot,
                                      elapsed: ContinuousClock.now - started, queueRequests: requests, process: notices)
            print(json ? summary.json : summary.text)
        } catch {
            await observing?.stop()
            try? await client?.shutdown()
            await staging.close()
            await staging.shutdown()
            let summary = LoadSummary(mode: fromFile == nil ? mode.rawValue : "file", statistics: statistics.snapshot,
                                      elapsed: ContinuousClock.now - started, queueRequests: client?.requestCount, process: [])
            if json { print(summary.json) } else { FileHandle.standardError.write(Data((summary.text + "\n").utf8)) }
            throw fail(error)
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
