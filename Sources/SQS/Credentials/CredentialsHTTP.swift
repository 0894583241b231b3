import AsyncHTTPClient
import Foundation
import NIOCore
import NIOHTTP1
import NIOPosix

/// The HTTP exchanges of the credential providers (STS, the SSO portal, the container and
/// instance metadata endpoints): one request, a short deadline, the answer in memory.
enum CredentialsHTTP {
    struct Answer {
        var status: Int
        var body: Data
        var text: String { String(decoding: body, as: UTF8.self) }
    }

    /// The request never reached a server: refused, unreachable, or no connection in time.
    struct Unreachable: Error, CustomStringConvertible {
        var url: String
        var reason: String
        var description: String { "no answer from \(url): \(reason)" }
    }

    /// The server accepted the connection but did not answer in time.
    struct NoAnswerInTime: Error, CustomStringConvertible {
        var url: String
        var timeout: Duration
        var description: String { "no answer from \(url) within \(timeout)" }
    }

    static func send(_ method: HTTPMethod, _ url: String, headers: [(String, String)] = [], body: Data? = nil,
                     timeout: Duration) async throws -> Answer {
        var request = HTTPClientRequest(url: url)
        request.method = method
        for (name, value) in headers { request.headers.add(name: name, value: value) }
        request.headers.add(name: "User-Agent", value: "loginvault-credentials/1")
        if let body { request.body = .bytes(ByteBuffer(bytes: body)) }
        let nanos = timeout.components.seconds * 1_000_000_000 + timeout.components.attoseconds / 1_000_000_000
        do {
            let response = try await HTTPClient.shared.execute(request, timeout: .nanoseconds(nanos))
            let bytes = try await response.body.collect(upTo: 1 << 20)
            return Answer(status: Int(response.status.code), body: Data(bytes.readableBytesView))
        } catch let error as HTTPClientError where error == .connectTimeout {
            throw Unreachable(url: url, reason: "no connection within \(timeout)")
        } catch let error as HTTPClientError where error == .deadlineExceeded || error == .readTimeout {
            throw NoAnswerInTime(url: url, timeout: timeout)
        } catch let error as HTTPClientError {
            throw Unreachable(url: url, reason: "\(error)")
        } catch is NIOConnectionError {
            throw Unreachable(url: url, reason: "connection refused or unreachable")
        } catch let error as IOError {
            throw Unreachable(url: url, reason: "\(error)")
        }
    }

    /// `application/x-www-form-urlencoded` with the SigV4 unreserved set.
    static func formEncode(_ fields: [(String, String)]) -> String {
        var allowed = CharacterSet.alphanumerics
        allowed.insert(charactersIn: "-_.~")
        allowed = allowed.intersection(CharacterSet(charactersIn: Unicode.Scalar(0)...Unicode.Scalar(127)))
        return fields.map { name, value in
            "\(name.addingPercentEncoding(withAllowedCharacters: allowed) ?? name)="
                + (value.addingPercentEncoding(withAllowedCharacters: allowed) ?? value)
        }.joined(separator: "&")
    }
}
