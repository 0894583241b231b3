import Foundation
import NIOConcurrencyHelpers
import NIOHTTP1

/// An HTTP/1.1 proxy on 127.0.0.1 that forwards to `upstream` (an SQS emulator) and injects
/// faults into a random share of the requests, chosen by a seeded `FaultPlan`: error answers
/// (500, 503, throttling, 429), connection resets (before the request reaches upstream, or
/// after upstream acted on it), answers held back past the client's timeout (after upstream
/// acted), and truncated bodies; and, if asked, latency on every answer. It counts what it
/// injected, per kind. The plan only decides; the listening and forwarding are
/// `LoopbackHTTPProxy`'s.
///
/// Point a `loginvault load --endpoint-url` (or an `SQSClient`) at `start()`'s URL; call
/// `stop()` when done (it closes every connection and ends the held-back answers at once).
public final class FaultInjectingProxy: Sendable {
    /// The faults the proxy can inject.
    public enum Fault: String, Sendable, CaseIterable, Codable {
        /// HTTP 500 `InternalError` (JSON protocol); upstream never sees the request.
        case internalError
        /// HTTP 503 `ServiceUnavailable` (query protocol XML); upstream never sees the request.
        case serviceUnavailable
        /// HTTP 400 `ThrottlingException`; upstream never sees the request.
        case throttling
        /// HTTP 429 with an empty body; upstream never sees the request.
        case tooManyRequests
        /// The connection is reset (RST) before the request is forwarded.
        case resetBeforeForward
        /// The request is forwarded (upstream acts on it), then the connection is reset.
        case resetAfterForward
        /// The request is forwarded (upstream acts on it); the answer is held back longer than
        /// the client waits (`FaultPlan.holdBack`), then the connection is closed.
        case delayedPastTimeout
        /// The request is forwarded; the answer announces its full length but only half the
        /// body is sent before the connection is closed.
        case truncatedBody
        /// The request is forwarded; a 200 whose body is cut in half (and whose length says
        /// so): JSON that does not parse.
        case truncatedJSON

        /// The faults that answer without the request reaching upstream.
        public var reachesUpstream: Bool {
            switch self {
            case .internalError, .serviceUnavailable, .throttling, .tooManyRequests, .resetBeforeForward: false
            case .resetAfterForward, .delayedPastTimeout, .truncatedBody, .truncatedJSON: true
            }
        }
    }

    /// Which requests get which fault.
    public struct FaultPlan: Sendable {
        /// Seeds the random choices, so a failing run can be replayed.
        public var seed: UInt64
        /// The probability that a request gets a fault.
        public var rate: Double
        /// The kinds to choose from, uniformly.
        public var faults: [Fault]
        /// Only requests for these actions (`ReceiveMessage`, ...) get faults; nil: all.
        public var actions: Set<String>?
        /// At most this many `delayedPastTimeout` faults (each costs the client a timeout).
        public var maxDelayed: Int
        /// Only these actions get `delayedPastTimeout` faults; nil: all.
        public var delayedActions: Set<String>?
        /// How long the answer to an action is held back by `delayedPastTimeout`.
        public var holdBack: @Sendable (_ action: String) -> Duration
        /// Requests before this index are never faulted (e.g. the loader's GetQueueUrl).
        public var spareFirst: Int
        /// At most this many faults in all; nil: no limit.
        public var limit: Int?
        /// Latency: how long every answer to an action that gets no fault waits, after upstream
        /// acted, before it is sent on (nil: none). Models a slow network or a far-away endpoint.
        public var answerDelay: @Sendable (_ action: String) -> Duration?

        public init(seed: UInt64, rate: Double, faults: [Fault] = Fault.allCases, actions: Set<String>? = nil,
                    maxDelayed: Int = 2, delayedActions: Set<String>? = nil, spareFirst: Int = 0, limit: Int? = nil,
                    holdBack: @escaping @Sendable (_ action: String) -> Duration = { _ in .seconds(31) },
                    answerDelay: @escaping @Sendable (_ action: String) -> Duration? = { _ in nil }) {
            self.seed = seed
            self.rate = rate
            self.faults = faults
            self.actions = actions
            self.maxDelayed = maxDelayed
            self.delayedActions = delayedActions
            self.holdBack = holdBack
            self.spareFirst = spareFirst
            self.limit = limit
            self.answerDelay = answerDelay
        }
    }

    private enum Decision {
        case forward
        case inject(Fault)
    }

    private struct State {
        var requests = 0
        var requestsByAction: [String: Int] = [:]
        var injected: [Fault: Int] = [:]
        var injectedByAction: [String: Int] = [:]
        var random: SplitMix64
    }

    public let upstream: URL
    public let plan: FaultPlan
    private let state: NIOLockedValueBox<State>
    private let core: LoopbackHTTPProxy

    public init(upstream: URL, plan: FaultPlan) {
        let state = NIOLockedValueBox(State(random: SplitMix64(seed: plan.seed)))
        self.upstream = upstream
        self.plan = plan
        self.state = state
        self.core = LoopbackHTTPProxy(upstream: upstream, connectTimeout: .seconds(10)) { exchange in
            switch state.withLockedValue({ Self.decide(exchange.action, plan: plan, state: &$0) }) {
            case .forward:
                let (status, headers, data) = try await exchange.forward()
                if let delay = plan.answerDelay(exchange.action) { try await Task.sleep(for: delay) }
                try await exchange.respond(status: status, headers: headers, body: data)
                return true
            case .inject(let fault):
                return try await Self.inject(fault, into: exchange, holdBack: plan.holdBack)
            }
        }
    }

    /// Requests seen so far.
    public var requestCount: Int { state.withLockedValue { $0.requests } }

    /// Faults injected so far, per kind.
    public var injected: [Fault: Int] { state.withLockedValue { $0.injected } }

    /// Faults injected so far, in all.
    public var injectedCount: Int { state.withLockedValue { $0.injected.values.reduce(0, +) } }

    /// Requests seen and faults injected per action, e.g. `["ReceiveMessage": (120, 18)]`.
    public var perAction: [String: (requests: Int, faults: Int)] {
        state.withLockedValue { s in
            s.requestsByAction.mapValues { ($0, 0) }.merging(s.injectedByAction.mapValues { (0, $0) }) {
                ($0.0 + $1.0, $0.1 + $1.1)
            }
        }
    }

    /// Starts listening on a free port of 127.0.0.1; returns the endpoint URL.
    public func start() async throws -> URL { try await core.start() }

    /// Stops listening, closes every connection, ends held-back answers, shuts the client down.
    public func stop() async { try? await core.stop() }

    /// Runs `body` with a started proxy, stopping it afterwards whatever happens.
    public static func with<T>(upstream: URL, plan: FaultPlan,
                               _ body: (FaultInjectingProxy, URL) async throws -> T) async throws -> T {
        let proxy = FaultInjectingProxy(upstream: upstream, plan: plan)
        return try await proxy.core.run { try await body(proxy, $0) }
    }

    // MARK: - Faults

    private static func decide(_ action: String, plan: FaultPlan, state s: inout State) -> Decision {
        let index = s.requests
        s.requests += 1
        s.requestsByAction[action, default: 0] += 1
        guard index >= plan.spareFirst, !plan.faults.isEmpty,
              plan.actions?.contains(action) ?? true else { return .forward }
        if let limit = plan.limit, s.injected.values.reduce(0, +) >= limit { return .forward }
        guard s.random.nextDouble() < plan.rate else { return .forward }
        var fault = plan.faults[Int(s.random.next() % UInt64(plan.faults.count))]
        if fault == .delayedPastTimeout,
           s.injected[.delayedPastTimeout, default: 0] >= plan.maxDelayed || !(plan.delayedActions?.contains(action) ?? true) {
            let others = plan.faults.filter { $0 != .delayedPastTimeout }
            guard !others.isEmpty else { return .forward }
            fault = others[Int(s.random.next() % UInt64(others.count))]
        }
        s.injected[fault, default: 0] += 1
        s.injectedByAction[action, default: 0] += 1
        return .inject(fault)
    }

    /// Injects `fault`; returns whether the connection stays usable.
    private static func inject(_ fault: Fault, into exchange: LoopbackHTTPProxy.Exchange,
                               holdBack: @Sendable (_ action: String) -> Duration) async throws -> Bool {
        let json = [("Content-Type", "application/x-amz-json-1.0")]
        switch fault {
        case .internalError:
            try await exchange.respond(status: 500, headers: HTTPHeaders(json),
                                       body: Data(#"{"__type":"com.amazonaws.sqs#InternalError","message":"injected internal error"}"#.utf8))
        case .serviceUnavailable:
            try await exchange.respond(status: 503, headers: HTTPHeaders([("Content-Type", "text/xml")]), body: Data(
                "<ErrorResponse><Error><Type>Receiver</Type><Code>ServiceUnavailable</Code><Message>injected 503</Message></Error><RequestId>r-503</RequestId></ErrorResponse>".utf8))
        case .throttling:
            try await exchange.respond(status: 400, headers: HTTPHeaders(json + [("x-amzn-query-error", "ThrottlingException;Sender")]),
                                       body: Data(#"{"__type":"com.amazonaws.sqs#ThrottlingException","message":"Rate exceeded"}"#.utf8))
        case .tooManyRequests:
            try await exchange.respond(status: 429)
        case .resetBeforeForward:
            await exchange.reset()
            return false
        case .resetAfterForward:
            _ = try await exchange.forward()
            await exchange.reset()
            return false
        case .delayedPastTimeout:
            let (status, headers, data) = try await exchange.forward()
            try await Task.sleep(for: holdBack(exchange.action))
            try? await exchange.respond(status: status, headers: headers, body: data)
            return false
        case .truncatedBody:
            let (status, headers, data) = try await exchange.forward()
            try await exchange.respondTruncated(status: status, headers: headers, body: data)
            return false  // closes the connection with the body incomplete
        case .truncatedJSON:
            let (_, headers, data) = try await exchange.forward()
            try await exchange.respond(status: 200, headers: headers, body: Data(data.prefix(max(1, data.count / 2))))
        }
        return true
    }
}

/// A small seeded random number generator (SplitMix64), for reproducible chaos.
public struct SplitMix64: RandomNumberGenerator, Sendable {
    private var state: UInt64

    public init(seed: UInt64) { state = seed }

    public mutating func next() -> UInt64 {
        state &+= 0x9E37_79B9_7F4A_7C15
        var z = state
        z = (z ^ (z >> 30)) &* 0xBF58_476D_1CE4_E5B9
        z = (z ^ (z >> 27)) &* 0x94D0_49BB_1331_11EB
        return z ^ (z >> 31)
    }

    /// Uniform in 0..<1.
    public mutating func nextDouble() -> Double { Double(next() >> 11) / Double(UInt64(1) << 53) }
}
