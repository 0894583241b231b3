import Foundation
import NIOCore
import NIOHTTP1

/// Turns a non-2xx response into an `SQSError`: JSON (`__type`, `message`), the
/// `x-amzn-query-error` / `x-amzn-errortype` headers, or an XML `ErrorResponse` (what moto and
/// some AWS front ends send, even to JSON clients).
enum ErrorResponse {
    static func parse(status: Int, headers: HTTPHeaders, body: ByteBuffer, action: String) -> SQSError {
        let data = Data(body.readableBytesView)
        var code: String?
        var message: String?
        var requestId = headers.first(name: "x-amzn-requestid") ?? headers.first(name: "x-amz-request-id")
        var faultType: String?

        if let object = try? JSONSerialization.jsonObject(with: data) as? [String: Any] {
            code = (object["__type"] as? String) ?? (object["code"] as? String) ?? (object["Code"] as? String)
            message = (object["message"] as? String) ?? (object["Message"] as? String)
        } else if let text = String(data: data, encoding: .utf8), text.contains("<") {
            code = xmlElement("Code", in: text)
            message = xmlElement("Message", in: text)
            faultType = xmlElement("Type", in: text)
            requestId = requestId ?? xmlElement("RequestId", in: text) ?? xmlElement("RequestID", in: text)
        }
        if code == nil, let header = headers.first(name: "x-amzn-errortype") { code = header }

        var queryCode: String?
        if let header = headers.first(name: "x-amzn-query-error") {
            let parts = header.split(separator: ";", maxSplits: 1).map(String.init)
            queryCode = parts.first
            if parts.count > 1 { faultType = parts[1] }
        }
        // "com.amazonaws.sqs#QueueDoesNotExist" and "Code:http://..." both name "QueueDoesNotExist"/"Code".
        if var c = code {
            if let hash = c.lastIndex(of: "#") { c = String(c[c.index(after: hash)...]) }
            if let colon = c.firstIndex(of: ":") { c = String(c[..<colon]) }
            code = c
        }
        let finalCode = SQSError.normalizedCode(code ?? queryCode ?? "HTTP\(status)")
        let fallback = String(decoding: data.prefix(300), as: UTF8.self)
        return SQSError(
            code: finalCode, message: message ?? (fallback.isEmpty ? "HTTP \(status) with an empty body" : fallback),
            action: action, httpStatus: status, requestId: requestId, queryErrorCode: queryCode, faultType: faultType)
    }

    /// The text of the first `<name>...</name>` element, entity-decoded.
    static func xmlElement(_ name: String, in text: String) -> String? {
        guard let open = text.range(of: "<\(name)>"),
              let close = text.range(of: "</\(name)>", range: open.upperBound..<text.endIndex)
        else { return nil }
        return String(text[open.upperBound..<close.lowerBound])
            .replacingOccurrences(of: "&lt;", with: "<").replacingOccurrences(of: "&gt;", with: ">")
            .replacingOccurrences(of: "&quot;", with: "\"").replacingOccurrences(of: "&apos;", with: "'")
            .replacingOccurrences(of: "&amp;", with: "&")
    }
}
