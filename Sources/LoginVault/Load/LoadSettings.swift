import Postgres

/// How a `load` run behaves; the command line fills it in.
public struct LoadSettings: Sendable {
    /// `drain`: stop once the queue stays empty for a long poll with none of this load's messages
    /// in flight (not yet deleted or released) nor on their way in another receive's answer
    /// (see `QueueLoader.nothingWithheld`). `follow`: run until stopped.
    public enum Mode: String, Sendable, CaseIterable {
        case drain, follow
    }

    public var mode: Mode = .drain
    /// Stop after this many messages (nil: no limit).
    public var maxMessages: Int?
    /// Concurrent long-polling receivers: the fixed number, or (with `maxReceivers`) where
    /// the adaptive count starts.
    public var receivers = 4
    /// Set: the number of receives in flight adapts between 1 and this (`--receivers auto`,
    /// see `ReceiverController`); nil: always `receivers`.
    public var maxReceivers: Int?
    /// How often the adaptive receiver count is reconsidered.
    public var receiverInterval: Duration = .milliseconds(500)
    /// Messages held at once (received and not yet deleted or released, plus what the
    /// receives in flight may bring); nil: 5 × `batchSize` + 10 × `receivers` (two batches
    /// waiting for the writer, one being staged, two waiting for their deletes, and what the
    /// first receives bring: the bound the fixed pipeline always had).
    public var maxHeld: Int?
    /// Concurrent delete workers: each sends one 10-message delete at a time, and only
    /// while committed messages wait, so idle ones cost nothing.
    public var deleters = 4
    /// From a file: batches staged at once, each on a database session (and thread) of
    /// its own, so the server parses and inserts more than one batch at a time.
    public var writers = 1
    /// Messages per write batch (one transaction); a batch closes earlier after `batchWindow`.
    public var batchSize = 500
    /// The longest a received message waits for its batch to fill.
    public var batchWindow: Duration = .milliseconds(200)
    /// Long poll length per receive.
    public var waitTimeSeconds = 20
    /// How long received messages stay invisible; extended while a batch is held up.
    public var visibilityTimeout = 120
    /// Messages received more often than this are quarantined as `too_many_receives`.
    public var maxReceives: Int? = 10
    /// In drain mode, how long the database or the queue may stay unreachable before giving up.
    public var giveUpAfter: Duration = .seconds(60)
    /// Call process_raw_logins at the end (and every `processEvery` in follow mode).
    public var process = true
    public var processEvery: Duration? = .seconds(60)
    /// From a queue: while loading, run process_raw_logins on a second connection each
    /// time this many messages have been staged (nil: only at the end, and on the
    /// `processEvery` timer in follow mode). The call at the end still runs.
    public var processAfter: Int?
    /// The call at the end runs on this many sessions at once (see `ParallelProcessing`).
    public var processingSessions = 1
    /// Stop once more than this share of the messages staged so far were rejected as not
    /// JSON (nil: only warn). See `RejectGuard`.
    public var maxRejectRatio: Double?
    /// On shutdown, how long receives already sent may take to answer before they are
    /// cancelled (see `QueueLoader.requestShutdown`).
    public var shutdownGrace: Duration = .seconds(3)

    public init() {}
}

/// Why a `load` run stopped short.
public enum LoadError: Error, Sendable, CustomStringConvertible {
    /// The database stayed unreachable (or kept failing) past the give-up bound.
    case databaseUnavailable(String)
    /// The queue kept failing, or refused outright (no such queue, access denied).
    case queueUnavailable(String)
    /// The database refused for a reason no retry can heal (privileges, not migrated,
    /// read-only): the batches in hand were released once and the load stopped.
    case databaseRefused(PostgresError)
    /// More of what was staged was rejected as not JSON than `--max-reject-ratio` allows.
    case tooManyRejects(rejected: Int, seen: Int, maxRatio: Double)

    public var description: String {
        switch self {
        case .databaseUnavailable(let why):
            return "giving up: the database kept failing (\(why)); nothing uncommitted was deleted from the queue"
        case .queueUnavailable(let why):
            return "giving up: the queue kept failing (\(why))"
        case .databaseRefused(let error):
            return "stopped: \(error.oneLine); the messages in hand were released unharmed"
        case .tooManyRejects(let rejected, let seen, let maxRatio):
            let percent = Int((Double(rejected) / Double(max(seen, 1)) * 100).rounded())
            return "stopped: \(rejected) of the first \(seen) messages (\(percent)%) were not JSON and went to rejected_logins, "
                + "more than --max-reject-ratio \(maxRatio) allows; check the input (a JSON array or JSON lines; --format)"
        }
    }
}
