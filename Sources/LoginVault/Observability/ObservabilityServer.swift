import NIOCore
import NIOHTTP1
import NIOPosix

/// A small HTTP/1.1 listener on SwiftNIO for `load --metrics-address`: `GET /metrics`
/// (Prometheus text format), `GET /healthz` and `GET /readyz` (200 or 503, one line of
/// JSON). Anything else is 404 (405 for a method other than GET or HEAD). It reads no
/// request body and serves no file.
public final class ObservabilityServer: Sendable {
    /// One answer: status, content type, body.
    public struct Response: Sendable {
        public let status: Int
        public let contentType: String
        public let body: String

        public init(status: Int, contentType: String, body: String) {
            self.status = status
            self.contentType = contentType
            self.body = body
        }
    }

    private let group: MultiThreadedEventLoopGroup
    private let server: NIOAsyncChannel<NIOAsyncChannel<HTTPServerRequestPart, HTTPServerResponsePart>, Never>
    private let serving: Task<Void, Never>
    /// The address actually bound (with the port chosen when 0 was asked for), e.g. `127.0.0.1:9464`.
    public let boundAddress: String

    /// Binds `host:port` and serves `route(path)` for every GET.
    public init(host: String, port: Int, route: @escaping @Sendable (String) async -> Response) async throws {
        let group = MultiThreadedEventLoopGroup(numberOfThreads: 1)
        let server: NIOAsyncChannel<NIOAsyncChannel<HTTPServerRequestPart, HTTPServerResponsePart>, Never>
        do {
            server = try await ServerBootstrap(group: group)
                .serverChannelOption(.socketOption(.so_reuseaddr), value: 1)
                .bind(host: host, port: port) { channel in
                    channel.eventLoop.makeCompletedFuture {
                        try channel.pipeline.syncOperations.configureHTTPServerPipeline(withErrorHandling: true)
                        return try NIOAsyncChannel<HTTPServerRequestPart, HTTPServerResponsePart>(wrappingChannelSynchronously: channel)
                    }
                }
        } catch {
            try? await group.shutdownGracefully()
            throw error
        }
        self.group = group
        self.server = server
        let local = server.channel.localAddress
        let shownHost = local?.ipAddress.map { $0.contains(":") ? "[\($0)]" : $0 } ?? host
        boundAddress = "\(shownHost):\(local?.port ?? port)"
        serving = Task {
            try? await server.executeThenClose { connections in
                await withDiscardingTaskGroup { group in
                    do {
                        for try await connection in connections {
                            group.addTask { await Self.serve(connection, route: route) }
                        }
                    } catch {}
                }
            }
        }
    }

    /// Stops listening and closes open connections; call once.
    public func stop() async {
        try? await server.channel.close()
        serving.cancel()
        await serving.value
        try? await group.shutdownGracefully()
    }

    private static func serve(_ connection: NIOAsyncChannel<HTTPServerRequestPart, HTTPServerResponsePart>,
                              route: @Sendable (String) async -> Response) async {
        try? await connection.executeThenClose { inbound, outbound in
            var head: HTTPRequestHead?
            for try await part in inbound {
                switch part {
                case .head(let requestHead):
                    head = requestHead
                case .body:
                    continue
                case .end:
                    guard let request = head else { continue }
                    head = nil
                    let path = String(request.uri.split(separator: "?", maxSplits: 1, omittingEmptySubsequences: false).first ?? "")
                    let response: Response
                    switch request.method {
                    case .GET, .HEAD: response = await route(path)
                    default: response = Response(status: 405, contentType: "text/plain; charset=utf-8", body: "only GET and HEAD\n")
                    }
                    var headers = HTTPHeaders()
                    headers.add(name: "Content-Type", value: response.contentType)
                    headers.add(name: "Content-Length", value: String(response.body.utf8.count))
                    headers.add(name: "Cache-Control", value: "no-store")
                    if !request.isKeepAlive { headers.add(name: "Connection", value: "close") }
                    try await outbound.write(.head(HTTPResponseHead(version: request.version,
                                                                    status: HTTPResponseStatus(statusCode: response.status),
                                                                    headers: headers)))
                    if request.method != .HEAD {
                        try await outbound.write(.body(.byteBuffer(ByteBuffer(string: response.body))))
                    }
                    try await outbound.write(.end(nil))
                    if !request.isKeepAlive { return }
                }
            }
        }
    }
}
