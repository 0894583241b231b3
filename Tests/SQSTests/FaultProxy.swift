import AsyncHTTPClient
import Foundation
import NIOConcurrencyHelpers
import NIOCore
import NIOHTTP1
import NIOPosix

/// A small HTTP proxy on 127.0.0.1 for the tests: for each request it asks `plan` what to do —
/// answer with an injected error, reset the connection, stall, or forward to `upstream`
/// (optionally rewriting the response body) — and records what it saw.
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

    private struct State {
        var serverChannel: (any Channel)?
        var connections: [ObjectIdentifier: any Channel] = [:]
        var actions: [String] = []
    }

    let upstream: URL
    private let plan: @Sendable (_ index: Int, _ action: String) -> Action
    private let state = NIOLockedValueBox(State())
    private let client: HTTPClient
    private let serveTask = NIOLockedValueBox<Task<Void, Never>?>(nil)

    /// - Parameter plan: given the 0-based index of a request and its `X-Amz-Target` action, what to do.
    init(upstream: URL, plan: @escaping @Sendable (_ index: Int, _ action: String) -> Action) {
        self.upstream = upstream
        self.plan = plan
        self.client = HTTPClient(eventLoopGroup: MultiThreadedEventLoopGroup.singleton)
    }

    /// The actions (e.g. `ReceiveMessage`) of the requests seen so far, in order.
    var actionsSeen: [String] { state.withLockedValue { $0.actions } }

    /// Starts listening on 127.0.0.1 and returns the URL to use as endpoint.
    func start() async throws -> URL {
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

    /// Stops listening, closes every connection, and shuts the forwarding client down.
    func stop() async throws {
        let channels = state.withLockedValue { s -> [any Channel] in
            var all = Array(s.connections.values)
            if let server = s.serverChannel { all.append(server) }
            return all
        }
        for channel in channels { try? await channel.close() }
        await serveTask.withLockedValue { $0 }?.value
        try await client.shutdown()
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
                    let index = state.withLockedValue { s -> Int in
                        s.actions.append(action)
                        return s.actions.count - 1
                    }
                    switch plan(index, action) {
                    case .reset:
                        try? await (connection.channel as? any SocketOptionProvider)?.setSoLinger(linger(l_onoff: 1, l_linger: 0)).get()
                        try? await connection.channel.close()
                        return
                    case .stall:
                        continue  // wait for more input, i.e. until the client or stop() closes the connection
                    case .respond(let status, let headers, let text):
                        try await Self.write(outbound, status: status, headers: HTTPHeaders(headers), body: Data(text.utf8))
                    case .forward:
                        let (status, headers, data) = try await forward(head, body)
                        try await Self.write(outbound, status: status, headers: headers, body: data)
                    case .forwardRewriting(let rewrite):
                        let (status, headers, data) = try await forward(head, body)
                        try await Self.write(outbound, status: status, headers: headers, body: rewrite(data))
                    }
                }
            }
        }
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

    /// Runs `body` with a started proxy and stops the proxy afterwards, whatever happens.
    static func with<T: Sendable>(
        upstream: URL, plan: @escaping @Sendable (_ index: Int, _ action: String) -> Action,
        _ body: (FaultProxy, URL) async throws -> T
    ) async throws -> T {
        let proxy = FaultProxy(upstream: upstream, plan: plan)
        let endpoint: URL
        do {
            endpoint = try await proxy.start()
        } catch {
            try? await proxy.client.shutdown()
            throw error
        }
        do {
            let result = try await body(proxy, endpoint)
            try await proxy.stop()
            return result
        } catch {
            try? await proxy.stop()
            throw error
        }
    }
}
