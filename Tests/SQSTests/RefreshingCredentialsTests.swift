import Foundation
import Logging
import NIOConcurrencyHelpers
import SQS
import SigV4
import Testing

/// The cache and refresh rules of `RefreshingCredentialsProvider`, with a scripted fetch.
@Suite("Refreshing credentials")
struct RefreshingCredentialsTests {
    /// A clock the test moves by hand, so the refresh rules are checked without racing real time.
    final class TestClock: Sendable {
        private let value = NIOLockedValueBox(Date(timeIntervalSince1970: 1_800_000_000))
        var now: Date { value.withLockedValue { $0 } }
        func advance(_ seconds: Double) { value.withLockedValue { $0 = $0.addingTimeInterval(seconds) } }
    }

    /// Waits (in real time, at most 10 s) until `condition` holds.
    static func eventually(_ condition: () -> Bool) async throws -> Bool {
        for _ in 0..<1000 where !condition() { try await Task.sleep(for: .milliseconds(10)) }
        return condition()
    }

    /// A fetch that counts its calls, waits `delay`, and answers what `answer` says for call n (0-based).
    final class ScriptedFetch: Sendable {
        let calls = NIOLockedValueBox(0)
        let delay: Duration
        let delayFirst: Bool
        let answer: @Sendable (Int) throws -> ExpiringCredentials

        init(delay: Duration = .zero, delayFirst: Bool = true, answer: @escaping @Sendable (Int) throws -> ExpiringCredentials) {
            self.delay = delay
            self.delayFirst = delayFirst
            self.answer = answer
        }

        var count: Int { calls.withLockedValue { $0 } }

        func fetch() async throws -> ExpiringCredentials {
            let n = calls.withLockedValue { c in defer { c += 1 }; return c }
            if delay > .zero, n > 0 || delayFirst { try await Task.sleep(for: delay) }
            return try answer(n)
        }

        static func credentials(_ n: Int, validFor seconds: Double, from now: Date = Date()) -> ExpiringCredentials {
            ExpiringCredentials(AWSCredentials(accessKeyId: "ASIA\(n)", secretAccessKey: "secret-\(n)", sessionToken: "token-\(n)"),
                                expiration: now.addingTimeInterval(seconds))
        }
    }

    @Test func concurrentFirstCallsShareOneFetch() async throws {
        let script = ScriptedFetch(delay: .milliseconds(200)) { ScriptedFetch.credentials($0, validFor: 3600) }
        let provider = RefreshingCredentialsProvider(source: "test", fetch: { try await script.fetch() })
        let keys = try await withThrowingTaskGroup(of: String.self) { group in
            for _ in 0..<20 { group.addTask { try await provider.credentials().accessKeyId } }
            return try await group.reduce(into: [String]()) { $0.append($1) }
        }
        #expect(Set(keys) == ["ASIA0"])
        #expect(script.count == 1)
        _ = try await provider.credentials()
        #expect(script.count == 1, "cached until the refresh time")
    }

    @Test func refreshesAheadOfExpiryWhileRequestsGoOnWithTheCurrentOnes() async throws {
        // Valid 8 s: the refresh starts 2-3 s before expiry (5-6 s in); they are used until 7.2 s.
        let clock = TestClock()
        let gate = NIOLockedValueBox(false)
        let script = ScriptedFetch { ScriptedFetch.credentials($0, validFor: 8, from: clock.now) }
        let provider = RefreshingCredentialsProvider(source: "test", now: { clock.now }) {
            if script.count > 0 { while !gate.withLockedValue({ $0 }) { try await Task.sleep(for: .milliseconds(5)) } }
            return try await script.fetch()
        }
        #expect(try await provider.credentials().accessKeyId == "ASIA0")
        clock.advance(4.9)
        #expect(try await provider.credentials().accessKeyId == "ASIA0")
        #expect(script.count == 1, "not refreshed before its time")
        clock.advance(1.2)  // 6.1 s: past the refresh time, still valid
        // The refresh is held at the gate: answers given now did not wait for it.
        #expect(try await provider.credentials().accessKeyId == "ASIA0", "the refresh runs in the background")
        #expect(try await provider.credentials().accessKeyId == "ASIA0", "and only one")
        gate.withLockedValue { $0 = true }
        #expect(try await Self.eventually { provider.expiration == clock.now.addingTimeInterval(8) })
        #expect(try await provider.credentials().accessKeyId == "ASIA1")
        #expect(script.count == 2)
    }

    @Test func aFailedRefreshWhileValidIsLoggedAndRetriedAndAfterExpiryCallsFail() async throws {
        let records = LogStore()
        let logger = Logger(label: "t") { _ in CapturingHandler(store: records) }
        let clock = TestClock()
        let script = ScriptedFetch { n in
            if n == 0 { return ScriptedFetch.credentials(0, validFor: 8, from: clock.now) }
            throw CredentialsError("endpoint down", transient: true)
        }
        let provider = RefreshingCredentialsProvider(source: "fake endpoint", logger: logger, now: { clock.now },
                                                     fetch: { try await script.fetch() })
        #expect(try await provider.credentials().accessKeyId == "ASIA0")
        clock.advance(6.1)
        #expect(try await provider.credentials().accessKeyId == "ASIA0", "still valid: used while the refresh fails")
        #expect(try await Self.eventually {
            records.lines.contains { $0.contains("refreshing AWS credentials from fake endpoint failed") && $0.contains("endpoint down") }
        })
        clock.advance(0.5)
        #expect(try await provider.credentials().accessKeyId == "ASIA0")
        #expect(script.count == 2, "the next attempt waits 1 s")
        clock.advance(1.2)  // 7.8 s: expired for loginvault's purposes (used until 7.2 s)
        let error = await #expect(throws: CredentialsError.self) { _ = try await provider.credentials() }
        #expect(error?.description.contains("expired at") == true, "\(error?.description ?? "")")
        #expect(error?.description.contains("endpoint down") == true)
        #expect(error?.isTransient == true)
        #expect(script.count == 3)
        // During the backoff that follows, callers get the same error at once, without a fetch.
        let again = await #expect(throws: CredentialsError.self) { _ = try await provider.credentials() }
        #expect(again?.description.contains("expired at") == true)
        #expect(script.count == 3)
        for line in records.lines { #expect(!line.contains("secret-0") && !line.contains("token-0")) }
    }

    @Test func rejectedCredentialsAreReplacedOnceHoweverManyCallersReportThem() async throws {
        let script = ScriptedFetch(delay: .milliseconds(100)) { ScriptedFetch.credentials($0, validFor: 3600) }
        let provider = RefreshingCredentialsProvider(source: "test", fetch: { try await script.fetch() })
        let first = try await provider.credentials()
        let keys = try await withThrowingTaskGroup(of: String.self) { group in
            for _ in 0..<10 { group.addTask { try await provider.credentials(rejected: first).accessKeyId } }
            return try await group.reduce(into: [String]()) { $0.append($1) }
        }
        #expect(Set(keys) == ["ASIA1"])
        #expect(script.count == 2)
        #expect(try await provider.credentials(rejected: first).accessKeyId == "ASIA1", "an old rejection does not refetch")
        #expect(script.count == 2)
    }

    @Test func expirationsInEveryFormatTheEndpointsUse() throws {
        let plain = try #require(ISO8601DateFormatter().date(from: "2026-11-30T18:19:57Z"))
        for text in ["2026-11-30T18:19:57Z", "2026-11-30T18:19:57.000Z", "2026-11-30T18:19:57.439129Z"] {
            let parsed = try #require(CredentialDates.parse(text), "\(text)")
            #expect(abs(parsed.timeIntervalSince(plain)) < 1)
        }
    }
}
