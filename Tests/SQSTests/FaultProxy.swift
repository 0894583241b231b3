import Foundation
import NIOConcurrencyHelpers
import NIOHTTP1
import TestSupport

/// A small HTTP proxy on 127.0.0.1 for the tests: for each request it asks `plan` what to do —
/// answer with an injected error, reset the connection, stall, or forward to `upstream`
/// (optionally rewriting the response body) — and records what it saw. A script over
/// `LoopbackHTTPProxy` (TestSupport), which does the listening and forwarding.
final class FaultProxy: Sendable {
    enum Action: Sendable {
        /// Forward to upstream and relay the answer.
        case forward
        /// Forward, then pass the response body through `rewrite` before relaying it.
        case forwardRewriting(@Sendable (Data) -> Data)
        /// Answer with this status, headers and body; upstream never sees the request.
        case respond(status: Int, headers: [(String, String)], body: String)
        /// Abort the TCP connection (RST) without answering.
        case reset
        /// Never answer (the connection is closed when the proxy stops).
        case stall
    }

    /// Canned faults.
    static let internalError = Action.respond(
        status: 500, headers: [("Content-Type", "application/x-amz-json-1.0")],
        body: #"{"__type":"com.amazonaws.sqs#InternalError","message":"injected internal error"}"#)
    static let throttlingException = Action.respond(
        status: 400, headers: [("Content-Type", "application/x-amz-json-1.0"), ("x-amzn-query-error", "ThrottlingException;Sender")],
        body: #"{"__type":"com.amazonaws.sqs#ThrottlingException","message":"Rate exceeded"}"#)
    static let requestThrottled = Action.respond(
        status: 400, headers: [("Content-Type", "application/x-amz-json-1.0"), ("x-amzn-query-error", "RequestThrottled;Sender")],
        body: #"{"__type":"com.amazonaws.sqs#RequestThrottled","message":"Request is throttled."}"#)
    static let serviceUnavailableXML = Action.respond(
        status: 503, headers: [("Content-Type", "text/xml")],
        body: "<ErrorResponse><Error><Type>Receiver</Type><Code>ServiceUnavailable</Code><Message>injected 503</Message></Error><RequestId>r-503</RequestId></ErrorResponse>")
    static let accessDenied = Action.respond(
        status: 403, headers: [("Content-Type", "text/xml")],
        body: "<ErrorResponse><Errors><Error><Code>AccessDenied</Code><Message>injected: not allowed</Message><Type>Sender</Type></Error></Errors></ErrorResponse>")

    let upstream: URL
    private let actions: NIOLockedValueBox<[String]>
    private let core: LoopbackHTTPProxy

    /// - Parameter plan: given the 0-based index of a request and its `X-Amz-Target` action, what to do.
    init(upstream: URL, plan: @escaping @Sendable (_ index: Int, _ action: String) -> Action) {
        let actions = NIOLockedValueBox<[String]>([])
        self.upstream = upstream
        self.actions = actions
        self.core = LoopbackHTTPProxy(upstream: upstream) { exchange in
            let index = actions.withLockedValue { seen -> Int in
                seen.append(exchange.action)
                return seen.count - 1
            }
            switch plan(index, exchange.action) {
            case .reset:
                await exchange.reset()
                return false
            case .stall:
                break  // keep reading, i.e. until the client or stop() closes the connection
            case .respond(let status, let headers, let text):
                try await exchange.respond(status: status, headers: HTTPHeaders(headers), body: Data(text.utf8))
            case .forward:
                let (status, headers, data) = try await exchange.forward()
                try await exchange.respond(status: status, headers: headers, body: data)
            case .forwardRewriting(let rewrite):
                let (status, headers, data) = try await exchange.forward()
                try await exchange.respond(status: status, headers: headers, body: rewrite(data))
            }
            return true
        }
    }

    /// The actions (e.g. `ReceiveMessage`) of the requests seen so far, in order.
    var actionsSeen: [String] { actions.withLockedValue { $0 } }

    /// Starts listening on 127.0.0.1 and returns the URL to use as endpoint.
    func start() async throws -> URL { try await core.start() }

    /// Stops listening, closes every connection, and shuts the forwarding client down.
    func stop() async throws { try await core.stop() }

    /// Runs `body` with a started proxy and stops the proxy afterwards, whatever happens.
    static func with<T: Sendable>(
        upstream: URL, plan: @escaping @Sendable (_ index: Int, _ action: String) -> Action,
        _ body: (FaultProxy, URL) async throws -> T
    ) async throws -> T {
        let proxy = FaultProxy(upstream: upstream, plan: plan)
        return try await proxy.core.run { try await body(proxy, $0) }
    }
}
