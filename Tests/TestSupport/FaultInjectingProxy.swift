import AsyncHTTPClient
import Foundation
import NIOConcurrencyHelpers
import NIOCore
import NIOHTTP1
import NIOPosix

/// An HTTP/1.1 proxy on 127.0.0.1 that forwards to `upstream` (an SQS emulator) and injects
/// faults into a random share of the requests, chosen by a seeded `FaultPlan`: error answers
/// (500, 503, throttling, 429), connection resets (before the request reaches upstream, or
/// after upstream acted on it), answers held back past the client's timeout (after upstream
/// acted), and truncated bodies. It counts what it injected, per kind.
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

        public init(seed: UInt64, rate: Double, faults: [Fault] = Fault.allCases, actions: Set<String>? = nil,
                    maxDelayed: Int = 2, delayedActions: Set<String>? = nil, spareFirst: Int = 0, limit: Int? = nil,
                    holdBack: @escaping @Sendable (_ action: String) -> Duration = { _ in .seconds(31) }) {
            self.seed = seed
            self.rate = rate
            self.faults = faults
            self.actions = actions
            self.maxDelayed = maxDelayed
            self.delayedActions = delayedActions
            self.holdBack = holdBack
            self.spareFirst = spareFirst
            self.limit = limit
        }
    }

    private enum Decision {
        case forward
        case inject(Fault)
    }

    private struct State {
        var serverChannel: (any Channel)?
        var connections: [ObjectIdentifier: any Channel] = [:]
        var requests = 0
        var requestsByAction: [String: Int] = [:]
        var injected: [Fault: Int] = [:]
        var injectedByAction: [String: Int] = [:]
        var random: SplitMix64
    }

    public let upstream: URL
    public let plan: FaultPlan
    private let state: NIOLockedValueBox<State>
    private let client: HTTPClient
    private let serveTask = NIOLockedValueBox<Task<Void, Never>?>(nil)

    public init(upstream: URL, plan: FaultPlan) {
        self.upstream = upstream
        self.plan = plan
        self.state = NIOLockedValueBox(State(random: SplitMix64(seed: plan.seed)))
        var configuration = HTTPClient.Configuration()
        configuration.timeout.connect = .seconds(10)
        self.client = HTTPClient(eventLoopGroup: MultiThreadedEventLoopGroup.singleton, configuration: configuration)
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
    public func start() async throws -> URL {
        let server = try await ServerBootstrap(group: MultiThreadedEventLoopGroup.singleton)
            .serverChannelOption(ChannelOptions.socketOption(.so_reuseaddr), value: 1)
            .bind(host: "127.0.0.1", port: 0) { channel in
                channel.eventLoop.makeCompletedFuture {
                    try channel.pipeline.syncOperations.configureHTTPServerPipeline()
                    return try NIOAsyncChannel<HTTPServerRequestPart, HTTPServerResponsePart>(wrappingChannelSynchronously: channel)
                }
            }
        state.withLockedValue { $0.serverChannel = server.channel }
        let port = server.channel.localAddress!.port!
        serveTask.withLockedValue {
            $0 = Task {
                try? await withThrowingDiscardingTaskGroup { group in
                    try await server.executeThenClose { inbound in
                        for try await connection in inbound {
                            group.addTask { await self.serve(connection) }
                        }
                    }
                }
            }
        }
        return URL(string: "http://127.0.0.1:\(port)")!
    }

    /// Stops listening, closes every connection, ends held-back answers, shuts the client down.
    public func stop() async {
        let channels = state.withLockedValue { s -> [any Channel] in
            var all = Array(s.connections.values)
            if let server = s.serverChannel { all.append(server) }
            return all
        }
        for channel in channels { try? await channel.close() }
        let task = serveTask.withLockedValue { $0 }
        task?.cancel()
        await task?.value
        try? await client.shutdown()
    }

    /// Runs `body` with a started proxy, stopping it afterwards whatever happens.
    public static func with<T>(upstream: URL, plan: FaultPlan,
                               _ body: (FaultInjectingProxy, URL) async throws -> T) async throws -> T {
        let proxy = FaultInjectingProxy(upstream: upstream, plan: plan)
        do {
            let endpoint = try await proxy.start()
            let result = try await body(proxy, endpoint)
            await proxy.stop()
            return result
        } catch {
            await proxy.stop()
            throw error
        }
    }

    // MARK: - Serving

    private func decide(_ action: String) -> Decision {
        state.withLockedValue { s in
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
    }

    private func serve(_ connection: NIOAsyncChannel<HTTPServerRequestPart, HTTPServerResponsePart>) async {
        let id = ObjectIdentifier(connection.channel)
        state.withLockedValue { $0.connections[id] = connection.channel }
        defer { _ = state.withLockedValue { $0.connections.removeValue(forKey: id) } }
        try? await connection.executeThenClose { inbound, outbound in
            var head: HTTPRequestHead?
            var body = ByteBuffer()
            for try await part in inbound {
                switch part {
                case .head(let h):
                    head = h
                    body.clear()
                case .body(var chunk):
                    body.writeBuffer(&chunk)
                case .end:
                    guard let head else { return }
                    let target = head.headers.first(name: "X-Amz-Target") ?? ""
                    let action = target.split(separator: ".").last.map(String.init) ?? target
                    switch decide(action) {
                    case .forward:
                        let (status, headers, data) = try await forward(head, body)
                        try await Self.write(outbound, status: status, headers: headers, body: data)
                    case .inject(let fault):
                        guard try await inject(fault, action: action, head: head, body: body,
                                               channel: connection.channel, outbound: outbound) else { return }
                    }
                }
            }
        }
    }

    /// Injects `fault`; returns whether the connection stays usable.
    private func inject(_ fault: Fault, action: String, head: HTTPRequestHead, body: ByteBuffer, channel: any Channel,
                        outbound: NIOAsyncChannelOutboundWriter<HTTPServerResponsePart>) async throws -> Bool {
        let json = [("Content-Type", "application/x-amz-json-1.0")]
        switch fault {
        case .internalError:
            try await Self.write(outbound, status: 500, headers: HTTPHeaders(json),
                                 body: Data(#"{"__type":"com.amazonaws.sqs#InternalError","message":"injected internal error"}"#.utf8))
        case .serviceUnavailable:
            try await Self.write(outbound, status: 503, headers: HTTPHeaders([("Content-Type", "text/xml")]), body: Data(
                "<ErrorResponse><Error><Type>Receiver</Type><Code>ServiceUnavailable</Code><Message>injected 503</Message></Error><RequestId>r-503</RequestId></ErrorResponse>".utf8))
        case .throttling:
            try await Self.write(outbound, status: 400, headers: HTTPHeaders(json + [("x-amzn-query-error", "ThrottlingException;Sender")]),
                                 body: Data(#"{"__type":"com.amazonaws.sqs#ThrottlingException","message":"Rate exceeded"}"#.utf8))
        case .tooManyRequests:
            try await Self.write(outbound, status: 429, headers: HTTPHeaders(), body: Data())
        case .resetBeforeForward:
            await Self.reset(channel)
            return false
        case .resetAfterForward:
            _ = try await forward(head, body)
            await Self.reset(channel)
            return false
        case .delayedPastTimeout:
            let (status, headers, data) = try await forward(head, body)
            try await Task.sleep(for: plan.holdBack(action))
            try? await Self.write(outbound, status: status, headers: headers, body: data)
            return false
        case .truncatedBody:
            let (status, headers, data) = try await forward(head, body)
            var announced = headers
            announced.replaceOrAdd(name: "Content-Length", value: String(max(data.count, 2)))
            try await outbound.write(.head(HTTPResponseHead(version: .http1_1, status: HTTPResponseStatus(statusCode: status),
                                                            headers: announced)))
            try await outbound.write(.body(.byteBuffer(ByteBuffer(bytes: data.prefix(data.count / 2)))))
            return false  // closes the connection with the body incomplete
        case .truncatedJSON:
            let (_, headers, data) = try await forward(head, body)
            try await Self.write(outbound, status: 200, headers: headers, body: Data(data.prefix(max(1, data.count / 2))))
        }
        return true
    }

    private static func reset(_ channel: any Channel) async {
        try? await (channel as? any SocketOptionProvider)?.setSoLinger(linger(l_onoff: 1, l_linger: 0)).get()
        try? await channel.close()
    }

    private func forward(_ head: HTTPRequestHead, _ body: ByteBuffer) async throws -> (Int, HTTPHeaders, Data) {
        var request = HTTPClientRequest(url: upstream.absoluteString + head.uri)
        request.method = head.method
        for (name, value) in head.headers where name.lowercased() != "content-length" {
            request.headers.add(name: name, value: value)
        }
        request.body = .bytes(body)
        let response = try await client.execute(request, timeout: .seconds(60))
        let bytes = try await response.body.collect(upTo: 64 * 1024 * 1024)
        var headers = response.headers
        headers.remove(name: "content-length")
        headers.remove(name: "transfer-encoding")
        return (Int(response.status.code), headers, Data(bytes.readableBytesView))
    }

    private static func write(_ outbound: NIOAsyncChannelOutboundWriter<HTTPServerResponsePart>, status: Int,
                              headers: HTTPHeaders, body: Data) async throws {
        var headers = headers
        headers.replaceOrAdd(name: "Content-Length", value: String(body.count))
        try await outbound.write(.head(HTTPResponseHead(version: .http1_1, status: HTTPResponseStatus(statusCode: status), headers: headers)))
        try await outbound.write(.body(.byteBuffer(ByteBuffer(bytes: body))))
        try await outbound.write(.end(nil))
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
