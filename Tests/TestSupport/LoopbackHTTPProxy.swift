import AsyncHTTPClient
import Foundation
import NIOConcurrencyHelpers
import NIOCore
import NIOHTTP1
import NIOPosix

/// An HTTP/1.1 proxy on 127.0.0.1, for tests that need to stand between a client and its server
/// (an SQS emulator) and get in the way. It listens on a free port, and hands each complete
/// request to `handler` as an `Exchange`, which decides what becomes of it: forward it to
/// `upstream` (with AsyncHTTPClient) and relay or alter the answer, answer it itself, cut the
/// answer short, reset the connection, or leave it unanswered.
///
/// The core of `FaultInjectingProxy` (faults from a seeded plan) and of the SQS tests'
/// `FaultProxy` (a script per request); they only decide.
public final class LoopbackHTTPProxy: Sendable {
    /// Handles one request; returns whether the connection stays usable. `false` closes it
    /// (after a reset, or an answer cut short or abandoned). Returning `true` without answering
    /// stalls the request: the proxy reads on and never answers, until the client or `stop()`
    /// closes the connection.
    public typealias Handler = @Sendable (Exchange) async throws -> Bool

    /// One complete request, and what can be done about it.
    public struct Exchange: Sendable {
        public let head: HTTPRequestHead
        public let body: ByteBuffer
        /// The action named by the `X-Amz-Target` header (`ReceiveMessage` for
        /// `AmazonSQS.ReceiveMessage`); empty when there is none.
        public let action: String
        fileprivate let proxy: LoopbackHTTPProxy
        fileprivate let channel: any Channel
        fileprivate let outbound: NIOAsyncChannelOutboundWriter<HTTPServerResponsePart>

        /// Sends the request to upstream and returns its answer, not yet relayed.
        public func forward() async throws -> (status: Int, headers: HTTPHeaders, body: Data) {
            try await proxy.forward(head, body)
        }

        /// Answers with `body` (its `Content-Length` is set).
        public func respond(status: Int, headers: HTTPHeaders = [:], body: Data = Data()) async throws {
            var headers = headers
            headers.replaceOrAdd(name: "Content-Length", value: String(body.count))
            try await outbound.write(.head(HTTPResponseHead(version: .http1_1, status: HTTPResponseStatus(statusCode: status), headers: headers)))
            try await outbound.write(.body(.byteBuffer(ByteBuffer(bytes: body))))
            try await outbound.write(.end(nil))
        }

        /// Answers with a `Content-Length` of the whole `body` (at least 2) but sends only its
        /// first half; the handler should then return `false`, closing the connection mid-body.
        public func respondTruncated(status: Int, headers: HTTPHeaders, body: Data) async throws {
            var announced = headers
            announced.replaceOrAdd(name: "Content-Length", value: String(max(body.count, 2)))
            try await outbound.write(.head(HTTPResponseHead(version: .http1_1, status: HTTPResponseStatus(statusCode: status), headers: announced)))
            try await outbound.write(.body(.byteBuffer(ByteBuffer(bytes: body.prefix(body.count / 2)))))
        }

        /// Aborts the TCP connection (RST, via `SO_LINGER` 0) without answering.
        public func reset() async {
            try? await (channel as? any SocketOptionProvider)?.setSoLinger(linger(l_onoff: 1, l_linger: 0)).get()
            try? await channel.close()
        }
    }

    private struct State {
        var serverChannel: (any Channel)?
        var connections: [ObjectIdentifier: any Channel] = [:]
        var serveTask: Task<Void, Never>?
        var stopped = false
    }

    public let upstream: URL
    private let handler: Handler
    private let state = NIOLockedValueBox(State())
    private let client: HTTPClient

    /// - Parameters:
    ///   - connectTimeout: how long forwarding waits for a connection to upstream; nil: AsyncHTTPClient's default.
    ///   - handler: called for each complete request, in order per connection.
    public init(upstream: URL, connectTimeout: TimeAmount? = nil, handler: @escaping Handler) {
        self.upstream = upstream
        self.handler = handler
        var configuration = HTTPClient.Configuration()
        configuration.timeout.connect = connectTimeout
        self.client = HTTPClient(eventLoopGroup: MultiThreadedEventLoopGroup.singleton, configuration: configuration)
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
        let port = server.channel.localAddress!.port!
        let task = Task<Void, Never> {
            try? await withThrowingDiscardingTaskGroup { group in
                try await server.executeThenClose { inbound in
                    for try await connection in inbound {
                        group.addTask { await self.serve(connection) }
                    }
                }
            }
        }
        state.withLockedValue {
            $0.serverChannel = server.channel
            $0.serveTask = task
        }
        return URL(string: "http://127.0.0.1:\(port)")!
    }

    /// Stops listening, closes every connection (ending stalled and held-back requests at once),
    /// and shuts the forwarding client down. Calling it again does nothing.
    public func stop() async throws {
        let (channels, task, first) = state.withLockedValue { s -> ([any Channel], Task<Void, Never>?, Bool) in
            defer { s.stopped = true }
            return (Array(s.connections.values) + (s.serverChannel.map { [$0] } ?? []), s.serveTask, !s.stopped)
        }
        guard first else { return }
        for channel in channels { try? await channel.close() }
        task?.cancel()
        await task?.value
        try await client.shutdown()
    }

    /// Runs `body` with the proxy started (given its endpoint URL), stopping it afterwards whatever happens.
    public func run<T>(_ body: (URL) async throws -> T) async throws -> T {
        do {
            let result = try await body(try await start())
            try await stop()
            return result
        } catch {
            try? await stop()
            throw error
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
                    let exchange = Exchange(head: head, body: body, action: action, proxy: self,
                                            channel: connection.channel, outbound: outbound)
                    guard try await handler(exchange) else { return }
                }
            }
        }
    }

    private func forward(_ head: HTTPRequestHead, _ body: ByteBuffer) async throws -> (status: Int, headers: HTTPHeaders, body: Data) {
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
}
