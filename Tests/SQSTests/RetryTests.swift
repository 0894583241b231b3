import Foundation
import SQS
import TestSupport
import Testing

/// Retries through a fault-injecting proxy in front of plain moto.
@Suite("Retries", .enabled(if: Integration.enabled(Integration.plainEndpoint), "needs LOGINVAULT_TEST_SQS_ENDPOINT (scripts/with-servers.sh)"))
struct RetryTests {
    static let fast = RetryPolicy(maxAttempts: 4, baseDelay: .milliseconds(10), maxDelay: .milliseconds(50))

    /// The first `k` requests get `fault`, the rest are forwarded.
    static func firstK(_ k: Int, _ fault: FaultProxy.Action) -> @Sendable (Int, String) -> FaultProxy.Action {
        { index, _ in index < k ? fault : .forward }
    }

    static func upstream() throws -> URL { URL(string: try Integration.value(Integration.plainEndpoint))! }

    static let faults: [(String, FaultProxy.Action, Bool)] = [
        ("500 InternalError", FaultProxy.internalError, false),
        ("400 ThrottlingException", FaultProxy.throttlingException, true),
        ("400 RequestThrottled", FaultProxy.requestThrottled, true),
        ("503 XML ServiceUnavailable", FaultProxy.serviceUnavailableXML, false),
        ("connection reset", .reset, false),
    ]

    @Test(arguments: 0..<faults.count)
    func succeedsAfterTransientFaults(_ which: Int) async throws {
        let (name, fault, throttling) = Self.faults[which]
        try await FaultProxy.with(upstream: Self.upstream(), plan: Self.firstK(3, fault)) { proxy, endpoint in
            try await Integration.withClient(Integration.plainConfiguration(endpoint: endpoint), retry: Self.fast) { client in
                let queue = try await client.createQueue(name: Integration.queueName("retry"))
                #expect(queue.contains("/123456789012/"), "\(name)")
                #expect(client.metrics.requests == 4, "\(name): 3 faults then success")
                #expect(client.metrics.retries == 3)
                #expect(client.metrics.throttled == (throttling ? 3 : 0))
                #expect(client.metrics.failedCalls == 0)
            }
            #expect(proxy.actionsSeen == Array(repeating: "CreateQueue", count: 4))
        }
    }

    @Test(arguments: 0..<faults.count)
    func givesUpAfterTheBound(_ which: Int) async throws {
        let (name, fault, throttling) = Self.faults[which]
        try await FaultProxy.with(upstream: Self.upstream(), plan: { _, _ in fault }) { proxy, endpoint in
            try await Integration.withClient(Integration.plainConfiguration(endpoint: endpoint), retry: Self.fast) { client in
                let error = await #expect(throws: SQSError.self, "\(name)") {
                    _ = try await client.createQueue(name: Integration.queueName("doomed"))
                }
                #expect(error?.attempts == 4)
                #expect(error?.isRetryable == true)
                #expect(error?.isThrottling == throttling)
                #expect(error.map { "\($0)" }?.contains("gave up after 4 attempts") == true)
                #expect(client.metrics.failedCalls == 1)
                switch which {
                case 0: #expect(error?.code == "InternalError"); #expect(error?.httpStatus == 500)
                case 1: #expect(error?.code == "ThrottlingException")
                case 2: #expect(error?.code == "RequestThrottled")
                case 3: #expect(error?.code == "ServiceUnavailable"); #expect(error?.requestId == "r-503")
                default: #expect(error?.code == SQSError.LocalCode.transport)
                }
            }
            #expect(proxy.actionsSeen.count == 4, "\(name): exactly maxAttempts requests")
        }
    }

    @Test func nonThrottlingClientErrorIsNotRetried() async throws {
        try await FaultProxy.with(upstream: Self.upstream(), plan: { _, _ in FaultProxy.accessDenied }) { proxy, endpoint in
            try await Integration.withClient(Integration.plainConfiguration(endpoint: endpoint), retry: Self.fast) { client in
                let error = await #expect(throws: SQSError.self) {
                    _ = try await client.getQueueAttributes(queueURL: "http://127.0.0.1:1/123456789012/q")
                }
                #expect(error?.code == "AccessDenied")
                #expect(error?.message == "injected: not allowed")
                #expect(error?.httpStatus == 403)
                #expect(error?.attempts == 1)
            }
            #expect(proxy.actionsSeen.count == 1)
        }
    }

    @Test func timeoutsAreRetriedThenReported() async throws {
        try await FaultProxy.with(upstream: Self.upstream(), plan: { _, _ in .stall }) { proxy, endpoint in
            var configuration = try Integration.plainConfiguration(endpoint: endpoint)
            configuration.requestTimeout = .milliseconds(300)
            let retry = RetryPolicy(maxAttempts: 2, baseDelay: .milliseconds(10), maxDelay: .milliseconds(10))
            try await Integration.withClient(configuration, retry: retry) { client in
                let error = await #expect(throws: SQSError.self) {
                    _ = try await client.getQueueAttributes(queueURL: "http://127.0.0.1:1/123456789012/q")
                }
                #expect(error?.code == SQSError.LocalCode.timeout)
                #expect(error?.attempts == 2)
            }
            #expect(proxy.actionsSeen.count == 2)
        }
    }

    @Test func longPollTimeoutIsWaitPlusGrace() async throws {
        try await FaultProxy.with(upstream: Self.upstream(), plan: { _, _ in .stall }) { _, endpoint in
            var configuration = try Integration.plainConfiguration(endpoint: endpoint)
            configuration.requestTimeout = .milliseconds(100)
            configuration.longPollGrace = .milliseconds(500)
            try await Integration.withClient(configuration, retry: .none) { client in
                let clock = ContinuousClock()
                let started = clock.now
                let error = await #expect(throws: SQSError.self) {
                    _ = try await client.receiveMessages(queueURL: "http://127.0.0.1:1/123456789012/q", waitTimeSeconds: 1)
                }
                let elapsed = clock.now - started
                #expect(error?.code == SQSError.LocalCode.timeout)
                #expect(elapsed >= .milliseconds(1400), "waited the poll plus grace, not the 100 ms request timeout (\(elapsed))")
            }
        }
    }
}
