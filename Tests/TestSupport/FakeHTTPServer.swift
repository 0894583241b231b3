import Foundation
import NIOConcurrencyHelpers
import NIOCore
import NIOHTTP1

/// A tiny HTTP server on 127.0.0.1 that answers every request itself, for the endpoints no real
/// component here offers (the container credentials endpoint, the SSO portal, an IMDS that
/// enforces its tokens). Built on `LoopbackHTTPProxy`, which never forwards here.
public enum FakeHTTPServer {
    public struct Request: Sendable {
        public let method: String
        /// The request target: path and query.
        public let uri: String
        public let headers: HTTPHeaders
        public let body: Data
        public var path: String { String(uri.split(separator: "?", maxSplits: 1).first ?? "") }
    }

    public struct Response: Sendable {
        public var status: Int
        public var body: Data
        public var headers: HTTPHeaders

        public init(status: Int = 200, body: String = "", headers: HTTPHeaders = [:]) {
            self.status = status
            self.body = Data(body.utf8)
            self.headers = headers
        }

        /// A JSON object as the body.
        public static func json(_ object: [String: Any], status: Int = 200) -> Response {
            let data = (try? JSONSerialization.data(withJSONObject: object)) ?? Data()
            return Response(status: status, body: String(decoding: data, as: UTF8.self), headers: ["Content-Type": "application/json"])
        }
    }

    public typealias Handler = @Sendable (Request) async throws -> Response

    /// Runs `body` with a server answering with `handler` (given its base URL), stopped afterwards.
    public static func with<T>(_ handler: @escaping Handler, _ body: (URL) async throws -> T) async throws -> T {
        let core = LoopbackHTTPProxy(upstream: URL(string: "http://127.0.0.1:9")!) { exchange in
            let request = Request(method: exchange.head.method.rawValue, uri: exchange.head.uri, headers: exchange.head.headers,
                                  body: Data(exchange.body.readableBytesView))
            let response = try await handler(request)
            try await exchange.respond(status: response.status, headers: response.headers, body: response.body)
            return true
        }
        return try await core.run(body)
    }
}

/// A fake container credentials endpoint (ECS task role, EKS Pod Identity): it demands an
/// `Authorization` header equal to `token` (when one is set) and issues new, unique
/// credentials at every fetch, valid for `lifetime`.
public final class FakeContainerCredentials: Sendable {
    public let token: String?
    public let lifetime: Duration
    private let issued = NIOLockedValueBox<[String]>([])
    private let expirations = NIOLockedValueBox<[String: Date]>([:])
    private let refused = NIOLockedValueBox(0)
    private let down = NIOLockedValueBox(false)

    public init(token: String?, lifetime: Duration) {
        self.token = token
        self.lifetime = lifetime
    }

    /// Access key ids issued so far, oldest first.
    public var issuedKeys: [String] { issued.withLockedValue { $0 } }
    /// When the credentials with access key id `key` expire (nil: not issued here).
    public func expiration(of key: String) -> Date? { expirations.withLockedValue { $0[key] } }

    /// While true, every request is answered 503 (an endpoint outage).
    public var outage: Bool {
        get { down.withLockedValue { $0 } }
        set { down.withLockedValue { $0 = newValue } }
    }

    /// Requests refused for a missing or wrong token.
    public var refusedRequests: Int { refused.withLockedValue { $0 } }

    public func run<T>(_ body: (URL) async throws -> T) async throws -> T {
        try await FakeHTTPServer.with({ request in
            if self.outage { return FakeHTTPServer.Response(status: 503, body: "unavailable") }
            if let token = self.token, request.headers.first(name: "Authorization") != token {
                self.refused.withLockedValue { $0 += 1 }
                return .json(["code": "AccessDenied", "message": "bad token"], status: 403)
            }
            let key = self.issued.withLockedValue { keys in
                keys.append("ASIAFAKE\(keys.count)\(UInt32.random(in: 0...UInt32.max))")
                return keys.last!
            }
            let seconds = Double(self.lifetime.components.seconds) + Double(self.lifetime.components.attoseconds) / 1e18
            let expiration = Date().addingTimeInterval(seconds)
            self.expirations.withLockedValue { $0[key] = expiration }
            let formatter = ISO8601DateFormatter()
            formatter.formatOptions = [.withInternetDateTime, .withFractionalSeconds]
            return .json([
                "AccessKeyId": key, "SecretAccessKey": "fake-secret-\(key)", "Token": "fake-session-token-\(key)",
                "Expiration": formatter.string(from: expiration),
            ])
        }, body)
    }
}
