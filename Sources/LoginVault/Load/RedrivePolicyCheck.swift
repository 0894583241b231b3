import Foundation
import Logging
import SQS

/// What a source queue's redrive policy (`RedrivePolicy`: a dead-letter queue and
/// `maxReceiveCount`) means for `load --max-receives`, said once at the start of a load.
///
/// SQS moves a message to the dead-letter queue instead of delivering it for the
/// `maxReceiveCount + 1`-th time; loginvault quarantines a message (reason
/// `too_many_receives`) on its `--max-receives + 1`-th receive. So when
/// `maxReceiveCount <= --max-receives` (or `--max-receives 0`), poison messages end in the
/// dead-letter queue and never in `rejected_logins`; otherwise loginvault quarantines them first
/// and the dead-letter queue receives none for that reason.
public struct RedrivePolicyCheck: Sendable {
    public var deadLetterTargetArn: String
    public var maxReceiveCount: Int

    /// Reads the policy from a `RedrivePolicy` attribute (JSON; `maxReceiveCount` as number or string).
    public init?(attribute: String?) {
        guard let attribute, let data = attribute.data(using: .utf8),
              let object = try? JSONSerialization.jsonObject(with: data) as? [String: Any],
              let target = object["deadLetterTargetArn"] as? String
        else { return nil }
        let count = (object["maxReceiveCount"] as? Int) ?? (object["maxReceiveCount"] as? String).flatMap(Int.init)
        guard let count else { return nil }
        self.deadLetterTargetArn = target
        self.maxReceiveCount = count
    }

    /// Whether SQS's dead-letter queue, rather than loginvault's quarantine, gets poison messages.
    public func deadLetterQueueWins(maxReceives: Int?) -> Bool {
        guard let maxReceives else { return true }
        return maxReceiveCount <= maxReceives
    }

    /// The sentence for the log.
    public func advice(maxReceives: Int?) -> String {
        let dlq = "the queue's redrive policy moves a message to \(deadLetterTargetArn) after \(maxReceiveCount) receives"
        guard let maxReceives else {
            return "\(dlq); --max-receives is 0, so poison messages end there, not in rejected_logins"
        }
        if deadLetterQueueWins(maxReceives: maxReceives) {
            return "\(dlq), before loginvault's --max-receives \(maxReceives) is reached: poison messages end in that dead-letter "
                + "queue, not in rejected_logins. Use --max-receives \(max(1, maxReceiveCount - 1)) or less to quarantine them in "
                + "the database instead, or raise maxReceiveCount"
        }
        return "\(dlq); loginvault's --max-receives \(maxReceives) is lower, so poison messages are quarantined in rejected_logins "
            + "(too_many_receives) and the dead-letter queue gets none for that reason"
    }

    /// Reads the source queue's policy and logs what it means: a warning when the dead-letter
    /// queue wins, info otherwise. A failure to read it (no `sqs:GetQueueAttributes`) is only logged.
    public static func report(client: SQSClient, queueURL: String, maxReceives: Int?, logger: Logger) async {
        do {
            let attributes = try await client.getQueueAttributes(queueURL: queueURL, names: ["RedrivePolicy"])
            guard let policy = RedrivePolicyCheck(attribute: attributes["RedrivePolicy"]) else { return }
            if policy.deadLetterQueueWins(maxReceives: maxReceives) {
                logger.warning("\(policy.advice(maxReceives: maxReceives))")
            } else {
                logger.info("\(policy.advice(maxReceives: maxReceives))")
            }
        } catch {
            logger.info("could not read the queue's redrive policy (GetQueueAttributes): \(error)")
        }
    }
}
