import Foundation
import LoginVault
import Logging
import Postgres
import SQS
import TestSupport

/// Which chaos profile runs: `quick` inside `make test` (moto, a few hundred messages),
/// `full` under `make chaos` (LocalStack, tens of thousands, plus the soak).
///
/// Environment:
/// - `LOGINVAULT_CHAOS_PROFILE`: `quick` (default) or `full`.
/// - `LOGINVAULT_CHAOS_SQS_ENDPOINT`: the SQS endpoint of the full profile (LocalStack);
///   the quick profile uses moto (`LOGINVAULT_TEST_SQS_ENDPOINT`).
/// - `LOGINVAULT_CHAOS_SEED`: replays a run's random choices (every scenario prints its seed).
/// - `LOGINVAULT_CHAOS_<KNOB>`: overrides one size (see `ChaosProfile.knob`), e.g.
///   `LOGINVAULT_CHAOS_CRASH_MESSAGES=2000` to try the full profile's logic on moto.
/// - `LOGINVAULT_CHAOS_FIGURES_DIR`: where each scenario writes its figures (JSON) for the
///   table `make chaos` prints.
enum ChaosProfile: String, Sendable {
    case quick, full

    static let environment = ProcessInfo.processInfo.environment

    static let current: ChaosProfile = environment["LOGINVAULT_CHAOS_PROFILE"] == "full" ? .full : .quick

    /// Whether the chaos scenarios can run (or must, under `make test` / `make chaos`).
    static var enabled: Bool {
        Integration.postgres && (current == .full || Integration.sqs)
    }

    /// The SQS endpoint the scenarios use.
    static func endpoint() throws -> String {
        switch current {
        case .quick:
            return try Integration.variable("LOGINVAULT_TEST_SQS_ENDPOINT")
        case .full:
            guard let value = environment["LOGINVAULT_CHAOS_SQS_ENDPOINT"], !value.isEmpty else {
                throw ChaosFailure("""
                    the full chaos profile needs LOGINVAULT_CHAOS_SQS_ENDPOINT (a LocalStack SQS endpoint, \
                    e.g. http://127.0.0.1:4566): run it through `make chaos`
                    """)
            }
            return value
        }
    }

    /// A size of this profile, overridable with `LOGINVAULT_CHAOS_<NAME>`.
    static func knob(_ name: String, quick: Int, full: Int) -> Int {
        if let text = environment["LOGINVAULT_CHAOS_\(name)"], let value = Int(text) { return value }
        return current == .quick ? quick : full
    }

    /// The seed for a scenario: `LOGINVAULT_CHAOS_SEED` or a fresh one.
    static func seed() -> UInt64 {
        if let text = environment["LOGINVAULT_CHAOS_SEED"], let value = UInt64(text) { return value }
        return UInt64.random(in: 1...UInt64(UInt32.max))
    }
}

struct ChaosFailure: Error, CustomStringConvertible {
    let description: String
    init(_ description: String) { self.description = description }
}

// MARK: - Messages

/// One message a scenario sends, and what must become of it.
struct ChaosMessage: Sendable {
    enum Kind: String, Sendable {
        /// Must end as exactly one `user_logins` row.
        case valid
        /// Must end as exactly one `rejected_logins` row.
        case invalid
    }

    let body: String
    let kind: Kind
}

/// Synthetic login events: valid ones, invalid ones of every kind the pipeline rejects
/// (at staging or at processing), and exact duplicates (the same body again, which SQS gives
/// a new message id: a login of its own, or a reject of its own).
enum ChaosMessages {
    /// Bodies that `load` + `process_raw_logins` reject, each for a different reason.
    static let invalidBodies: [String] = [
        "not json at all",                                           // invalid_json (staging)
        #"{"user_id": "x", "ip": "1.2.3.4""#,                        // invalid_json (truncated)
        #"{"user_id": "u", "device_id": "\u0000"}"#,                 // unsupported_unicode_escape
        #""\ud800""#,                                                // invalid_unicode_surrogate
        "[1, 2, 3]",                                                 // not_an_object
        "null",                                                      // not_an_object
        #"{"foo": "oops_wrong_msg_type", "bar": "123"}"#,            // missing_user_id
        #"{"user_id": "", "ip": "10.0.0.1", "device_id": "d"}"#,    // missing_user_id (empty)
    ]

    /// `count` messages: about 80% new valid logins, 8% invalid, 12% exact duplicates.
    static func generate(_ count: Int, using random: inout SplitMix64) -> [ChaosMessage] {
        var messages: [ChaosMessage] = []
        messages.reserveCapacity(count)
        for index in 0..<count {
            let roll = random.nextDouble()
            if roll < 0.12, !messages.isEmpty {
                messages.append(messages[Int(random.next() % UInt64(messages.count))])
            } else if roll < 0.20 {
                var body = invalidBodies[Int(random.next() % UInt64(invalidBodies.count))]
                if random.next() % 4 == 0 {
                    // An address that is not one: valid JSON, rejected at processing (invalid_ip).
                    body = validBody(index, using: &random).replacingOccurrences(of: #""ip": ""#, with: #""ip": "999."#)
                }
                messages.append(ChaosMessage(body: body, kind: .invalid))
            } else {
                messages.append(ChaosMessage(body: validBody(index, using: &random), kind: .valid))
            }
        }
        return messages
    }

    static func validBody(_ index: Int, using random: inout SplitMix64) -> String {
        let user = String(format: "%08x-chaos-%06d-%08x", UInt32(truncatingIfNeeded: random.next()), index,
                          UInt32(truncatingIfNeeded: random.next()))
        let ip = (0..<4).map { _ in String(random.next() % 256) }.joined(separator: ".")
        let device = String(format: "%03d-%02d-%04d", random.next() % 1000, random.next() % 100, random.next() % 10000)
        let type = random.next() % 2 == 0 ? "android" : "ios"
        let locale = ["RU", "PH", "US", "FR", "null"][Int(random.next() % 5)]
        let localeJSON = locale == "null" ? "null" : "\"\(locale)\""
        return #"{"user_id": "\#(user)", "app_version": "2.\#(index % 10).\#(index % 7)", "device_type": "\#(type)", "ip": "\#(ip)", "locale": \#(localeJSON), "device_id": "\#(device)"}"#
    }
}

/// The message ids SQS gave to what a scenario sent, by what must become of them.
struct SentLedger: Sendable {
    var valid: Set<String> = []
    var invalid: Set<String> = []
    /// Message id -> body, for pre-staging some as a crashed loader would have.
    var bodies: [String: String] = [:]

    var count: Int { valid.count + invalid.count }

    mutating func record(_ id: String, _ message: ChaosMessage) {
        switch message.kind {
        case .valid: valid.insert(id)
        case .invalid: invalid.insert(id)
        }
        bodies[id] = message.body
    }

    mutating func merge(_ other: SentLedger) {
        valid.formUnion(other.valid)
        invalid.formUnion(other.invalid)
        bodies.merge(other.bodies) { $1 }
    }
}

// MARK: - The queue

/// A fresh queue on the profile's SQS endpoint, with a client that talks to it directly
/// (never through a fault proxy).
struct ChaosQueue {
    let endpoint: String
    let client: SQSClient
    let name: String
    let url: String

    static func create(_ label: String) async throws -> ChaosQueue {
        let endpoint = try ChaosProfile.endpoint()
        let configuration = try SQSConfiguration.resolve(environment: awsEnvironment(endpoint))
        let client = SQSClient(configuration: configuration)
        let name = "lv-chaos-\(label)-\(UInt32.random(in: 0...UInt32.max))"
        do {
            let url = try await client.createQueue(name: name)
            return ChaosQueue(endpoint: endpoint, client: client, name: name, url: url)
        } catch {
            try? await client.shutdown()
            throw error
        }
    }

    static func awsEnvironment(_ endpoint: String) -> [String: String] {
        ["AWS_ACCESS_KEY_ID": "test", "AWS_SECRET_ACCESS_KEY": "test", "AWS_REGION": "us-east-1",
         "AWS_ENDPOINT_URL_SQS": endpoint, "HOME": NSTemporaryDirectory()]
    }

    /// What `loginvault` needs in its environment to reach this endpoint.
    var environment: [String: String?] {
        Self.awsEnvironment(endpoint).mapValues { Optional($0) }
            .merging(["AWS_PROFILE": nil, "AWS_ENDPOINT_URL": nil], uniquingKeysWith: { $1 })
    }

    /// Sends `messages` with SendMessageBatch (10 per call, `parallel` calls at once) and
    /// returns the message ids SQS gave them.
    func send(_ messages: [ChaosMessage], parallel: Int = 4) async throws -> SentLedger {
        let chunks = stride(from: 0, to: messages.count, by: 10).map { Array(messages[$0..<min($0 + 10, messages.count)]) }
        var ledger = SentLedger()
        try await withThrowingTaskGroup(of: SentLedger.self) { group in
            var next = 0
            func add() {
                let chunk = chunks[next]
                next += 1
                group.addTask {
                    let result = try await client.sendMessageBatch(queueURL: url, bodies: chunk.map(\.body))
                    guard result.failed.isEmpty, result.messageIds.count == chunk.count else {
                        throw ChaosFailure("SendMessageBatch failed: \(result.failed)")
                    }
                    var part = SentLedger()
                    for (entry, id) in result.messageIds { part.record(id, chunk[Int(entry)!]) }
                    return part
                }
            }
            while next < min(parallel, chunks.count) { add() }
            while let part = try await group.next() {
                ledger.merge(part)
                if next < chunks.count { add() }
            }
        }
        return ledger
    }

    /// Receives (and does not delete) up to `count` messages, as a consumer that died would:
    /// they come back after `visibilityTimeout` with a higher ApproximateReceiveCount.
    func receiveWithoutDeleting(_ count: Int, visibilityTimeout: Int) async throws -> Int {
        var taken = 0
        var emptyPolls = 0
        while taken < count && emptyPolls < 3 {
            let got = try await client.receiveMessages(queueURL: url, maxMessages: min(10, count - taken),
                                                       waitTimeSeconds: 0, visibilityTimeout: visibilityTimeout)
            taken += got.count
            emptyPolls = got.isEmpty ? emptyPolls + 1 : 0
        }
        return taken
    }

    /// Visible and in-flight messages.
    func depth() async throws -> (visible: Int, inFlight: Int) {
        let attributes = try await client.getQueueAttributes(queueURL: url,
            names: ["ApproximateNumberOfMessages", "ApproximateNumberOfMessagesNotVisible"])
        return (Int(attributes["ApproximateNumberOfMessages"] ?? "0") ?? 0,
                Int(attributes["ApproximateNumberOfMessagesNotVisible"] ?? "0") ?? 0)
    }

    func tearDown() async {
        _ = try? await client.purgeQueue(queueURL: url)
        try? await client.shutdown()
    }
}

// MARK: - A migrated database

enum ChaosDatabase {
    static func migrate(_ connection: PostgresConnection) throws {
        let migrations = Integration.repositoryRoot.appendingPathComponent("sql/migrations")
        try Migrator(connection: connection, migrationsDirectory: migrations).migrate()
    }

    /// Stages messages directly, as a loader that committed them and died before deleting
    /// from SQS would have left them (the later redelivery must be skipped).
    static func preStage(_ ids: [String], ledger: SentLedger, on connection: PostgresConnection) throws {
        for id in ids {
            try connection.query("INSERT INTO raw_logins (message_id, body) VALUES ($1, $2::jsonb) ON CONFLICT DO NOTHING",
                                 [.text(id), .text(ledger.bodies[id]!)])
        }
    }
}

// MARK: - Running loaders

extension LoginVaultExecutable.Running {
    /// Whether the process is still running.
    var isRunning: Bool { process.isRunning }

    /// Waits for the process to end without blocking a thread of Swift's cooperative pool
    /// (the fault proxy's tasks run there); returns its outcome.
    func finish() async -> LoginVaultExecutable.Outcome {
        while process.isRunning { try? await Task.sleep(for: .milliseconds(50)) }
        return wait()
    }

    /// SIGKILL, then reap.
    func kill9() async -> LoginVaultExecutable.Outcome {
        signal(SIGKILL)
        return await finish()
    }

    /// The resident set size of the process, from /proc (nil once it has ended).
    var residentBytes: Int? {
        guard let status = try? String(contentsOfFile: "/proc/\(process.processIdentifier)/status", encoding: .utf8),
              let line = status.split(separator: "\n").first(where: { $0.hasPrefix("VmRSS:") }) else { return nil }
        let kib = line.split(separator: " ").compactMap { Int($0) }.first
        return kib.map { $0 * 1024 }
    }
}

/// Starts loaders, and kills any still running when the scenario ends (even on failure).
final class LoaderPool: @unchecked Sendable {
    private let lock = NSLock()
    private var running: [LoginVaultExecutable.Running] = []

    func start(_ arguments: [String], environment: [String: String?]) throws -> LoginVaultExecutable.Running {
        let loader = try LoginVaultExecutable.start(arguments, environment: environment)
        lock.withLock { running.append(loader) }
        return loader
    }

    /// SIGKILLs and reaps every loader still running.
    func stopAll() async {
        let all = lock.withLock { running }
        for loader in all where loader.isRunning { _ = await loader.kill9() }
    }
}

/// `load` arguments for a queue and a database.
func loadArguments(queue: ChaosQueue, database: String, _ extra: [String]) -> [String] {
    ["load", "--queue", queue.url, "--database", database, "--log-level", "error"] + extra
}

/// Runs `load --drain` until the queue holds nothing, visible or in flight: messages a killed
/// loader (or a dropped answer) left invisible return only after their visibility timeout.
/// Every run must exit 0. Returns the number of runs.
@discardableResult
func drainToTheEnd(queue: ChaosQueue, database: String, pool: LoaderPool, arguments: [String] = [],
                   visibilityTimeout: Int, maxRounds: Int = 40) async throws -> Int {
    for round in 1...maxRounds {
        let loader = try pool.start(loadArguments(queue: queue, database: database,
                                                  ["--wait-time-seconds", "1", "--visibility-timeout", "\(visibilityTimeout)",
                                                   "--max-receives", "1000"] + arguments),
                                    environment: queue.environment)
        let outcome = await loader.finish()
        guard outcome.status == 0 else {
            throw ChaosFailure("final drain run \(round) exited \(outcome.status): \(outcome.stderr)")
        }
        let depth = try await queue.depth()
        if depth.visible + depth.inFlight == 0 { return round }
        if depth.visible == 0 { try await Task.sleep(for: .seconds(min(visibilityTimeout, 5))) }
    }
    throw ChaosFailure("the queue was still not empty after \(maxRounds) drains")
}

// MARK: - Exactness, by message id

/// What the database holds, compared with what was sent, message id by message id.
struct Exactness: Sendable, CustomStringConvertible {
    var sent = 0
    var userRows = 0
    var rejects = 0
    /// Sent ids not found where they belong (valid: user_logins; invalid: rejected_logins).
    var lost = 0
    /// Ids in both tables, rows beyond one per id, and ids that were never sent.
    var duplicated = 0
    /// Valid ids found (only) in rejected_logins, or invalid ones in user_logins: counted in `lost` too.
    var misplaced = 0
    /// Rows still in the staging table.
    var stillStaged = 0
    /// A few offending ids, for the failure message.
    var examples: [String] = []

    var isExact: Bool { lost == 0 && duplicated == 0 && stillStaged == 0 }

    var description: String {
        "sent \(sent), user rows \(userRows), rejects \(rejects), lost \(lost), duplicated \(duplicated), "
            + "misplaced \(misplaced), still staged \(stillStaged)" + (examples.isEmpty ? "" : " e.g. \(examples.prefix(5))")
    }

    static func check(_ ledger: SentLedger, on connection: PostgresConnection) throws -> Exactness {
        let users = try connection.query("SELECT message_id FROM user_logins").rows.map { $0[0].string ?? "" }
        let rejected = try connection.query("SELECT message_id FROM rejected_logins").rows.map { $0[0].string ?? "" }
        var result = Exactness()
        result.sent = ledger.count
        result.userRows = users.count
        result.rejects = rejected.count
        result.stillStaged = try connection.query("SELECT count(*) FROM raw_logins").first?[0].int ?? -1
        let userIds = Set(users), rejectedIds = Set(rejected)
        let missingValid = ledger.valid.subtracting(userIds)
        let missingInvalid = ledger.invalid.subtracting(rejectedIds)
        result.lost = missingValid.count + missingInvalid.count
        result.misplaced = missingValid.intersection(rejectedIds).count + missingInvalid.intersection(userIds).count
        let both = userIds.intersection(rejectedIds)
        let extra = userIds.union(rejectedIds).subtracting(ledger.valid).subtracting(ledger.invalid)
        result.duplicated = (users.count - userIds.count) + (rejected.count - rejectedIds.count) + both.count + extra.count
        result.examples = Array(missingValid.prefix(3)) + Array(missingInvalid.prefix(3)) + Array(both.prefix(3)) + Array(extra.prefix(3))
        return result
    }
}

// MARK: - Figures

/// One scenario's figures: printed, and written for `make chaos`'s table.
struct ChaosFigures: Codable, Sendable {
    var scenario: String
    var profile: String = ChaosProfile.current.rawValue
    var seed: UInt64 = 0
    var sent = 0
    var userRows = 0
    var rejects = 0
    var lost = 0
    var duplicated = 0
    var crashes = 0
    var restarts = 0
    var faults = 0
    var seconds = 0.0
    var notes: [String] = []

    init(scenario: String, seed: UInt64) {
        self.scenario = scenario
        self.seed = seed
    }

    mutating func take(_ exactness: Exactness) {
        sent = exactness.sent
        userRows = exactness.userRows
        rejects = exactness.rejects
        lost = exactness.lost
        duplicated = exactness.duplicated
    }

    /// Prints the figures and, with `LOGINVAULT_CHAOS_FIGURES_DIR`, writes them as JSON.
    func record() {
        print("chaos[\(profile)] \(scenario): sent \(sent), user rows \(userRows), rejects \(rejects), lost \(lost), "
              + "duplicated \(duplicated), crashes \(crashes), restarts \(restarts), faults \(faults), "
              + String(format: "%.0f s", seconds) + ", seed \(seed)" + (notes.isEmpty ? "" : "; " + notes.joined(separator: "; ")))
        guard let dir = ChaosProfile.environment["LOGINVAULT_CHAOS_FIGURES_DIR"], !dir.isEmpty else { return }
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.prettyPrinted, .sortedKeys]
        encoder.keyEncodingStrategy = .convertToSnakeCase
        try? FileManager.default.createDirectory(atPath: dir, withIntermediateDirectories: true)
        try? encoder.encode(self).write(to: URL(fileURLWithPath: dir).appendingPathComponent("\(scenario).json"))
    }
}

/// Seconds since `start`.
func secondsSince(_ start: ContinuousClock.Instant) -> Double {
    let d = ContinuousClock.now - start
    return Double(d.components.seconds) + Double(d.components.attoseconds) / 1e18
}
