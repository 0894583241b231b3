import Foundation

/// SQS endpoint selection, as the AWS CLI does it.
public enum SQSEndpoint {
    /// The public regional endpoint: `https://sqs.<region>.amazonaws.com` (`.amazonaws.com.cn` in China).
    public static func regional(region: String) -> URL {
        let suffix = region.hasPrefix("cn-") ? "amazonaws.com.cn" : "amazonaws.com"
        return URL(string: "https://sqs.\(region).\(suffix)")!
    }

    /// Checks that a configured endpoint is an absolute http(s) URL with a host.
    public static func parse(_ text: String, from source: String) throws -> URL {
        guard let url = URL(string: text), let scheme = url.scheme?.lowercased(), scheme == "http" || scheme == "https",
              let host = url.host, !host.isEmpty
        else {
            throw SQSConfigurationError("invalid SQS endpoint \"\(text)\" from \(source): expected an absolute http:// or https:// URL")
        }
        return url
    }
}
