import Foundation
import SQS
import TestSupport
import Testing

/// Integration against plain moto_server (no signature checks) on 127.0.0.1.
@Suite("SQS against moto", .enabled(if: Integration.enabled(Integration.plainEndpoint), "needs LOGINVAULT_TEST_SQS_ENDPOINT (scripts/with-servers.sh)"))
struct MotoTests {
    static let bodies = [
        #"{"user":"ada","event":"login","ip":"10.0.0.1"}"#, "plain text", "ünïcödé ✓ — 日本語", "emoji 👩‍👩‍👧 🚀",
        "  spaces kept  ", "line1\nline2\ttab", #"quotes " and \ backslash"#, "<xml>&amp;</xml>", "e\u{301} combining", "x",
    ]

    /// Receives until `count` messages arrived (moto may split a batch), failing after `attempts` polls.
    static func receive(_ client: SQSClient, _ queue: String, count: Int, visibilityTimeout: Int? = nil) async throws -> [SQSMessage] {
        var got: [SQSMessage] = []
        for _ in 0..<10 where got.count < count {
            got += try await client.receiveMessages(queueURL: queue, maxMessages: min(10, count - got.count), waitTimeSeconds: 1,
                                                    visibilityTimeout: visibilityTimeout)
        }
        return got
    }

    @Test func receiveAsksOnlyForTheNamedAttributes() async throws {
        try await Integration.withClient(Integration.plainConfiguration()) { client in
            let queue = try await client.createQueue(name: Integration.queueName("attrs"))
            _ = try await client.sendMessageBatch(queueURL: queue, bodies: ["a", "b"])
            let before = Date().addingTimeInterval(-60)
            var got: [SQSMessage] = []
            for _ in 0..<10 where got.count < 2 {
                got += try await client.receiveMessages(queueURL: queue, maxMessages: 2, waitTimeSeconds: 1,
                                                        attributeNames: ["SentTimestamp", "ApproximateReceiveCount"])
            }
            #expect(got.count == 2)
            for message in got {
                #expect(message.approximateReceiveCount == 1)
                #expect(try #require(message.sentTimestamp) > before)
                #expect(Set(message.attributes.keys) == ["SentTimestamp", "ApproximateReceiveCount"],
                        "only the two named attributes come back, not All: \(message.attributes.keys.sorted())")
            }
        }
    }

    @Test func createSendReceiveDeleteBatches() async throws {
        try await Integration.withClient(Integration.plainConfiguration()) { client in
            let queue = try await client.createQueue(name: Integration.queueName("basic"))
            #expect(queue.hasSuffix("/123456789012/" + queue.split(separator: "/").last!))
            #expect(try await client.queueURL(for: String(queue.split(separator: "/").last!)) == queue)
            #expect(try await client.queueURL(for: queue) == queue)
            #expect(client.requestCount == 2, "CreateQueue and GetQueueUrl; a URL is not looked up")

            let sent = try await client.sendMessageBatch(queueURL: queue, bodies: Self.bodies)
            #expect(sent.successful.sorted() == (0..<10).map(String.init).sorted())
            #expect(sent.failed.isEmpty)
            #expect(sent.messageIds.count == 10)

            let before = Date().addingTimeInterval(-60)
            let messages = try await Self.receive(client, queue, count: 10)
            #expect(messages.count == 10)
            #expect(messages.map(\.body).sorted() == Self.bodies.sorted(), "bodies come back byte for byte")
            #expect(Set(messages.map(\.messageId)) == Set(sent.messageIds.values))
            for message in messages {
                #expect(message.md5Matches)
                #expect(message.md5OfBody == SQSClient.md5Hex(message.body))
                #expect(message.approximateReceiveCount == 1)
                #expect(try #require(message.sentTimestamp) > before)
                #expect(message.attributes["SentTimestamp"] != nil)
            }

            let beforeDelete = client.requestCount
            let deleted = try await client.deleteMessageBatch(
                queueURL: queue, entries: messages.enumerated().map { SQSBatchEntry(id: "d\($0.offset)", receiptHandle: $0.element.receiptHandle) })
            #expect(deleted.successful.count == 10)
            #expect(deleted.failed.isEmpty)
            let attributes = try await client.getQueueAttributes(queueURL: queue)
            #expect(attributes["ApproximateNumberOfMessages"] == "0")
            #expect(attributes["ApproximateNumberOfMessagesNotVisible"] == "0")
            #expect(attributes["QueueArn"]?.hasSuffix(":123456789012:" + queue.split(separator: "/").last!) == true)
            #expect(client.requestCount == beforeDelete + 2, "one request per call")
        }
    }

    @Test func longPollReturnsEarlyWhenAMessageArrives() async throws {
        try await Integration.withClient(Integration.plainConfiguration()) { client in
            let queue = try await client.createQueue(name: Integration.queueName("longpoll"))
            let sender = Task {
                try await Task.sleep(for: .seconds(1))
                return try await client.sendMessageBatch(queueURL: queue, bodies: ["wake up"])
            }
            let clock = ContinuousClock()
            let started = clock.now
            // The longest wait SQS allows, so that a loaded machine (moto answering slowly) still
            // leaves a wide gap between returning early and waiting the poll out.
            let messages = try await client.receiveMessages(queueURL: queue, maxMessages: 10, waitTimeSeconds: 20)
            let elapsed = clock.now - started
            _ = try await sender.value
            #expect(messages.map(\.body) == ["wake up"])
            #expect(elapsed < .seconds(14), "returned after \(elapsed), long before the 20 s wait")
        }
    }

    @Test func longPollIsNotCutShortByTheRequestTimeout() async throws {
        // The queue is made with the usual timeout: moto, busy with the other suites, may take
        // more than a second to create one, and that is not what this test is about.
        let queue = try await Integration.withClient(Integration.plainConfiguration()) { client in
            try await client.createQueue(name: Integration.queueName("emptypoll"))
        }
        var configuration = try Integration.plainConfiguration()
        configuration.requestTimeout = .seconds(1)  // shorter than the poll: the poll gets wait + grace
        try await Integration.withClient(configuration, retry: .none) { client in
            let messages = try await client.receiveMessages(queueURL: queue, waitTimeSeconds: 2)
            #expect(messages.isEmpty)
        }
    }

    @Test func visibilityTimeoutExpiryRedelivers() async throws {
        try await Integration.withClient(Integration.plainConfiguration()) { client in
            let queue = try await client.createQueue(name: Integration.queueName("redeliver"))
            _ = try await client.sendMessageBatch(queueURL: queue, bodies: ["again"])
            // Margins for a loaded machine: 3 s of invisibility, and a check that would
            // not hide the message again (visibility 0) if it did see it.
            let first = try await Self.receive(client, queue, count: 1, visibilityTimeout: 3)
            #expect(first.map(\.approximateReceiveCount) == [1])
            #expect(try await client.receiveMessages(queueURL: queue, waitTimeSeconds: 0, visibilityTimeout: 0).isEmpty,
                    "invisible while in flight")
            try await Task.sleep(for: .milliseconds(3500))
            let second = try await Self.receive(client, queue, count: 1)
            #expect(second.map(\.messageId) == first.map(\.messageId))
            #expect(second.map(\.approximateReceiveCount) == [2])
            #expect(second.map(\.body) == ["again"])
        }
    }

    @Test func changeVisibilityBatchMakesMessagesVisibleAgain() async throws {
        try await Integration.withClient(Integration.plainConfiguration()) { client in
            let queue = try await client.createQueue(name: Integration.queueName("visibility"))
            _ = try await client.sendMessageBatch(queueURL: queue, bodies: ["a", "b"])
            let first = try await Self.receive(client, queue, count: 2, visibilityTimeout: 600)
            #expect(first.count == 2)
            let changed = try await client.changeMessageVisibilityBatch(
                queueURL: queue,
                entries: first.enumerated().map { (id: "c\($0.offset)", receiptHandle: $0.element.receiptHandle, visibilityTimeout: 0) }
                    + [(id: "bad", receiptHandle: "not-a-receipt-handle", visibilityTimeout: 0)])
            #expect(changed.successful.sorted() == ["c0", "c1"])
            #expect(changed.failed.map(\.id) == ["bad"])
            let again = try await Self.receive(client, queue, count: 2)
            #expect(Set(again.map(\.messageId)) == Set(first.map(\.messageId)))
            #expect(again.allSatisfy { $0.approximateReceiveCount == 2 })
        }
    }

    @Test func deleteBatchReportsExactlyTheBadEntry() async throws {
        try await Integration.withClient(Integration.plainConfiguration()) { client in
            let queue = try await client.createQueue(name: Integration.queueName("delete"))
            _ = try await client.sendMessageBatch(queueURL: queue, bodies: ["one", "two", "three"])
            let messages = try await Self.receive(client, queue, count: 3)
            #expect(messages.count == 3)
            var entries = messages.prefix(2).enumerated().map { SQSBatchEntry(id: "ok\($0.offset)", receiptHandle: $0.element.receiptHandle) }
            entries.insert(SQSBatchEntry(id: "broken", receiptHandle: "bogus-receipt-handle"), at: 1)
            let result = try await client.deleteMessageBatch(queueURL: queue, entries: entries)
            #expect(result.successful.sorted() == ["ok0", "ok1"])
            #expect(result.failed.count == 1)
            let failure = try #require(result.failed.first)
            #expect(failure.id == "broken")
            #expect(failure.code == "ReceiptHandleIsInvalid")
            #expect(failure.senderFault)
            #expect(!failure.message.isEmpty)
        }
    }

    @Test func wrongQueueIsQueueDoesNotExistAndNotRetried() async throws {
        try await Integration.withClient(Integration.plainConfiguration()) { client in
            let endpoint = try Integration.value(Integration.plainEndpoint)
            let before = client.requestCount
            let error = await #expect(throws: SQSError.self) {
                _ = try await client.getQueueAttributes(queueURL: "\(endpoint)/123456789012/\(Integration.queueName("missing"))")
            }
            #expect(error?.code == "QueueDoesNotExist")
            #expect(error?.queryErrorCode == "AWS.SimpleQueueService.NonExistentQueue")
            #expect(error?.httpStatus == 400)
            #expect(error?.isRetryable == false)
            #expect(error?.message == "The specified queue does not exist.")
            #expect(error?.requestId != nil)
            #expect(client.requestCount == before + 1, "a non-throttling 4xx is not retried")

            let byName = await #expect(throws: SQSError.self) {
                _ = try await client.queueURL(for: Integration.queueName("no-such-queue"))
            }
            #expect(byName?.code == "QueueDoesNotExist")
            #expect(byName?.action == "GetQueueUrl")
        }
    }

    @Test func requestsGoToTheConfiguredEndpointNotTheQueueURLHost() async throws {
        try await Integration.withClient(Integration.plainConfiguration()) { client in
            let name = Integration.queueName("elsewhere")
            _ = try await client.createQueue(name: name)
            // LocalStack-style URL whose host does not resolve: must still work.
            let foreign = "http://sqs.us-east-1.localhost.invalid:4566/123456789012/\(name)"
            let sent = try await client.sendMessageBatch(queueURL: foreign, bodies: ["routed"])
            #expect(sent.successful == ["0"])
            let got = try await Self.receive(client, foreign, count: 1)
            #expect(got.map(\.body) == ["routed"])
            try await client.purgeQueue(queueURL: foreign)
        }
    }

    @Test func purgeEmptiesTheQueue() async throws {
        try await Integration.withClient(Integration.plainConfiguration()) { client in
            let queue = try await client.createQueue(name: Integration.queueName("purge"), attributes: ["VisibilityTimeout": "45"])
            _ = try await client.sendMessageBatch(queueURL: queue, bodies: ["1", "2", "3"])
            try await client.purgeQueue(queueURL: queue)
            let attributes = try await client.getQueueAttributes(queueURL: queue, names: ["ApproximateNumberOfMessages", "VisibilityTimeout"])
            #expect(attributes["ApproximateNumberOfMessages"] == "0")
            #expect(attributes["VisibilityTimeout"] == "45")
        }
    }

    @Test func batchesAreCheckedBeforeSending() async throws {
        try await Integration.withClient(Integration.plainConfiguration()) { client in
            let error = await #expect(throws: SQSError.self) {
                _ = try await client.sendMessageBatch(queueURL: "http://127.0.0.1:1/123456789012/q", bodies: Array(repeating: "x", count: 11))
            }
            #expect(error?.code == SQSError.LocalCode.invalidArgument)
            #expect(error?.attempts == 0)
            #expect(client.requestCount == 0)
        }
    }
}

/// Body integrity: a proxy between the client and moto alters bodies in flight.
@Suite("MD5 of bodies", .enabled(if: Integration.enabled(Integration.plainEndpoint), "needs LOGINVAULT_TEST_SQS_ENDPOINT (scripts/with-servers.sh)"))
struct MD5Tests {
    /// Appends "!" to the body of the first message of a ReceiveMessage response (MD5OfBody untouched).
    static let tamper: @Sendable (Data) -> Data = { data in
        guard var object = try? JSONSerialization.jsonObject(with: data) as? [String: Any],
              var messages = object["Messages"] as? [[String: Any]], !messages.isEmpty,
              let body = messages[0]["Body"] as? String
        else { return data }
        messages[0]["Body"] = body + "!"
        object["Messages"] = messages
        return (try? JSONSerialization.data(withJSONObject: object)) ?? data
    }

    static func plan(_ index: Int, _ action: String) -> FaultProxy.Action {
        action == "ReceiveMessage" ? .forwardRewriting(tamper) : .forward
    }

    @Test func mismatchThrowsByDefaultAndIsMarkedOnRequest() async throws {
        let upstream = URL(string: try Integration.value(Integration.plainEndpoint))!
        try await FaultProxy.with(upstream: upstream, plan: Self.plan) { proxy, endpoint in
            try await Integration.withClient(Integration.plainConfiguration(endpoint: endpoint)) { client in
                let queue = try await client.createQueue(name: Integration.queueName("md5"))
                _ = try await client.sendMessageBatch(queueURL: queue, bodies: ["intact body ✓"])
                let error = await #expect(throws: SQSError.self) {
                    _ = try await client.receiveMessages(queueURL: queue, waitTimeSeconds: 1, visibilityTimeout: 0)
                }
                #expect(error?.code == SQSError.LocalCode.md5Mismatch)
                #expect(error?.messageIds.count == 1)
                #expect(error?.isRetryable == false)

                let marked = try await client.receiveMessages(queueURL: queue, waitTimeSeconds: 1, visibilityTimeout: 0, onMD5Mismatch: .mark)
                #expect(marked.count == 1)
                #expect(marked.first?.md5Matches == false)
                #expect(marked.first?.body == "intact body ✓!")
                #expect(marked.first?.messageId == error?.messageIds.first)
            }
            #expect(proxy.actionsSeen.filter { $0 == "ReceiveMessage" }.count == 2)
        }
    }

    @Test func aGarbledReceiveAnswerIsNotQuotedInTheError() async throws {
        // A 200 whose JSON is cut short: the error must not carry the message bodies
        // it held (the loader logs this error as a warning).
        let secret = "203.0.113.77-pii-marker"
        let upstream = URL(string: try Integration.value(Integration.plainEndpoint))!
        let cut: FaultProxy.Action = .forwardRewriting { data in data.prefix(max(1, data.count - 5)) }
        try await FaultProxy.with(upstream: upstream, plan: { _, action in action == "ReceiveMessage" ? cut : .forward }) { _, endpoint in
            try await Integration.withClient(Integration.plainConfiguration(endpoint: endpoint)) { client in
                let queue = try await client.createQueue(name: Integration.queueName("garbled"))
                _ = try await client.sendMessageBatch(queueURL: queue, bodies: [#"{"ip":"\#(secret)"}"#])
                let error = await #expect(throws: SQSError.self) {
                    _ = try await client.receiveMessages(queueURL: queue, waitTimeSeconds: 1, visibilityTimeout: 0)
                }
                #expect(error?.code == SQSError.LocalCode.invalidResponse)
                let text = "\(error.map { "\($0)" } ?? "") \(error?.message ?? "")"
                #expect(text.contains("not quoted"), "\(text)")
                #expect(!text.contains(secret) && !text.contains("MessageId"), "the error quotes the receive answer: \(text)")
            }
        }
    }

    @Test func untouchedBodiesPassTheSameCheck() async throws {
        let upstream = URL(string: try Integration.value(Integration.plainEndpoint))!
        try await FaultProxy.with(upstream: upstream, plan: { _, _ in .forward }) { _, endpoint in
            try await Integration.withClient(Integration.plainConfiguration(endpoint: endpoint)) { client in
                let queue = try await client.createQueue(name: Integration.queueName("md5ok"))
                _ = try await client.sendMessageBatch(queueURL: queue, bodies: ["intact body ✓"])
                let messages = try await client.receiveMessages(queueURL: queue, waitTimeSeconds: 1)
                #expect(messages.map(\.body) == ["intact body ✓"])
                #expect(messages.allSatisfy { $0.md5Matches })
            }
        }
    }
}
