import Crypto
import Foundation
import Synchronization

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
    /// The last signing key derived, for reuse while the day, secret, region and service stay the same.
    private let keyCache = SigningKeyCache()

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
            lowercaseHex(SHA256.hash(data: Array(canonical.utf8))),
        ].joined(separator: "\n")
        let signature = lowercaseHex(HMAC<SHA256>.authenticationCode(for: Array(stringToSign.utf8), using: signingKey(day: day)))
        let authorization = "AWS4-HMAC-SHA256 Credential=\(credentials.accessKeyId)/\(scope), SignedHeaders=\(signedHeaders), Signature=\(signature)"
        return SigV4Signature(
            canonicalRequest: canonical, stringToSign: stringToSign, signedHeaders: signedHeaders,
            signature: signature, authorization: authorization,
            headers: request.headers + unsignedHeaders + [("Authorization", authorization)]
        )
    }

    /// `kSigning = HMAC(HMAC(HMAC(HMAC("AWS4" + secret, day), region), service), "aws4_request")`.
    /// Derived once per day (and secret, region, service), not on every request.
    func signingKey(day: String) -> SymmetricKey {
        let scope = SigningKeyCache.Scope(day: day, secret: credentials.secretAccessKey, region: region, service: service)
        if let key = keyCache.key(for: scope) { return key }
        var key = SymmetricKey(data: Array(("AWS4" + credentials.secretAccessKey).utf8))
        for part in [day, region, service, "aws4_request"] {
            key = SymmetricKey(data: HMAC<SHA256>.authenticationCode(for: Array(part.utf8), using: key))
        }
        keyCache.store(key, for: scope)
        return key
    }

    /// `("20150830T123600Z", "20150830")` for a date, in UTC (the proleptic Gregorian
    /// calendar, worked out from the seconds since 1970 without `Calendar`, which cost
    /// more than the rest of the signature).
    public static func timestamps(_ date: Date) -> (amzDate: String, day: String) {
        let seconds = Int64(date.timeIntervalSince1970.rounded(.down))
        let days = seconds >= 0 ? seconds / 86_400 : (seconds - 86_399) / 86_400
        let secondOfDay = Int(seconds - days * 86_400)
        // Howard Hinnant's civil_from_days.
        let z = days + 719_468
        let era = (z >= 0 ? z : z - 146_096) / 146_097
        let dayOfEra = z - era * 146_097
        let yearOfEra = (dayOfEra - dayOfEra / 1_460 + dayOfEra / 36_524 - dayOfEra / 146_096) / 365
        let dayOfYear = dayOfEra - (365 * yearOfEra + yearOfEra / 4 - yearOfEra / 100)
        let mp = (5 * dayOfYear + 2) / 153
        let dayOfMonth = Int(dayOfYear - (153 * mp + 2) / 5 + 1)
        let month = Int(mp < 10 ? mp + 3 : mp - 9)
        let year = Int(yearOfEra + era * 400 + (month <= 2 ? 1 : 0))
        func pad(_ v: Int, _ width: Int) -> String {
            let s = String(v)
            return String(repeating: "0", count: max(0, width - s.count)) + s
        }
        let day = pad(year, 4) + pad(month, 2) + pad(dayOfMonth, 2)
        return (day + "T" + pad(secondOfDay / 3600, 2) + pad(secondOfDay / 60 % 60, 2) + pad(secondOfDay % 60, 2) + "Z", day)
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

/// The last derived signing key of a signer (and the copies of it), behind a lock.
final class SigningKeyCache: Sendable {
    struct Scope: Equatable {
        var day: String
        var secret: String
        var region: String
        var service: String
    }

    private let last = Mutex<(scope: Scope, key: SymmetricKey)?>(nil)

    func key(for scope: Scope) -> SymmetricKey? {
        last.withLock { $0?.scope == scope ? $0?.key : nil }
    }

    func store(_ key: SymmetricKey, for scope: Scope) {
        last.withLock { $0 = (scope, key) }
    }
}
