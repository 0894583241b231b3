import Foundation
import LoginVault
import Postgres
import TestSupport
import Testing

/// Issue 6, security: secrets stay secret. The AWS secret key, the database
/// passwords and the PII keys (mask key, data key; hex, base64) never appear in `ps`
/// output while `load` runs, in loginvault's own output at `--log-level trace`, in
/// `pg_stat_activity`, or in the server log of a cluster with `log_statement = 'all'`.
/// Issue 16: the same holds for both log formats (`--log-format text` and `json`), and no
/// message body (the sample's PII) appears in any of loginvault's lines either.
@Suite("Security: secrets stay secret", .enabled(if: Integration.postgres && Integration.sqs), .serialized)
struct SecretsTests {
    /// Everything the server logs: every statement, its parameters, connections, durations.
    static let verboseLogging = """
        log_statement = 'all'
        log_min_duration_statement = 0
        log_parameter_max_length = -1
        log_parameter_max_length_on_error = -1
        log_connections = on
        log_disconnections = on
        log_min_messages = info
        log_line_prefix = '%m [%p] %u@%d %a '
        """

    static func randomSecret(_ prefix: String) -> String {
        prefix + (0..<32).map { _ in String("abcdefghijkmnopqrstuvwxyz23456789".randomElement()!) }.joined()
    }

    @Test(arguments: ["text", "json"])
    func noSecretInPsLogsPgStatActivityOrTheServerLog(logFormat: String) async throws {
        let cluster = try PrivateCluster(settings: Self.verboseLogging)
        defer { cluster.destroy() }
        try await LoadFixture.with("secrets") { fixture in
            let superuserPassword = try String(contentsOfFile: cluster.passfile, encoding: .utf8)
                .split(separator: ":").last.map { $0.trimmingCharacters(in: .whitespacesAndNewlines) } ?? ""
            let loaderPassword = Self.randomSecret("pw-")
            let awsSecret = Self.randomSecret("aws-")
            let admin = try PostgresConnection(cluster.connectionString())
            try admin.runScript("CREATE DATABASE lv_secrets")
            let owner = cluster.connectionString("lv_secrets")

            // migrate, as the schema owner, as an operator would run it: everything it says, at trace level.
            let migrate = try LoginVaultExecutable.run(["migrate", "--database", owner, "--log-level", "trace",
                                                        "--log-format", logFormat])
            #expect(migrate.status == 0, "\(migrate.stderr)")

            // A login role for the loader. The test's own CREATE ROLE ... PASSWORD must not
            // reach the log either: a superuser session can switch statement logging off.
            let setup = try PostgresConnection(owner)
            try setup.runScript("SET log_statement = 'none'; SET log_min_duration_statement = -1")
            let createRole = try setup.query("SELECT format('CREATE ROLE lv_loader_login LOGIN PASSWORD %L IN ROLE loginvault_loader', $1::text)",
                                             [.text(loaderPassword)]).first?[0].string ?? ""
            try setup.runScript(createRole)
            let keys = try setup.query("""
                SELECT encode(key_bytes, 'hex'), encode(key_bytes, 'base64')
                  FROM (SELECT key_bytes FROM loginvault.keys UNION ALL SELECT key_bytes FROM loginvault.mask_keys WHERE key_bytes IS NOT NULL) k
                """).rows.flatMap { [$0[0].string!, $0[1].string!] }
            setup.close()
            #expect(keys.count >= 4, "a mask key and a data key, hex and base64")

            try await fixture.send(try LoadFixture.sampleBodies)
            let loaderDatabase = "host=127.0.0.1 port=\(cluster.port) dbname=lv_secrets user=lv_loader_login"
            var environment = fixture.environment
            environment["AWS_SECRET_ACCESS_KEY"] = awsSecret
            environment["AWS_ACCESS_KEY_ID"] = "AKIALOGINVAULTTEST01"
            environment["PGPASSWORD"] = loaderPassword  // the environment: not visible in ps

            // Hold the loader at two moments, so the snapshots surely see it: staging
            // (raw_logins locked) and processing, when the keys are in use (user_logins locked).
            let stagingLock = try PostgresConnection(owner), processingLock = try PostgresConnection(owner)
            try stagingLock.runScript("BEGIN; LOCK TABLE raw_logins IN ACCESS EXCLUSIVE MODE")
            try processingLock.runScript("BEGIN; LOCK TABLE user_logins IN ACCESS EXCLUSIVE MODE")
            let loader = try LoginVaultExecutable.start(
                ["load", "--queue", fixture.queueName, "--database", loaderDatabase, "--log-level", "trace",
                 "--log-format", logFormat, "--wait-time-seconds", "1", "--receivers", "2"],
                environment: environment)

            let watcher = try PostgresConnection(cluster.connectionString("lv_secrets"))
            var psSnapshots: [String] = []
            var activity: [String] = []
            var sawLoaderInPs = false
            func snapshot() throws {
                for row in try watcher.query("""
                    SELECT usename, coalesce(application_name, ''), coalesce(query, ''), coalesce(client_addr::text, '')
                      FROM pg_stat_activity WHERE pid <> pg_backend_pid()
                    """).rows {
                    activity.append(row.cells.compactMap(\.string).joined(separator: " | "))
                }
                let ps = try Tool.run(["ps", "-eww", "-o", "pid=,args="])
                psSnapshots.append(ps.stdout)
                if ps.stdout.contains("\(loader.process.processIdentifier) ") && ps.stdout.contains("load --queue") {
                    sawLoaderInPs = true
                }
            }
            /// Snapshots until the loader waits for a lock while running `statement`.
            func waitForLoader(_ statement: String) async throws -> Bool {
                let deadline = Date().addingTimeInterval(60)
                while Date() < deadline, loader.process.isRunning {
                    try snapshot()
                    let waiting = try watcher.query("""
                        SELECT count(*) FROM pg_stat_activity
                         WHERE usename = 'lv_loader_login' AND wait_event_type = 'Lock' AND query LIKE '%' || $1 || '%'
                        """, [.text(statement)]).first?[0].int ?? 0
                    if waiting > 0 { try snapshot(); return true }
                    try await Task.sleep(for: .milliseconds(25))
                }
                return false
            }
            let heldWhileStaging = try await waitForLoader("stage_incoming_logins")
            try stagingLock.runScript("COMMIT")
            let heldWhileProcessing = try await waitForLoader("process_raw_logins")
            try processingLock.runScript("COMMIT")
            while loader.process.isRunning {
                try snapshot()
                try await Task.sleep(for: .milliseconds(25))
            }
            let outcome = loader.wait()
            watcher.close()
            #expect(outcome.status == 0, "\(outcome.stderr.suffix(2000))")
            #expect(heldWhileStaging, "(control: pg_stat_activity showed the loader staging)")
            #expect(heldWhileProcessing, "(control: pg_stat_activity showed the loader processing)")
            #expect(sawLoaderInPs, "(control: ps showed the running loader)")
            #expect(outcome.stderr.contains("trace") || outcome.stderr.contains("debug"), "(control: trace logging is on)")

            let admin2 = try PostgresConnection(owner)
            #expect(try admin2.query("SELECT count(*) FROM user_logins").first?[0].int == 99, "the load worked as the loader")
            admin2.close()
            admin.close()

            let serverLog = try String(contentsOf: try cluster.logFile, encoding: .utf8)
            #expect(serverLog.contains("statement: "), "(control: the server logged statements)")
            #expect(serverLog.contains("process_raw_logins"), "(control: the server logged the processing)")
            #expect(serverLog.contains("lv_loader_login"), "(control: the server logged the loader's connection)")

            let secrets: [(String, String)] = [("the AWS secret key", awsSecret), ("the loader's database password", loaderPassword),
                                               ("the superuser's database password", superuserPassword)]
                + keys.map { ("a PII key", $0) }
            let places: [(String, String)] = [
                ("ps output", psSnapshots.joined(separator: "\n")),
                ("pg_stat_activity", activity.joined(separator: "\n")),
                ("loginvault load output (trace)", outcome.stdout + outcome.stderr),
                ("loginvault migrate output (trace)", migrate.stdout + migrate.stderr),
                ("the server log (log_statement = 'all')", serverLog),
            ]
            for (place, text) in places {
                #expect(!text.isEmpty, "(control: \(place) was captured)")
                let lowered = text.lowercased()
                for (what, secret) in secrets where lowered.contains(secret.lowercased()) {
                    Issue.record("\(what) appears in \(place)")
                }
            }

            // Not a secret but PII: even with every statement logged, the loader's COPY path
            // keeps the sample's ips and device ids out of the server log.
            let pii = SamplePII.found(try SamplePII.values, in: serverLog)
            #expect(pii.isEmpty, "sample PII in the server log: \(pii.prefix(5))")
            // Nor does a body reach loginvault's own lines, at trace level, in either format.
            let ownLines = outcome.stdout + outcome.stderr + migrate.stdout + migrate.stderr
            let logged = SamplePII.found(try SamplePII.values, in: ownLines)
            #expect(logged.isEmpty, "sample PII in loginvault's output (\(logFormat)): \(logged.prefix(5))")
            if logFormat == "json" {
                // Every log line is one JSON object; the summary goes to stdout (text) as always.
                let lines = (outcome.stderr + migrate.stderr).split(separator: "\n")
                #expect(lines.count > 10, "(control: trace logging wrote lines)")
                for line in lines {
                    let object = try? JSONSerialization.jsonObject(with: Data(line.utf8)) as? [String: Any]
                    #expect(object?["message"] != nil && object?["level"] != nil, "not a JSON log line: \(line.prefix(200))")
                }
                #expect(lines.contains { $0.contains(#""level":"trace""#) || $0.contains(#""level":"debug""#) },
                        "(control: trace logging is on)")
            }
            SecurityFigures.record(test: "\(#function) \(logFormat)", kind: .security, checks: secrets.count * places.count + 2,
                                   what: "\(secrets.count) secrets absent from \(places.count) places, and no sample PII in the server log")
        }
    }

    /// Temporary credentials and the tokens that fetch them (container authorization token,
    /// web identity token) never reach standard output or error, at the most verbose log level,
    /// on success and on failure. (They are read from the environment and files, never argv.)
    @Test func credentialChainSecretsNeverInOutputAtAnyLogLevel() async throws {
        try await LoadFixture.with("chain-secrets") { fixture in
            try await fixture.send(Array(try LoadFixture.sampleBodies.prefix(10)))
            let authorizationToken = Self.randomSecret("authz-")
            let webIdentityToken = Self.randomSecret("eyJwebid-")
            let tokenFile = FileManager.default.temporaryDirectory.appendingPathComponent("lv-webid-\(UUID().uuidString)")
            try webIdentityToken.write(to: tokenFile, atomically: true, encoding: .utf8)
            defer { try? FileManager.default.removeItem(at: tokenFile) }
            var base = fixture.environment
            for name in ["AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY"] { base[name] = .some(nil) }
            base["AWS_EC2_METADATA_DISABLED"] = "true"
            let arguments = Array(fixture.loadArguments([]).dropLast(2)) + ["--log-level", "trace"]
            #expect(!arguments.joined(separator: " ").contains(authorizationToken))

            let container = FakeContainerCredentials(token: authorizationToken, lifetime: .seconds(3600))
            var outputs: [(String, LoginVaultExecutable.Outcome)] = []
            try await container.run { url in
                var environment = base
                environment["AWS_CONTAINER_CREDENTIALS_FULL_URI"] = url.absoluteString + "/creds"
                environment["AWS_CONTAINER_AUTHORIZATION_TOKEN"] = authorizationToken
                let loaded = try await LoginVaultExecutable.runDetached(arguments, environment: environment)
                #expect(loaded.status == 0, "\(loaded.stderr)")
                #expect(loaded.stderr.contains("AWS credentials from container credentials endpoint"))
                outputs.append(("container, success", loaded))
                environment["AWS_CONTAINER_AUTHORIZATION_TOKEN"] = authorizationToken + "-wrong"
                let refused = try await LoginVaultExecutable.runDetached(arguments, environment: environment)
                #expect(refused.status != 0)
                #expect(refused.stderr.contains("HTTP 403"), "\(refused.stderr)")
                outputs.append(("container, refused", refused))
            }
            var environment = base
            environment["AWS_WEB_IDENTITY_TOKEN_FILE"] = tokenFile.path
            environment["AWS_ROLE_ARN"] = "arn:aws:iam::123456789012:role/secrets-test"
            environment["AWS_ENDPOINT_URL_STS"] = fixture.endpoint
            let web = try await LoginVaultExecutable.runDetached(arguments, environment: environment)
            #expect(web.status == 0, "\(web.stderr)")
            outputs.append(("web identity", web))
            for (what, outcome) in outputs {
                let text = outcome.stdout + outcome.stderr
                for secret in [authorizationToken, webIdentityToken, "fake-secret-", "fake-session-token-", "Signature=", "X-Amz-Security-Token"] {
                    #expect(!text.contains(secret), "\(what): \(secret) appears in the output")
                }
            }
        }
    }
}
