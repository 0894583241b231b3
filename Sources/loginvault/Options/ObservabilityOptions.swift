import ArgumentParser
import CoreMetrics
import Foundation
import Logging
import LoginVault
import SQS

/// `--metrics-address` and friends: the Prometheus metrics and health probes of `load`.
struct ObservabilityOptions: ParsableArguments {
    @Option(help: ArgumentHelp(
        "Serve GET /metrics (Prometheus), /healthz and /readyz on this address, e.g. 127.0.0.1:9464 (default: off).",
        discussion: "Default: LOGINVAULT_METRICS_ADDRESS when set. Use 0.0.0.0:9464 in a container, where the platform reaches the probes from outside.",
        valueName: "host:port"))
    var metricsAddress: String?

    @Option(help: ArgumentHelp("With --metrics-address: poll the queue's approximate counts and the staging backlog every this many seconds.",
                               valueName: "seconds"))
    var metricsInterval = 15

    @Option(help: ArgumentHelp("With --metrics-address: /healthz fails once nothing was received or committed, and the queue was not seen empty, for this many seconds.",
                               valueName: "seconds"))
    var healthStaleAfter = 300

    func validate() throws {
        if let address, LoadObservability.Settings(address: address) == nil {
            throw ValidationError("--metrics-address (or LOGINVAULT_METRICS_ADDRESS) must be HOST:PORT, e.g. 127.0.0.1:9464, not '\(address)'")
        }
        if metricsInterval < 1 { throw ValidationError("--metrics-interval must be at least 1 second") }
        if healthStaleAfter < 1 { throw ValidationError("--health-stale-after must be at least 1 second") }
    }

    /// `--metrics-address`, else `LOGINVAULT_METRICS_ADDRESS`; nil: off.
    var address: String? {
        if let metricsAddress { return metricsAddress }
        guard let value = ProcessInfo.processInfo.environment["LOGINVAULT_METRICS_ADDRESS"], !value.isEmpty else { return nil }
        return value
    }

    /// The instruments, when metrics are on. Also makes them swift-metrics' process-wide backend,
    /// so any code can count into the same registry by name (e.g. `loginvault_credential_refreshes_total`).
    func makeMetrics() -> (export: PrometheusExport, metrics: LoaderMetrics)? {
        guard address != nil else { return nil }
        let export = PrometheusExport()
        MetricsSystem.bootstrap(export)
        return (export, LoaderMetrics(factory: export))
    }

    /// Starts the listener and the poller.
    func start(_ instruments: (export: PrometheusExport, metrics: LoaderMetrics), connectionString: String,
               queue: (client: SQSClient, queue: String)?, logger: Logger) async throws -> LoadObservability {
        guard let address, var settings = LoadObservability.Settings(address: address) else {
            throw ValidationError("--metrics-address must be HOST:PORT")
        }
        settings.interval = .seconds(metricsInterval)
        settings.staleAfter = .seconds(healthStaleAfter)
        let migrations = try? MigrationDirectory.load(MigrationDirectory.locate(explicit: nil))
        let database = ProbeDatabase(connectionString: connectionString, migrations: migrations)
        do {
            return try await LoadObservability(settings: settings, export: instruments.export, metrics: instruments.metrics,
                                               database: database, queue: queue, logger: logger)
        } catch {
            await database.shutdown()
            throw ListenError(description: "cannot listen on \(address) for --metrics-address: \(error)")
        }
    }
}

/// The metrics listener could not start (address in use, not an address of this host).
struct ListenError: Error, CustomStringConvertible {
    let description: String
}
