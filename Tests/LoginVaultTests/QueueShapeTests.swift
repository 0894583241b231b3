import Foundation
import LoginVault
import SQS
import TestSupport
import Testing

/// The queue shapes real producers use: FIFO queues, and source queues with a redrive policy.
@Suite("queue shapes", .enabled(if: Integration.postgres && Integration.sqs))
struct QueueShapeTests {
    @Test func aFifoQueueIsReceivedAndDeletedLikeAStandardOne() async throws {
        try await LoadFixture.with("fifo", queueAttributes: ["FifoQueue": "true", "ContentBasedDeduplication": "true"]) { fixture in
            #expect(fixture.queueName.hasSuffix(".fifo"))
            try await fixture.send(try LoadFixture.sampleBodies)
            let outcome = try await LoginVaultExecutable.runDetached(fixture.loadArguments(["--json"]), environment: fixture.environment)
            #expect(outcome.status == 0, "\(outcome.stderr)")
            let summary = try JSONSerialization.jsonObject(with: Data(outcome.stdout.utf8)) as? [String: Any]
            let statistics = summary?["statistics"] as? [String: Any]
            #expect(statistics?["staged"] as? Int == 100)
            #expect(try fixture.count("SELECT count(*) FROM user_logins") == 99)
            #expect(try fixture.count("SELECT count(*) FROM rejected_logins") == 1)
            #expect(try await fixture.messagesLeft() == 0, "every message deleted")
        }
    }

    static func redrivePolicy(_ dlq: String, _ count: Int) -> String {
        #"{"deadLetterTargetArn":"\#(dlq)","maxReceiveCount":"\#(count)"}"#
    }

    @Test func whoGetsPoisonMessagesTheDeadLetterQueueOrTheQuarantine() throws {
        let arn = "arn:aws:sqs:us-east-1:123456789012:logins-dlq"
        let policy = try #require(RedrivePolicyCheck(attribute: Self.redrivePolicy(arn, 5)))
        #expect(policy.maxReceiveCount == 5)
        #expect(RedrivePolicyCheck(attribute: #"{"deadLetterTargetArn":"\#(arn)","maxReceiveCount":5}"#)?.maxReceiveCount == 5)
        #expect(RedrivePolicyCheck(attribute: nil) == nil)
        #expect(RedrivePolicyCheck(attribute: "not json") == nil)
        // SQS dead-letters on receive maxReceiveCount + 1; loginvault quarantines on --max-receives + 1.
        #expect(policy.deadLetterQueueWins(maxReceives: 10))
        #expect(policy.deadLetterQueueWins(maxReceives: 5))
        #expect(!policy.deadLetterQueueWins(maxReceives: 4))
        #expect(policy.deadLetterQueueWins(maxReceives: nil), "--max-receives 0: loginvault never quarantines for receives")
        #expect(policy.advice(maxReceives: 10).contains("poison messages end in that dead-letter queue, not in rejected_logins"))
        #expect(policy.advice(maxReceives: 10).contains("--max-receives 4 or less"))
        #expect(policy.advice(maxReceives: 4).contains("quarantined in rejected_logins"))
    }

    @Test func loadWarnsWhenTheQueuesRedrivePolicyWinsOverMaxReceives() async throws {
        try await LoadFixture.with("redrive") { fixture in
            let dlqURL = try await fixture.client.createQueue(name: fixture.queueName + "-dlq")
            let dlqArn = try #require(try await fixture.client.getQueueAttributes(queueURL: dlqURL, names: ["QueueArn"])["QueueArn"])
            let source = try await fixture.client.createQueue(name: fixture.queueName + "-src",
                                                              attributes: ["RedrivePolicy": Self.redrivePolicy(dlqArn, 3)])
            let arguments = ["load", "--queue", source, "--database", fixture.database.connectionString, "--log-level", "warning"]
            let dlqWins = try await LoginVaultExecutable.runDetached(arguments + ["--max-receives", "10"], environment: fixture.environment)
            #expect(dlqWins.status == 0, "\(dlqWins.stderr)")
            #expect(dlqWins.stderr.contains("moves a message to \(dlqArn) after 3 receives"), "\(dlqWins.stderr)")
            #expect(dlqWins.stderr.contains("not in rejected_logins"))
            let quarantineWins = try await LoginVaultExecutable.runDetached(arguments + ["--max-receives", "2"], environment: fixture.environment)
            #expect(quarantineWins.status == 0, "\(quarantineWins.stderr)")
            #expect(!quarantineWins.stderr.contains("redrive policy"), "no warning when loginvault's limit comes first")
        }
    }
}
