import Foundation
import SQS

/// Whether a queue is ready for `load`: the endpoint answers, the queue exists
/// and its attributes are readable with these credentials. Asked once before the
/// first receive (and by `loginvault check`), within a time bound.
public enum QueueReadiness {
    /// What the check found: the queue's URL and how many messages wait, when it worked.
    public struct Found: Sendable {
        public var queueURL: String
        public var messagesWaiting: Int?
    }

    /// Resolves `queue` (a name or URL) and reads its attributes, giving up after `timeout`.
    /// Returns the check's line, and what was found when it worked.
    public static func check(client: SQSClient, queue: String, timeout: Duration) async -> (CheckResult, Found?) {
        let configuration = client.configuration
        do {
            let found = try await withTimeout(timeout, what: "the SQS endpoint \(configuration.endpoint.absoluteString)") {
                let url = try await againIfGarbled { try await client.queueURL(for: queue) }
                let attributes = try await againIfGarbled {
                    try await client.getQueueAttributes(queueURL: url, names: ["ApproximateNumberOfMessages"])
                }
                return Found(queueURL: url, messagesWaiting: attributes["ApproximateNumberOfMessages"].flatMap { Int($0) })
            }
            let waiting = found.messagesWaiting.map { ", about \($0) messages waiting" } ?? ""
            return (CheckResult("queue", .ok, "\(found.queueURL)\(waiting)"), found)
        } catch {
            return (CheckResult("queue", .failed, "\(queue): \(describe(error))",
                                fix: advice(for: error, queue: queue, configuration: configuration)), nil)
        }
    }

    /// Asks again (up to 5 times) when an answer arrived garbled (`InvalidResponse`: a
    /// truncated or corrupted body, which the client does not retry by itself); both
    /// questions only read. `timeout` above still bounds the whole check.
    static func againIfGarbled<T: Sendable>(_ operation: @Sendable () async throws -> T) async throws -> T {
        var attempt = 0
        while true {
            attempt += 1
            do {
                return try await operation()
            } catch let error as SQSError where error.code == SQSError.LocalCode.invalidResponse && attempt < 5 {
                try await Task.sleep(for: .milliseconds(100 << attempt))
            }
        }
    }

    /// The error without the words an operator does not need.
    static func describe(_ error: any Error) -> String {
        if let error = error as? SQSError { return "\(error.code): \(error.message)" }
        return "\(error)"
    }

    /// What to do about a queue error, when it is one an operator can fix.
    public static func advice(for error: any Error, queue: String, configuration: SQSConfiguration) -> String? {
        if error is TimeoutError {
            return "check --endpoint-url (or AWS_ENDPOINT_URL_SQS), the network, and --region"
        }
        guard let error = error as? SQSError else { return nil }
        switch error.code {
        case "QueueDoesNotExist":
            if let named = regionNamed(in: queue), named != configuration.region {
                return "the queue URL names region \(named) but requests go to \(configuration.region) (\(configuration.endpoint.absoluteString)): use --region \(named)"
            }
            return "check the queue's name and --region (requests go to \(configuration.region), \(configuration.endpoint.absoluteString))"
        case "AccessDenied", "AccessDeniedException":
            return "the credentials (\(configuration.credentialsSource)) need sqs:GetQueueUrl, sqs:GetQueueAttributes, sqs:ReceiveMessage, sqs:DeleteMessage and sqs:ChangeMessageVisibility on this queue"
        case "InvalidClientTokenId", "UnrecognizedClientException", "SignatureDoesNotMatch", "IncompleteSignature", "ExpiredToken":
            return "check the AWS credentials (from \(configuration.credentialsSource)) and --profile"
        case SQSError.LocalCode.transport, SQSError.LocalCode.timeout:
            return "check --endpoint-url (or AWS_ENDPOINT_URL_SQS) and the network"
        default:
            return nil
        }
    }

    /// The region a queue URL names (`https://sqs.eu-west-1.amazonaws.com/...` or the
    /// legacy `https://eu-west-1.queue.amazonaws.com/...`); nil for a name or another host.
    public static func regionNamed(in queue: String) -> String? {
        guard let host = URL(string: queue)?.host?.lowercased() else { return nil }
        let parts = host.split(separator: ".").map(String.init)
        if parts.count >= 4, parts[0] == "sqs", parts[2] == "amazonaws" { return parts[1] }
        if parts.count >= 4, parts[1] == "queue", parts[2] == "amazonaws" { return parts[0] }
        return nil
    }
}

/// An operation took longer than its bound.
public struct TimeoutError: Error, Sendable, CustomStringConvertible {
    public let what: String
    public let after: Duration
    public var description: String { "no answer from \(what) within \(after.components.seconds) s" }
}

/// Runs `operation`, cancelling it and throwing `TimeoutError` once `timeout` has passed.
public func withTimeout<T: Sendable>(_ timeout: Duration, what: String,
                                     _ operation: @escaping @Sendable () async throws -> T) async throws -> T {
    try await withThrowingTaskGroup(of: T?.self) { group in
        group.addTask { try await operation() }
        group.addTask {
            try? await Task.sleep(for: timeout)
            return nil
        }
        defer { group.cancelAll() }
        for try await result in group {
            if let result { return result }
            throw TimeoutError(what: what, after: timeout)
        }
        throw CancellationError()
    }
}
