import Crypto

/// A request as SigV4 sees it: method, path and query as they go on the wire, headers, body.
public struct SigV4Request: Sendable {
    public var method: String
    /// The path as sent (percent-encoded as on the wire), without the query; "" means "/".
    public var path: String
    /// The raw query string without the leading "?"; may be percent-encoded or not.
    public var query: String
    /// Header fields in order; a name may repeat.
    public var headers: [(name: String, value: String)]
    public var body: [UInt8]

    public init(method: String, path: String, query: String = "", headers: [(name: String, value: String)], body: [UInt8] = []) {
        self.method = method
        self.path = path
        self.query = query
        self.headers = headers
        self.body = body
    }

    /// The first value of a header, looked up case-insensitively.
    public func header(_ name: String) -> String? {
        let lower = name.lowercased()
        return headers.first { $0.name.lowercased() == lower }?.value
    }
}

/// The pieces of the SigV4 canonical request (RFC 3986 encoding, path normalisation, sorted
/// query and headers), each exposed so the tests can check them separately.
public enum CanonicalRequest {
    /// Builds the canonical request string.
    ///
    /// - Parameters:
    ///   - normalizePath: remove `.`/`..` segments and empty segments (every service but S3).
    ///   - doubleEncodePath: percent-encode the already-encoded path once more (every service but S3).
    public static func build(_ request: SigV4Request, normalizePath: Bool = true, doubleEncodePath: Bool = true) -> (canonicalRequest: String, signedHeaders: String) {
        let (headerBlock, signedHeaders) = canonicalHeaders(request.headers)
        let lines = [
            request.method.uppercased(),
            canonicalURI(request.path, normalize: normalizePath, doubleEncode: doubleEncodePath),
            canonicalQuery(request.query),
            headerBlock,
            signedHeaders,
            payloadHash(request.body),
        ]
        return (lines.joined(separator: "\n"), signedHeaders)
    }

    /// Hex SHA-256 of the body.
    public static func payloadHash(_ body: [UInt8]) -> String {
        lowercaseHex(SHA256.hash(data: body))
    }

    /// The canonical URI: optionally normalised, each segment percent-encoded.
    public static func canonicalURI(_ path: String, normalize: Bool, doubleEncode: Bool) -> String {
        var path = path.isEmpty ? "/" : path
        if normalize { path = normalizedPath(path) }
        let segments = path.split(separator: "/", omittingEmptySubsequences: false)
        return segments.map { segment in
            doubleEncode ? uriEncode(String(segment)) : uriEncode(percentDecoded(String(segment)))
        }.joined(separator: "/")
    }

    /// RFC 3986 dot-segment removal plus collapsing of empty segments; keeps a trailing slash.
    public static func normalizedPath(_ path: String) -> String {
        var output: [Substring] = []
        let parts = path.split(separator: "/", omittingEmptySubsequences: true)
        for part in parts {
            switch part {
            case ".": continue
            case "..": if !output.isEmpty { output.removeLast() }
            default: output.append(part)
            }
        }
        var result = "/" + output.joined(separator: "/")
        let last = path.split(separator: "/", omittingEmptySubsequences: false).last
        let endsWithDir = path.hasSuffix("/") || last == "." || last == ".."
        if endsWithDir && !output.isEmpty { result += "/" }
        return result
    }

    /// The canonical query: each name and value decoded then RFC 3986-encoded, sorted by name then value.
    public static func canonicalQuery(_ query: String) -> String {
        guard !query.isEmpty else { return "" }
        var pairs: [(String, String)] = []
        for component in query.split(separator: "&", omittingEmptySubsequences: true) {
            let name: Substring
            let value: Substring
            if let eq = component.firstIndex(of: "=") {
                name = component[..<eq]
                value = component[component.index(after: eq)...]
            } else {
                name = component
                value = ""
            }
            pairs.append((uriEncode(percentDecoded(String(name))), uriEncode(percentDecoded(String(value)))))
        }
        pairs.sort { lhs, rhs in
            lhs.0 != rhs.0 ? Array(lhs.0.utf8).lexicographicallyPrecedes(Array(rhs.0.utf8))
                : Array(lhs.1.utf8).lexicographicallyPrecedes(Array(rhs.1.utf8))
        }
        return pairs.map { "\($0.0)=\($0.1)" }.joined(separator: "&")
    }

    /// The canonical header block (each line `name:value\n`) and the signed-header list.
    /// Names are lower-cased and sorted; repeated names have their values joined by commas in
    /// order; values are trimmed, line folds removed, and runs of spaces collapsed to one.
    public static func canonicalHeaders(_ headers: [(name: String, value: String)]) -> (block: String, signedHeaders: String) {
        // Lower-cased names in their first-seen order, each with its values (a few headers:
        // linear lookups beat hashing here).
        var grouped: [(name: String, values: [String])] = []
        for (name, value) in headers {
            let lower = name.lowercased()
            let canonical = canonicalHeaderValue(value)
            if let i = grouped.firstIndex(where: { $0.name == lower }) {
                grouped[i].values.append(canonical)
            } else {
                grouped.append((lower, [canonical]))
            }
        }
        grouped.sort { $0.name.utf8.lexicographicallyPrecedes($1.name.utf8) }
        var block = ""
        for (name, values) in grouped {
            block += name + ":" + values.joined(separator: ",") + "\n"
        }
        return (block, grouped.map(\.name).joined(separator: ";"))
    }

    /// Trims a header value and collapses every run of whitespace (including line folds) to one space.
    public static func canonicalHeaderValue(_ value: String) -> String {
        // Most values have nothing to trim or collapse: return them as they are.
        var previousSpace = true  // so a leading space counts as needing work
        var clean = true
        for byte in value.utf8 {
            if byte == UInt8(ascii: "\t") || byte == UInt8(ascii: "\n") || byte == UInt8(ascii: "\r") || (byte == UInt8(ascii: " ") && previousSpace) {
                clean = false
                break
            }
            previousSpace = byte == UInt8(ascii: " ")
        }
        if clean && !previousSpace { return value }
        if value.isEmpty { return value }
        var out = ""
        var pendingSpace = false
        for ch in value {
            if ch == " " || ch == "\t" || ch == "\n" || ch == "\r" || ch == "\r\n" {
                pendingSpace = !out.isEmpty
            } else {
                if pendingSpace { out.append(" ") }
                pendingSpace = false
                out.append(ch)
            }
        }
        return out
    }

    /// RFC 3986 percent-encoding of every byte except the unreserved characters `A-Z a-z 0-9 - . _ ~`.
    public static func uriEncode(_ string: String) -> String {
        var out = [UInt8]()
        out.reserveCapacity(string.utf8.count)
        let hexDigits = Array("0123456789ABCDEF".utf8)
        for byte in string.utf8 {
            switch byte {
            case UInt8(ascii: "A")...UInt8(ascii: "Z"), UInt8(ascii: "a")...UInt8(ascii: "z"),
                 UInt8(ascii: "0")...UInt8(ascii: "9"), UInt8(ascii: "-"), UInt8(ascii: "."),
                 UInt8(ascii: "_"), UInt8(ascii: "~"):
                out.append(byte)
            default:
                out.append(UInt8(ascii: "%"))
                out.append(hexDigits[Int(byte >> 4)])
                out.append(hexDigits[Int(byte & 0x0F)])
            }
        }
        return String(decoding: out, as: UTF8.self)
    }

    /// Decodes `%XX` escapes; a malformed escape is kept literally.
    public static func percentDecoded(_ string: String) -> String {
        guard string.utf8.contains(UInt8(ascii: "%")) else { return string }
        let bytes = Array(string.utf8)
        var out = [UInt8]()
        var i = 0
        while i < bytes.count {
            if bytes[i] == UInt8(ascii: "%"), i + 2 < bytes.count,
               let hi = hexValue(bytes[i + 1]), let lo = hexValue(bytes[i + 2]) {
                out.append(hi << 4 | lo)
                i += 3
            } else {
                out.append(bytes[i])
                i += 1
            }
        }
        return String(decoding: out, as: UTF8.self)
    }

    private static func hexValue(_ byte: UInt8) -> UInt8? {
        switch byte {
        case UInt8(ascii: "0")...UInt8(ascii: "9"): byte - UInt8(ascii: "0")
        case UInt8(ascii: "a")...UInt8(ascii: "f"): byte - UInt8(ascii: "a") + 10
        case UInt8(ascii: "A")...UInt8(ascii: "F"): byte - UInt8(ascii: "A") + 10
        default: nil
        }
    }
}

/// Lower-case hex of a digest or MAC (also what SQS's `MD5OfBody` is written in).
public func lowercaseHex<D: Sequence>(_ bytes: D) -> String where D.Element == UInt8 {
    let digits: StaticString = "0123456789abcdef"
    var out = [UInt8]()
    out.reserveCapacity(bytes.underestimatedCount * 2)
    for byte in bytes {
        out.append(digits.utf8Start[Int(byte >> 4)])
        out.append(digits.utf8Start[Int(byte & 0x0F)])
    }
    return String(decoding: out, as: UTF8.self)
}
