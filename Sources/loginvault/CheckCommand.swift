import ArgumentParser
import Foundation
import Logging
import LoginVault
import Postgres
import SQS

/// `loginvault check`: the pre-flight of `load`, alone, for every part of the configuration.
struct CheckCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "check",
        abstract: "Check that a load would work: AWS credentials, region, endpoint, queue, database, role, migrations.",
        discussion: """
            One line per part, each saying what was found and, when something is wrong, \
            how to fix it. Secrets are never printed: for credentials, only where they \
            came from. Nothing is received, staged or changed.

            Exit codes: 0 a load would work (warnings allowed); 1 something must be fixed first; 64 bad usage.

            Examples:
              loginvault check --queue login-queue
              loginvault check --queue login-queue --profile prod --database 'host=db.internal dbname=app user=loader'
              loginvault check                     # the database only
            """
    )

    @Option(help: ArgumentHelp("The queue, by URL or by name (without it, only the database is checked).", valueName: "url-or-name"))
    var queue: String?

    @Option(help: ArgumentHelp("The SQS endpoint (default: AWS_ENDPOINT_URL_SQS, AWS_ENDPOINT_URL, else AWS's regional endpoint).", valueName: "url"))
    var endpointURL: String?

    @Option(help: "The AWS region (default: AWS_REGION, AWS_DEFAULT_REGION, the profile's region).")
    var region: String?

    @Option(help: "The AWS profile in ~/.aws/credentials and ~/.aws/config (default: AWS_PROFILE, else default).")
    var profile: String?

    @Option(parsing: .unconditional, help: "Give up on an endpoint that does not answer after this many seconds. (default: 10)")
    var timeout = 10

    @Flag(name: .customLong("no-process"), help: "Check only what staging needs (as `load --no-process` would).")
    var noProcess = false

    @OptionGroup var database: DatabaseOptions
    @OptionGroup var location: MigrationsLocationOptions
    @OptionGroup var logging: LoggingOptions

    func validate() throws {
        if timeout < 1 { throw ValidationError("--timeout must be at least 1 (got \(timeout))") }
    }

    func run() async throws {
        _ = logging.makeLogger("loginvault.check")
        var results: [CheckResult] = []
        if let queue {
            results += await checkQueue(queue)
        }
        results += checkDatabase()
        for result in results {
            let mark = switch result.status { case .ok: "ok  "; case .warning: "warn"; case .failed: "FAIL" }
            print("\(mark)  \(result.line)")
        }
        if results.firstFailure != nil { throw ExitCodes.failure }
    }

    private func checkQueue(_ queue: String) async -> [CheckResult] {
        let configuration: SQSConfiguration
        do {
            configuration = try await SQSConfiguration.resolve(
                endpointOverride: endpointURL, regionOverride: region, profile: profile,
                logger: Logger(label: "loginvault.credentials", level: logging.logLevel))
        } catch {
            let named = profile.map { " (with --profile \"\($0)\")" } ?? ""
            return [CheckResult("aws", .failed, "\(error)\(named)")]
        }
        var results = [
            CheckResult("credentials", .ok, "from \(configuration.credentialsSource)"),
            CheckResult("region", .ok, "\(configuration.region) (from \(configuration.regionSource))"),
            CheckResult("endpoint", .ok, configuration.endpoint.absoluteString),
        ]
        var settings = configuration
        settings.connectTimeout = min(settings.connectTimeout, .seconds(timeout))
        let client = SQSClient(configuration: settings, retry: RetryPolicy(maxAttempts: 2, baseDelay: .milliseconds(200), maxDelay: .seconds(1)),
                               logger: Logger(label: "loginvault.sqs", level: logging.logLevel))
        let (result, _) = await QueueReadiness.check(client: client, queue: queue, timeout: .seconds(timeout))
        try? await client.shutdown()
        results.append(result)
        return results
    }

    private func checkDatabase() -> [CheckResult] {
        do {
            let connection = try database.connect()
            defer { connection.close() }
            let readiness = try DatabaseReadiness.inspect(connection, processing: !noProcess)
            let expected = (try? location.directory()).flatMap { try? MigrationDirectory.load($0) }?.last?.version
            return readiness.results(expectedVersion: expected)
        } catch {
            return [CheckResult("database", .failed, describe(error),
                                fix: "check --database, DATABASE_URL or the PG* variables, and that the server is up")]
        }
    }
}
