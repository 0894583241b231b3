import AsyncHTTPClient
import Foundation
import LoginVault
import NIOCore
import TestSupport
import Testing

/// SNS fan-out through moto_server, which serves SNS too: a topic delivering to the queue with
/// raw message delivery (the body is the login) and one without (the body is SNS's envelope).
/// Both load into `user_logins`; an envelope whose Message is not a login is quarantined with a
/// reason of its own.
@Suite("SNS fan-out", .enabled(if: Integration.postgres && Integration.sqs))
struct SNSFanOutTests {
    @Test func loginsPublishedToATopicLoadWithAndWithoutRawMessageDelivery() async throws {
        try await LoadFixture.with("sns") { fixture in
            let sns = MotoSNS(endpoint: fixture.endpoint)
            do {
                try await loadBothDeliveries(fixture, sns)
            } catch {
                try? await sns.client.shutdown()
                throw error
            }
            try await sns.client.shutdown()
        }
    }

    func loadBothDeliveries(_ fixture: LoadFixture, _ sns: MotoSNS) async throws {
        let queueArn = try #require(try await fixture.client.getQueueAttributes(queueURL: fixture.queueURL, names: ["QueueArn"])["QueueArn"])
        let enveloped = try await sns.createTopic("\(fixture.queueName)-enveloped")
        let raw = try await sns.createTopic("\(fixture.queueName)-raw")
        try await sns.subscribe(topic: enveloped, queueArn: queueArn, rawMessageDelivery: false)
        try await sns.subscribe(topic: raw, queueArn: queueArn, rawMessageDelivery: true)

        func login(_ i: Int) -> String {
            #"{"user_id":"sns-u\#(i)","device_type":"android","ip":"10.77.\#(i / 256).\#(i % 256)","device_id":"dev-\#(i)","locale":"de_DE","app_version":"3.1"}"#
        }
        for i in 0..<30 { try await sns.publish(topic: enveloped, message: login(i)) }
        for i in 30..<60 { try await sns.publish(topic: raw, message: login(i)) }
        try await sns.publish(topic: enveloped, message: "login of u61 from 10.0.0.61")   // not JSON
        try await sns.publish(topic: enveloped, message: #"{"ip":"10.0.0.62"}"#)          // JSON, no user_id
        try await sns.publish(topic: raw, message: #"{"ip":"10.0.0.63"}"#)                // the same, raw

        let outcome = try await LoginVaultExecutable.runDetached(fixture.loadArguments(["--no-process"]), environment: fixture.environment)
        #expect(outcome.status == 0, "\(outcome.stderr)")
        #expect(try fixture.count("SELECT count(*) FROM raw_logins WHERE loginvault.is_sns_envelope(body) AND body->>'TopicArn' LIKE '%-enveloped'") == 32,
                "without raw message delivery, the staged body is SNS's envelope")
        #expect(try fixture.count("SELECT count(*) FROM raw_logins WHERE NOT body ? 'TopicArn'") == 31,
                "with raw message delivery, the staged body is the login itself")
        #expect(try await fixture.messagesLeft() == 0, "every message deleted")
        _ = try fixture.database.connect().query("CALL process_raw_logins()")
        #expect(try fixture.count("SELECT count(*) FROM user_logins") == 60)
        #expect(try fixture.count("SELECT count(DISTINCT user_id) FROM user_logins WHERE user_id ~ '^sns-u[0-9]+$'") == 60,
                "each published login is one row, whichever subscription delivered it")
        #expect(try fixture.count("""
            SELECT count(*) FROM user_logins u
             WHERE u.masked_ip = loginvault.mask('ip', loginvault.canonical_ip('10.77.0.' || substr(u.user_id, 6)), loginvault.mask_key())
               AND u.device_type = 'android' AND u.locale = 'de_DE' AND u.app_version = '3.1'
            """) == 60, "fields and masks come from the login inside the envelope as from a raw body")
        #expect(try fixture.count("SELECT count(*) FROM rejected_logins WHERE reason = 'sns_invalid_message'") == 1)
        #expect(try fixture.count("SELECT count(*) FROM rejected_logins WHERE reason = 'sns_missing_user_id'") == 1)
        #expect(try fixture.count("SELECT count(*) FROM rejected_logins WHERE reason = 'missing_user_id'") == 1,
                "the raw delivery's reject keeps the plain reason")
        #expect(try fixture.count("SELECT count(*) FROM rejected_logins") == 3)
        #expect(try fixture.count("SELECT count(*) FROM raw_logins") == 0)
    }
}

/// A minimal SNS client for moto_server's query API. The plain moto_server verifies no
/// signature; it routes a request by the service named in its credential scope, which is all the
/// `Authorization` header here is for.
struct MotoSNS {
    let endpoint: String
    let client = HTTPClient(eventLoopGroupProvider: .singleton)

    func createTopic(_ name: String) async throws -> String {
        let answer = try await call(["Action": "CreateTopic", "Name": name])
        guard let arn = Self.element("TopicArn", in: answer) else { throw MotoSNSError(answer: answer) }
        return arn
    }

    func subscribe(topic: String, queueArn: String, rawMessageDelivery: Bool) async throws {
        _ = try await call(["Action": "Subscribe", "TopicArn": topic, "Protocol": "sqs", "Endpoint": queueArn,
                            "Attributes.entry.1.key": "RawMessageDelivery",
                            "Attributes.entry.1.value": rawMessageDelivery ? "true" : "false"])
    }

    func publish(topic: String, message: String) async throws {
        _ = try await call(["Action": "Publish", "TopicArn": topic, "Message": message])
    }

    private func call(_ parameters: [String: String]) async throws -> String {
        var request = HTTPClientRequest(url: endpoint + "/")
        request.method = .POST
        request.headers.add(name: "Content-Type", value: "application/x-www-form-urlencoded")
        request.headers.add(name: "Authorization",
                            value: "AWS4-HMAC-SHA256 Credential=testing/20260101/us-east-1/sns/aws4_request, SignedHeaders=host, Signature=0")
        let allowed = CharacterSet(charactersIn: "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-._~")
        let form = (parameters.merging(["Version": "2010-03-31"]) { $1 })
            .map { "\($0.key)=\($0.value.addingPercentEncoding(withAllowedCharacters: allowed)!)" }
            .joined(separator: "&")
        request.body = .bytes(ByteBuffer(string: form))
        let response = try await client.execute(request, timeout: .seconds(30))
        let body = String(buffer: try await response.body.collect(upTo: 1 << 20))
        guard response.status == .ok else { throw MotoSNSError(answer: body) }
        return body
    }

    static func element(_ name: String, in xml: String) -> String? {
        guard let start = xml.range(of: "<\(name)>"), let end = xml.range(of: "</\(name)>", range: start.upperBound..<xml.endIndex) else { return nil }
        return String(xml[start.upperBound..<end.lowerBound])
    }
}

struct MotoSNSError: Error, CustomStringConvertible {
    let answer: String
    var description: String { "moto SNS answered: \(answer)" }
}
