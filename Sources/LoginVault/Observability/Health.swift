import Foundation
import Synchronization

/// Liveness for `GET /healthz`: when the loader last showed progress (a receive answered,
/// empty or not; a batch committed; the queue seen empty). A loader whose loops are stuck
/// shows none, and a probe restarts it once `staleAfter` has passed.
public final class Liveness: Sendable {
    private let last = Mutex(ContinuousClock.now)

    public init() {}

    /// Something moved (see the type's description).
    public func progressed() {
        last.withLock { $0 = .now }
    }

    /// Time since the last progress.
    public var sinceProgress: Duration { ContinuousClock.now - last.withLock { $0 } }
}

/// The answers of `/healthz` and `/readyz`: an HTTP status (200 or 503) and one line of JSON.
public struct ProbeAnswer: Sendable, Equatable {
    public let status: Int
    public let body: String

    /// `{"status":"ok",...}` (200) or `{"status":"fail",...}` (503), with string fields in order.
    static func make(ok: Bool, _ fields: KeyValuePairs<String, String>) -> ProbeAnswer {
        let members = [("status", ok ? "ok" : "fail")] + fields.map { ($0.key, $0.value) }
        let body = "{" + members.map { "\(JSONText.quoted($0.0)):\(JSONText.quoted($0.1))" }.joined(separator: ",") + "}"
        return ProbeAnswer(status: ok ? 200 : 503, body: body)
    }
}

/// The health checks of a running `load`.
public struct HealthChecks: Sendable {
    let liveness: Liveness
    let staleAfter: Duration
    /// Throws (a one-line reason) unless the database is reachable with current migrations.
    let database: @Sendable () async throws -> String
    /// Throws unless the queue answers with the current credentials.
    let queue: (@Sendable () async throws -> Void)?
    /// How long one readiness check may take before it counts as failed.
    let timeout: Duration
    /// Why the loader cannot work yet, when it knows (e.g. waiting for AWS credentials at start):
    /// `/readyz` answers 503 with it and runs no check.
    let pending: @Sendable () -> String?

    public init(liveness: Liveness, staleAfter: Duration, timeout: Duration = .seconds(4),
                database: @escaping @Sendable () async throws -> String,
                queue: (@Sendable () async throws -> Void)?,
                pending: @escaping @Sendable () -> String? = { nil }) {
        self.liveness = liveness
        self.staleAfter = staleAfter
        self.timeout = timeout
        self.database = database
        self.queue = queue
        self.pending = pending
    }

    /// `GET /healthz`.
    public func live() -> ProbeAnswer {
        let since = liveness.sinceProgress
        let seconds = String(format: "%.1f", Double(since.components.seconds) + Double(since.components.attoseconds) / 1e18)
        if since <= staleAfter {
            return .make(ok: true, ["last_progress_seconds_ago": seconds])
        }
        return .make(ok: false, ["reason": "nothing received or committed for \(seconds) s (limit \(staleAfter.components.seconds) s) and the queue not seen empty",
                                 "last_progress_seconds_ago": seconds])
    }

    /// `GET /readyz`: what the loader waits for, if anything; else the database (reachable,
    /// migrations current), then the queue.
    public func ready() async -> ProbeAnswer {
        if let reason = pending() {
            return .make(ok: false, ["reason": reason])
        }
        let database: String
        do {
            database = try await within(timeout) { try await self.database() }
        } catch {
            return .make(ok: false, ["reason": "database: \(Self.oneLine(error))"])
        }
        if let queue {
            do {
                try await within(timeout) { try await queue() }
            } catch {
                return .make(ok: false, ["reason": "queue: \(Self.oneLine(error))", "database": database])
            }
        }
        return .make(ok: true, ["database": database, "queue": queue == nil ? "not used" : "reachable"])
    }

    static func oneLine(_ error: any Error) -> String {
        String(describing: error).split(whereSeparator: \.isNewline).joined(separator: " ")
    }
}

/// Runs `body`, throwing `NotReady` if it has not finished within `limit`. A check that
/// blocks (a connect to an unreachable host) is left to finish on its own; the answer goes.
func within<T: Sendable>(_ limit: Duration, _ body: @escaping @Sendable () async throws -> T) async throws -> T {
    let answer = OneAnswer<T>()
    return try await withCheckedThrowingContinuation { continuation in
        answer.set(continuation)
        Task {
            do { answer.resume(with: .success(try await body())) } catch { answer.resume(with: .failure(error)) }
        }
        Task {
            try? await Task.sleep(for: limit)
            answer.resume(with: .failure(NotReady("no answer within \(limit.components.seconds) s")))
        }
    }
}

/// A continuation resumed by whichever side answers first.
private final class OneAnswer<T: Sendable>: Sendable {
    private let continuation = Mutex<CheckedContinuation<T, any Error>?>(nil)

    func set(_ continuation: CheckedContinuation<T, any Error>) {
        self.continuation.withLock { $0 = continuation }
    }

    func resume(with result: Result<T, any Error>) {
        continuation.withLock { current -> CheckedContinuation<T, any Error>? in
            defer { current = nil }
            return current
        }?.resume(with: result)
    }
}

/// JSON string quoting for the probes and the JSON log lines.
enum JSONText {
    static func quoted(_ string: String) -> String {
        var out = "\""
        out.reserveCapacity(string.utf8.count + 2)
        for scalar in string.unicodeScalars {
            switch scalar {
            case "\"": out += "\\\""
            case "\\": out += "\\\\"
            case "\n": out += "\\n"
            case "\r": out += "\\r"
            case "\t": out += "\\t"
            case _ where scalar.value < 0x20 || scalar.value == 0x2028 || scalar.value == 0x2029:
                out += String(format: "\\u%04x", scalar.value)
            default: out.unicodeScalars.append(scalar)
            }
        }
        return out + "\""
    }
}
