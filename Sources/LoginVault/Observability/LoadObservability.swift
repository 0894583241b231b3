import Logging
import SQS
import Synchronization

/// What `load --metrics-address` runs next to the loader: the HTTP listener
/// (`/metrics`, `/healthz`, `/readyz`) and a poller that reads, every `interval`, the
/// queue's approximate counts (`GetQueueAttributes`) and the staging backlog (SQL).
public final class LoadObservability: Sendable {
    /// Where and how often.
    public struct Settings: Sendable {
        /// `HOST:PORT` to listen on (port 0: any free port; see `boundAddress`).
        public var host: String
        public var port: Int
        /// How often the queue and the backlog are polled.
        public var interval: Duration = .seconds(15)
        /// `/healthz` fails once nothing moved for this long.
        public var staleAfter: Duration = .seconds(300)

        public init(host: String, port: Int) {
            self.host = host
            self.port = port
        }

        /// Parses `HOST:PORT` (`[v6]:PORT` for an IPv6 address).
        public init?(address: String) {
            guard let colon = address.lastIndex(of: ":"), let port = Int(address[address.index(after: colon)...]),
                  (0...65535).contains(port) else { return nil }
            var host = String(address[..<colon])
            if host.hasPrefix("["), host.hasSuffix("]") { host = String(host.dropFirst().dropLast()) }
            guard !host.isEmpty else { return nil }
            self.init(host: host, port: port)
        }
    }

    public let metrics: LoaderMetrics
    private let server: ObservabilityServer
    private let poller: Task<Void, Never>
    private let database: ProbeDatabase
    private let pending = PendingReason()

    /// The address the listener is bound to.
    public var boundAddress: String { server.boundAddress }

    /// `/readyz` answers 503 with `reason` (and checks nothing) until this is called with nil:
    /// what the loader is waiting for before it can start (e.g. AWS credentials).
    public func notReady(_ reason: String?) {
        pending.set(reason)
    }

    /// Starts listening and polling. `queue`: the SQS client and the queue's name or URL (nil
    /// when loading a file); a name is resolved to its URL at the first check that needs it.
    public init(settings: Settings, export: PrometheusExport, metrics: LoaderMetrics, database: ProbeDatabase,
                queue: (client: SQSClient, queue: String)?, logger: Logger) async throws {
        self.metrics = metrics
        self.database = database
        let located = queue.map { QueueLocation(client: $0.client, queue: $0.queue) }
        var queueCheck: (@Sendable () async throws -> Void)?
        if let located {
            queueCheck = { _ = try await located.client.getQueueAttributes(queueURL: try await located.url(), names: ["QueueArn"]) }
        }
        let pending = self.pending
        let checks = HealthChecks(liveness: metrics.liveness, staleAfter: settings.staleAfter,
                                  database: { try await database.checkReady() }, queue: queueCheck,
                                  pending: { pending.get() })
        server = try await ObservabilityServer(host: settings.host, port: settings.port) { path in
            switch path {
            case "/metrics":
                metrics.refresh()
                return .init(status: 200, contentType: "text/plain; version=0.0.4; charset=utf-8", body: export.exposition())
            case "/healthz":
                let answer = checks.live()
                return .init(status: answer.status, contentType: "application/json", body: answer.body + "\n")
            case "/readyz":
                let answer = await checks.ready()
                return .init(status: answer.status, contentType: "application/json", body: answer.body + "\n")
            default:
                return .init(status: 404, contentType: "text/plain; charset=utf-8", body: "not found: try /metrics, /healthz or /readyz\n")
            }
        }
        poller = Task {
            while !Task.isCancelled {
                if let located, pending.get() == nil {
                    do {
                        let attributes = try await located.client.getQueueAttributes(
                            queueURL: try await located.url(), names: ["ApproximateNumberOfMessages", "ApproximateNumberOfMessagesNotVisible"])
                        metrics.queueDepth(visible: Int(attributes["ApproximateNumberOfMessages"] ?? "") ?? 0,
                                           notVisible: Int(attributes["ApproximateNumberOfMessagesNotVisible"] ?? "") ?? 0)
                    } catch {
                        logger.debug("metrics: GetQueueAttributes failed: \(error)")
                    }
                }
                do {
                    let backlog = try await database.stagingBacklog()
                    metrics.stagingBacklog(rows: backlog.rows, oldestAgeSeconds: backlog.oldestAgeSeconds)
                } catch {
                    logger.debug("metrics: reading the staging backlog failed: \(error)")
                }
                try? await Task.sleep(for: settings.interval)
            }
        }
        logger.info("metrics on http://\(server.boundAddress)/metrics, probes /healthz and /readyz")
    }

    /// Stops the poller and the listener, and closes the probe session.
    public func stop() async {
        poller.cancel()
        await poller.value
        await server.stop()
        await database.shutdown()
    }
}

/// A queue by name or URL, with its URL looked up (`GetQueueUrl`) once, when first needed.
final class QueueLocation: Sendable {
    let client: SQSClient
    let queue: String
    private let resolved = Mutex<String?>(nil)

    init(client: SQSClient, queue: String) {
        self.client = client
        self.queue = queue
    }

    func url() async throws -> String {
        if let url = resolved.withLock({ $0 }) { return url }
        let url = try await client.queueURL(for: queue)
        resolved.withLock { $0 = url }
        return url
    }
}

/// What `/readyz` says while the loader waits to start (nil: nothing).
final class PendingReason: Sendable {
    private let reason = Mutex<String?>(nil)

    func set(_ value: String?) { reason.withLock { $0 = value } }

    func get() -> String? { reason.withLock { $0 } }
}
