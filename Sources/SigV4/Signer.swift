import Crypto
import Foundation

/// The result of signing: every intermediate value, and the headers to send.
public struct SigV4Signature: Sendable {
    public var canonicalRequest: String
    public var stringToSign: String
    public var signedHeaders: String
    public var signature: String
    /// The full `Authorization` header value.
    public var authorization: String
    /// The request's headers plus `X-Amz-Date`, `X-Amz-Security-Token` (if any) and `Authorization`.
    public var headers: [(name: String, value: String)]
}

/// Signs requests with AWS Signature Version 4 (`AWS4-HMAC-SHA256`, header-based).
public struct SigV4Signer: Sendable {
    /// Where the session token of temporary credentials goes.
    public enum SecurityTokenPlacement: Sendable {
        /// Added as `X-Amz-Security-Token` before signing, so it is signed (what the SDKs do).
        case signed
        /// Added after signing, unsigned (some services, and one case of the AWS suite, expect this).
        case appendedAfterSigning
    }

    public var credentials: AWSCredentials
    public var region: String
    public var service: String
    /// `false` for S3-style services that sign the path as is.
    public var normalizePath: Bool
    public var doubleEncodePath: Bool
    public var securityTokenPlacement: SecurityTokenPlacement

    public init(
        credentials: AWSCredentials, region: String, service: String,
        normalizePath: Bool = true, doubleEncodePath: Bool = true,
        securityTokenPlacement: SecurityTokenPlacement = .signed
    ) {
        self.credentials = credentials
        self.region = region
        self.service = service
        self.normalizePath = normalizePath
        self.doubleEncodePath = doubleEncodePath
        self.securityTokenPlacement = securityTokenPlacement
    }

    /// Signs `request` at `date`. An `X-Amz-Date` header is set to `date` (replacing any present);
    /// the request's headers are all signed, so leave out hop-by-hop ones such as `User-Agent`.
    public func sign(_ request: SigV4Request, date: Date) -> SigV4Signature {
        let (amzDate, day) = Self.timestamps(date)
        var request = request
        request.headers.removeAll { $0.name.lowercased() == "x-amz-date" || $0.name.lowercased() == "authorization" }
        request.headers.append(("X-Amz-Date", amzDate))
        var unsignedHeaders: [(name: String, value: String)] = []
        if let token = credentials.sessionToken, request.header("x-amz-security-token") == nil {
            switch securityTokenPlacement {
            case .signed: request.headers.append(("X-Amz-Security-Token", token))
            case .appendedAfterSigning: unsignedHeaders.append(("X-Amz-Security-Token", token))
            }
        }

        let (canonical, signedHeaders) = CanonicalRequest.build(request, normalizePath: normalizePath, doubleEncodePath: doubleEncodePath)
        let scope = "\(day)/\(region)/\(service)/aws4_request"
        let stringToSign = [
            "AWS4-HMAC-SHA256", amzDate, scope,
            hex(SHA256.hash(data: Array(canonical.utf8))),
        ].joined(separator: "\n")
        let signature = hex(HMAC<SHA256>.authenticationCode(for: Array(stringToSign.utf8), using: signingKey(day: day)))
        let authorization = "AWS4-HMAC-SHA256 Credential=\(credentials.accessKeyId)/\(scope), SignedHeaders=\(signedHeaders), Signature=\(signature)"
        return SigV4Signature(
            canonicalRequest: canonical, stringToSign: stringToSign, signedHeaders: signedHeaders,
            signature: signature, authorization: authorization,
            headers: request.headers + unsignedHeaders + [("Authorization", authorization)]
        )
    }

    /// `kSigning = HMAC(HMAC(HMAC(HMAC("AWS4" + secret, day), region), service), "aws4_request")`.
    func signingKey(day: String) -> SymmetricKey {
        var key = SymmetricKey(data: Array(("AWS4" + credentials.secretAccessKey).utf8))
        for part in [day, region, service, "aws4_request"] {
            key = SymmetricKey(data: HMAC<SHA256>.authenticationCode(for: Array(part.utf8), using: key))
        }
        return key
    }

    /// `("20150830T123600Z", "20150830")` for a date, in UTC.
    public static func timestamps(_ date: Date) -> (amzDate: String, day: String) {
        var calendar = Calendar(identifier: .gregorian)
        calendar.timeZone = TimeZone(identifier: "UTC")!
        let c = calendar.dateComponents([.year, .month, .day, .hour, .minute, .second], from: date)
        func pad(_ v: Int?, _ width: Int) -> String {
            let s = String(v ?? 0)
            return String(repeating: "0", count: max(0, width - s.count)) + s
        }
        let day = pad(c.year, 4) + pad(c.month, 2) + pad(c.day, 2)
        return (day + "T" + pad(c.hour, 2) + pad(c.minute, 2) + pad(c.second, 2) + "Z", day)
    }

    /// The `Host` header for a URL as the SDKs send and sign it: the host, plus `:port` unless
    /// the port is absent or the scheme's default; IPv6 literals keep their brackets.
    public static func hostHeader(for url: URL) -> String {
        var host = url.host ?? ""
        if host.contains(":") && !host.hasPrefix("[") { host = "[\(host)]" }
        let scheme = url.scheme?.lowercased()
        if let port = url.port, !(scheme == "http" && port == 80) && !(scheme == "https" && port == 443) {
            return "\(host):\(port)"
        }
        return host
    }
}
