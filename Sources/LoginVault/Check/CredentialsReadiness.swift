import Logging
import SQS
import Synchronization

/// Whether AWS credentials can be had from the configured source, asked before the first SQS
/// request. A source resolved from the environment (a container credentials endpoint, an
/// assume-role profile) is only asked when credentials are first needed; an ECS task or EKS pod
/// may start before its endpoint answers. `load --follow` then waits for it (`wait`) and drain
/// mode stops at once (`failure`).
public enum CredentialsReadiness {
    /// Asks the provider once (a cached, valid credential answers at once). Nil when there are credentials.
    public static func probe(_ configuration: SQSConfiguration) async -> (any Error)? {
        do {
            _ = try await configuration.credentialsProvider.credentials()
            return nil
        } catch {
            return error
        }
    }

    /// Whether trying again later may help: an endpoint that failed or did not answer, not a
    /// configuration that fails the same way every time (e.g. an expired SSO token).
    public static func isTransient(_ error: any Error) -> Bool {
        (error as? CredentialsError)?.isTransient ?? !(error is CancellationError)
    }

    /// The pre-flight line for a load that does not wait (drain mode, or an error that will not pass).
    public static func failure(_ error: any Error, configuration: SQSConfiguration) -> CheckResult {
        CheckResult("credentials", .failed, "\(error)",
                    fix: isTransient(error)
                        ? "check that it answers (a container's credentials endpoint, instance metadata, STS); `load --follow` waits for credentials instead of stopping"
                        : nil)
    }

    /// The reason `/readyz` gives, and the warning logged, while waiting (the error names the source).
    public static func waitingReason(_ error: any Error) -> String {
        "AWS credentials are not available yet: \(error)"
    }

    /// Probes until credentials come, waiting `backoff` between tries (doubled each time, up to
    /// `maxBackoff`). Each failure is logged as a warning and handed to `waiting` (for
    /// `/readyz`); `waiting(nil)` once they came. Returns nil once there are credentials; the
    /// error when it will not pass (see `isTransient`) or when `stop` is set meanwhile.
    public static func wait(_ configuration: SQSConfiguration, logger: Logger, stop: StopFlag,
                            backoff: Duration = .seconds(1), maxBackoff: Duration = .seconds(30),
                            waiting: @Sendable (String?) -> Void) async -> (any Error)? {
        var delay = backoff
        while true {
            guard let error = await probe(configuration) else {
                waiting(nil)
                return nil
            }
            guard isTransient(error) else { return error }
            let reason = waitingReason(error)
            waiting(reason)
            logger.warning("\(reason); load --follow tries again in \(delay.components.seconds) s")
            if await stop.sleep(for: delay) { return error }
            delay = min(delay * 2, maxBackoff)
        }
    }
}

/// A stop request (SIGTERM, SIGINT) for a wait that happens before the loader exists.
public final class StopFlag: Sendable {
    private struct State {
        var requested = false
        var actions: [@Sendable () -> Void] = []
    }
    private let state = Mutex(State())

    public init() {}

    /// Sets the flag and runs the actions given to `whenRequested` (once).
    public func request() {
        let actions = state.withLock { state -> [@Sendable () -> Void] in
            state.requested = true
            defer { state.actions = [] }
            return state.actions
        }
        for action in actions { action() }
    }

    /// Runs `action` at the stop request, or now if it has been made.
    public func whenRequested(_ action: @escaping @Sendable () -> Void) {
        let now = state.withLock { state -> Bool in
            if !state.requested { state.actions.append(action) }
            return state.requested
        }
        if now { action() }
    }

    public var isRequested: Bool { state.withLock { $0.requested } }

    /// Sleeps for `duration`, or less when a stop is requested meanwhile. True if it was.
    public func sleep(for duration: Duration) async -> Bool {
        let end = ContinuousClock.now + duration
        while ContinuousClock.now < end {
            if isRequested { return true }
            try? await Task.sleep(for: min(.milliseconds(100), end - ContinuousClock.now))
        }
        return isRequested
    }
}
