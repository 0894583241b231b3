import CoreMetrics
import Foundation
import Logging
import SigV4
import Synchronization

/// Temporary credentials, cached and refreshed ahead of their expiry.
///
/// - The first call fetches; later calls return the cached credentials without waiting.
/// - From a refresh time chosen at each fetch (a quarter of the lifetime, at most 15 minutes,
///   before expiry, made earlier by a random jitter of up to half that again, so that many
///   processes do not refresh at once) one background task fetches new credentials while
///   requests go on with the current ones. Only one fetch runs at a time; callers that must
///   wait (nothing cached, expired, or `rejected`) wait for that same fetch.
/// - A failed refresh while the current credentials are still valid is logged as a warning and
///   retried with capped exponential backoff (1 s doubling to 60 s). Once they have expired,
///   calls fail with a `CredentialsError` saying so; during a backoff they fail at once with the
///   last error instead of hammering the endpoint.
/// - Credentials without an expiration are kept until `rejected`.
public final class RefreshingCredentialsProvider: CredentialsProvider {
    public typealias Fetch = @Sendable () async throws -> ExpiringCredentials

    public let source: String
    private let fetch: Fetch
    private let logger: Logger
    /// The time (a parameter so that tests can move it).
    private let now: @Sendable () -> Date
    private let state = Mutex(State())

    private struct State {
        var current: ExpiringCredentials?
        /// When a background refresh starts.
        var refreshAt = Date.distantFuture
        /// When the current credentials are no longer used (a little before their expiration).
        var usableUntil = Date.distantPast
        var refresh: Task<ExpiringCredentials, any Error>?
        var failures = 0
        var nextAttempt = Date.distantPast
        /// The last fetch's error, while waiting for `nextAttempt`.
        var lastError: (any Error)?

        /// What a caller that cannot be given credentials is told.
        func failure(_ error: any Error, source: String) -> String {
            if let expiration = current?.expiration {
                return "the temporary AWS credentials from \(source) expired at \(CredentialDates.format(expiration)) "
                    + "and could not be refreshed: \(error)"
            }
            return "cannot get AWS credentials from \(source): \(error)"
        }
    }

    /// - Parameter fetch: gets new credentials (an STS call, a metadata request, a process...).
    /// - Parameters:
    ///   - initial: credentials already fetched (they are used until their refresh time).
    ///   - now: the clock.
    public init(source: String, logger: Logger = Logger(label: "loginvault.credentials"), initial: ExpiringCredentials? = nil,
                now: @escaping @Sendable () -> Date = { Date() }, fetch: @escaping Fetch) {
        self.source = source
        self.fetch = fetch
        self.logger = logger
        self.now = now
        if let initial {
            let (refreshAt, usableUntil) = Self.schedule(initial.expiration, now: now())
            state.withLock { s in
                s.current = initial
                s.refreshAt = refreshAt
                s.usableUntil = usableUntil
            }
        }
    }

    /// When the cached credentials expire (nil: none cached, or they do not expire).
    public var expiration: Date? { state.withLock { $0.current?.expiration } }

    public func credentials(rejected: AWSCredentials?) async throws -> AWSCredentials {
        let now = self.now()
        enum Plan: Sendable { case use(AWSCredentials), wait(Task<ExpiringCredentials, any Error>), fail(String, Bool) }
        let plan: Plan = state.withLock { s in
            let rejectedCurrent = rejected != nil && rejected == s.current?.credentials
            if let current = s.current, !rejectedCurrent, now < s.usableUntil {
                if now >= s.refreshAt, s.refresh == nil, now >= s.nextAttempt {
                    s.refresh = startRefresh(background: true)
                }
                return .use(current.credentials)
            }
            if let task = s.refresh { return .wait(task) }
            if now < s.nextAttempt, let last = s.lastError {
                return .fail(s.failure(last, source: source), (last as? CredentialsError)?.isTransient ?? true)
            }
            let task = startRefresh(background: false)
            s.refresh = task
            return .wait(task)
        }
        switch plan {
        case .use(let credentials):
            return credentials
        case .fail(let message, let transient):
            throw CredentialsError(message, transient: transient)
        case .wait(let task):
            return try await task.value.credentials
        }
    }

    /// Starts the one fetch; called with the state locked.
    private func startRefresh(background: Bool) -> Task<ExpiringCredentials, any Error> {
        Task { [self] in
            do {
                let fresh = try await fetch()
                let now = self.now()
                let (refreshAt, usableUntil) = Self.schedule(fresh.expiration, now: now)
                let refreshed = state.withLock { s in
                    let hadCredentials = s.current != nil
                    s.current = fresh
                    s.refreshAt = refreshAt
                    s.usableUntil = usableUntil
                    s.refresh = nil
                    s.failures = 0
                    s.nextAttempt = .distantPast
                    s.lastError = nil
                    return hadCredentials
                }
                // Counted in /metrics when the process exports metrics (a no-op otherwise).
                if refreshed { Counter(label: "loginvault_credential_refreshes_total").increment() }
                logger.debug("credentials fetched", metadata: [
                    "source": "\(source)",
                    "expires": "\(fresh.expiration.map(CredentialDates.format) ?? "never")",
                    "refresh_at": "\(refreshAt == .distantFuture ? "never" : CredentialDates.format(refreshAt))",
                ])
                return fresh
            } catch {
                let now = self.now()
                let (message, delay, validUntil): (String, Double, Date?) = state.withLock { s in
                    s.refresh = nil
                    s.failures += 1
                    let delay = min(60, pow(2, Double(min(s.failures - 1, 6))))
                    s.nextAttempt = now.addingTimeInterval(delay)
                    s.lastError = error
                    let validUntil = s.current != nil && now < s.usableUntil ? s.current?.expiration : nil
                    return (s.failure(error, source: source), delay, validUntil)
                }
                if let validUntil {
                    logger.warning("""
                        refreshing AWS credentials from \(source) failed; the current ones stay valid until \
                        \(CredentialDates.format(validUntil)); retrying in \(Int(delay)) s: \(error)
                        """)
                } else if background {
                    logger.warning("\(message)")
                }
                throw CredentialsError(message, transient: (error as? CredentialsError)?.isTransient ?? true)
            }
        }
    }

    /// When to refresh and until when to use credentials expiring at `expiration`, fetched `now`.
    static func schedule(_ expiration: Date?, now: Date) -> (refreshAt: Date, usableUntil: Date) {
        guard let expiration else { return (.distantFuture, .distantFuture) }
        let lifetime = max(0, expiration.timeIntervalSince(now))
        let lead = min(15 * 60, lifetime / 4)
        let jitter = Double.random(in: 0...(lead / 2))
        let margin = min(10, lifetime / 10)
        return (expiration.addingTimeInterval(-(lead + jitter)), expiration.addingTimeInterval(-margin))
    }
}
