import Foundation
import LoginVault
import Logging
import Postgres
import SQS
import TestSupport

/// A migrated scratch database and a fresh moto queue for one `load` test,
/// and the environment that points `loginvault` at both.
struct LoadFixture {
    let database: ScratchDatabase
    let queueName: String
    let queueURL: String
    let client: SQSClient
    let endpoint: String

    /// `queueAttributes` with `FifoQueue` makes a FIFO queue (its name ends in `.fifo`).
    static func make(_ label: String, queueAttributes: [String: String] = [:]) async throws -> LoadFixture {
        let endpoint = try Integration.variable("LOGINVAULT_TEST_SQS_ENDPOINT")
        let database = try ScratchDatabase.create(label)
        let connection = try database.connect()
        let migrations = Integration.repositoryRoot.appendingPathComponent("sql/migrations")
        try Migrator(connection: connection, migrationsDirectory: migrations).migrate()
        let configuration = try await SQSConfiguration.resolve(environment: Self.awsEnvironment(endpoint))
        let client = SQSClient(configuration: configuration)
        let queueName = "lv-\(label)-\(UInt32.random(in: 0...UInt32.max))" + (queueAttributes["FifoQueue"] == "true" ? ".fifo" : "")
        let queueURL = try await client.createQueue(name: queueName, attributes: queueAttributes)
        return LoadFixture(database: database, queueName: queueName, queueURL: queueURL, client: client, endpoint: endpoint)
    }

    static func awsEnvironment(_ endpoint: String) -> [String: String] {
        ["AWS_ACCESS_KEY_ID": "testing", "AWS_SECRET_ACCESS_KEY": "testing", "AWS_REGION": "us-east-1",
         "AWS_ENDPOINT_URL_SQS": endpoint, "HOME": NSTemporaryDirectory()]
    }

    /// What `loginvault` needs in its environment to reach moto.
    var environment: [String: String?] {
        Self.awsEnvironment(endpoint).mapValues { Optional($0) }
            .merging(["AWS_PROFILE": nil, "AWS_ENDPOINT_URL": nil], uniquingKeysWith: { $1 })
    }

    /// `loginvault load --queue <this queue> --database <this db> ARGS`.
    func load(_ arguments: [String] = []) throws -> LoginVaultExecutable.Outcome {
        try LoginVaultExecutable.run(loadArguments(arguments), environment: environment)
    }

    func loadArguments(_ arguments: [String]) -> [String] {
        ["load", "--queue", queueName, "--database", database.connectionString, "--log-level", "warning"] + arguments
    }

    /// Sends in batches of 10; to a FIFO queue, in three message groups taking turns by batch.
    func send(_ bodies: [String]) async throws {
        for start in stride(from: 0, to: bodies.count, by: 10) {
            let group = queueName.hasSuffix(".fifo") ? "group-\(start / 10 % 3)" : nil
            let result = try await client.sendMessageBatch(queueURL: queueURL, bodies: Array(bodies[start..<min(start + 10, bodies.count)]),
                                                           messageGroupId: group)
            precondition(result.failed.isEmpty, "send failed: \(result.failed)")
        }
    }

    /// Messages still in the queue: visible plus in flight.
    func messagesLeft() async throws -> Int {
        let attributes = try await client.getQueueAttributes(queueURL: queueURL,
            names: ["ApproximateNumberOfMessages", "ApproximateNumberOfMessagesNotVisible"])
        return (Int(attributes["ApproximateNumberOfMessages"] ?? "0") ?? 0)
            + (Int(attributes["ApproximateNumberOfMessagesNotVisible"] ?? "0") ?? 0)
    }

    /// Messages received by someone and neither deleted nor visible again yet.
    func messagesInvisible() async throws -> Int {
        let attributes = try await client.getQueueAttributes(queueURL: queueURL, names: ["ApproximateNumberOfMessagesNotVisible"])
        return Int(attributes["ApproximateNumberOfMessagesNotVisible"] ?? "0") ?? 0
    }

    func count(_ sql: String, _ parameters: [PostgresValue] = []) throws -> Int {
        try database.connect().query(sql, parameters).first?[0].int ?? -1
    }

    func tearDown() async {
        _ = try? await client.purgeQueue(queueURL: queueURL)
        try? await client.shutdown()
        database.drop()
    }

    /// Runs `body` with a fixture, always cleaning up.
    static func with(_ label: String, queueAttributes: [String: String] = [:], _ body: (LoadFixture) async throws -> Void) async throws {
        let fixture = try await make(label, queueAttributes: queueAttributes)
        do {
            try await body(fixture)
        } catch {
            await fixture.tearDown()
            throw error
        }
        await fixture.tearDown()
    }

    /// The sample's 100 messages, as the producer sends them: one JSON object each.
    static var sampleBodies: [String] {
        get throws {
            let url = Integration.repositoryRoot.appendingPathComponent("examples/login-queue-sample.json")
            let array = try JSONSerialization.jsonObject(with: Data(contentsOf: url)) as! [Any]
            return try array.map { String(decoding: try JSONSerialization.data(withJSONObject: $0, options: [.sortedKeys]), as: UTF8.self) }
        }
    }

    static var samplePath: String {
        Integration.repositoryRoot.appendingPathComponent("examples/login-queue-sample.json").path
    }
}
