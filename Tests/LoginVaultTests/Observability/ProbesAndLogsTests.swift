import Foundation
import Logging
import LoginVault
import Synchronization
import TestSupport
import Testing

/// The HTTP listener, the health answers and the JSON log lines, in process, on loopback.
@Suite("Observability: probes and JSON logs")
struct ProbesAndLogsTests {
    struct Failure: Error, CustomStringConvertible {
        let description: String
    }

    @Test func theListenerServesTheRoutesAndNothingElse() async throws {
        let server = try await ObservabilityServer(host: "127.0.0.1", port: 0) { path in
            path == "/metrics" ? .init(status: 200, contentType: "text/plain; version=0.0.4", body: "a_total 1\n")
                : .init(status: 404, contentType: "text/plain", body: "not found\n")
        }
        let base = "http://\(server.boundAddress)"
        #expect(server.boundAddress.hasPrefix("127.0.0.1:") && !server.boundAddress.hasSuffix(":0"))
        let metrics = try await Scrape.get(base + "/metrics")
        #expect(metrics.status == 200)
        #expect(metrics.body == "a_total 1\n")
        #expect(metrics.contentType.hasPrefix("text/plain; version=0.0.4"))
        #expect(try await Scrape.get(base + "/metrics?x=1").status == 200, "a query string does not change the route")
        #expect(try await Scrape.get(base + "/etc/passwd").status == 404)
        await server.stop()
        await #expect(throws: (any Error).self) { _ = try await Scrape.get(base + "/metrics") }
    }

    @Test func livenessFailsOnceNothingMovedForTooLong() async throws {
        let liveness = Liveness()
        let checks = HealthChecks(liveness: liveness, staleAfter: .milliseconds(300), database: { "ok" }, queue: nil)
        let fresh = checks.live()
        #expect(fresh.status == 200)
        #expect(fresh.body.hasPrefix(#"{"status":"ok""#))
        try await Task.sleep(for: .milliseconds(400))
        let stale = checks.live()
        #expect(stale.status == 503)
        let reason = try #require(try JSONSerialization.jsonObject(with: Data(stale.body.utf8)) as? [String: String])
        #expect(reason["status"] == "fail")
        #expect(reason["reason"]?.contains("nothing received or committed") == true)
        liveness.progressed()
        #expect(checks.live().status == 200)
    }

    @Test func readinessSaysWhatIsWrongInOneLine() async throws {
        let liveness = Liveness()
        let ready = HealthChecks(liveness: liveness, staleAfter: .seconds(60), database: { "18 migrations current" },
                                 queue: {})
        let ok = await ready.ready()
        #expect(ok.status == 200)
        #expect(ok.body == #"{"status":"ok","database":"18 migrations current","queue":"reachable"}"#)

        let noDatabase = HealthChecks(liveness: liveness, staleAfter: .seconds(60),
                                      database: { throw Failure(description: "connection refused\n\tIs the server running?") },
                                      queue: {})
        let down = await noDatabase.ready()
        #expect(down.status == 503)
        #expect(!down.body.contains("\n"), "one line")
        #expect(down.body.contains(#""reason":"database: connection refused"#))

        let badQueue = HealthChecks(liveness: liveness, staleAfter: .seconds(60), database: { "ok" },
                                    queue: { throw Failure(description: "AccessDenied: the security token is expired") })
        #expect(await badQueue.ready().body.contains("queue: AccessDenied"))

        // A check that hangs (an unreachable host) answers 503 within the timeout.
        let hanging = HealthChecks(liveness: liveness, staleAfter: .seconds(60), timeout: .milliseconds(200),
                                   database: { try await Task.sleep(for: .seconds(30)); return "late" }, queue: nil)
        let started = ContinuousClock.now
        let late = await hanging.ready()
        #expect(late.status == 503)
        #expect(ContinuousClock.now - started < .seconds(5))
    }

    @Test func jsonLogLinesAreOneObjectEach() throws {
        let lines = Lines()
        var handler = JSONLogHandler(label: "loginvault.test", metadataProvider: nil, write: { lines.append($0) })
        handler.logLevel = .trace
        handler[metadataKey: "component"] = "receiver"
        var logger = Logger(label: "loginvault.test", factory: { _ in handler })
        logger.logLevel = .trace
        logger.info("quote \" backslash \\ newline \n tab \t bell \u{7}", metadata: ["attempt": "2", "ids": ["a", "b"],
                                                                              "nested": ["k": "v"]])
        logger.trace("second")
        let written = lines.all
        #expect(written.count == 2)
        for line in written {
            #expect(line.hasSuffix("}\n"))
            #expect(line.dropLast().contains("\n") == false, "one line each")
        }
        let first = try #require(try JSONSerialization.jsonObject(with: Data(written[0].utf8)) as? [String: Any])
        #expect(first["level"] as? String == "info")
        #expect(first["logger"] as? String == "loginvault.test")
        #expect(first["message"] as? String == "quote \" backslash \\ newline \n tab \t bell \u{7}")
        let timestamp = try #require(first["timestamp"] as? String)
        #expect(timestamp.range(of: #"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z$"#, options: .regularExpression) != nil, "\(timestamp)")
        let metadata = try #require(first["metadata"] as? [String: Any])
        #expect(metadata["component"] as? String == "receiver")
        #expect(metadata["attempt"] as? String == "2")
        #expect(metadata["ids"] as? [String] == ["a", "b"])
        #expect((metadata["nested"] as? [String: String])?["k"] == "v")
        let second = try #require(try JSONSerialization.jsonObject(with: Data(written[1].utf8)) as? [String: Any])
        #expect(second["level"] as? String == "trace")
    }

    @Test func metricsAddressParses() {
        #expect(LoadObservability.Settings(address: "127.0.0.1:9464")?.port == 9464)
        #expect(LoadObservability.Settings(address: "[::1]:9464")?.host == "::1")
        #expect(LoadObservability.Settings(address: "0.0.0.0:0")?.port == 0)
        #expect(LoadObservability.Settings(address: "9464") == nil)
        #expect(LoadObservability.Settings(address: ":9464") == nil)
        #expect(LoadObservability.Settings(address: "host:99999") == nil)
    }
}

/// Lines written by a log handler under test.
final class Lines: Sendable {
    private let lines = Mutex<[String]>([])
    func append(_ line: String) { lines.withLock { $0.append(line) } }
    var all: [String] { lines.withLock { $0 } }
}
