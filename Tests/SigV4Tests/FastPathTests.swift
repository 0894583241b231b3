import Crypto
import Foundation
@testable import SigV4
import Testing

/// The shortcuts the signer takes on every request (timestamps without `Calendar`,
/// a cached signing key, header values returned as they are) against the long way.
@Suite("Signer fast paths")
struct FastPathTests {
    /// What `timestamps` computed with `Calendar` before.
    static func calendarTimestamps(_ date: Date) -> (String, String) {
        var calendar = Calendar(identifier: .gregorian)
        calendar.timeZone = TimeZone(identifier: "UTC")!
        let c = calendar.dateComponents([.year, .month, .day, .hour, .minute, .second], from: date)
        let day = String(format: "%04d%02d%02d", c.year!, c.month!, c.day!)
        return (day + String(format: "T%02d%02d%02dZ", c.hour!, c.minute!, c.second!), day)
    }

    @Test func timestampsAgreeWithCalendar() {
        var dates: [Date] = [
            Date(timeIntervalSince1970: 0), Date(timeIntervalSince1970: 951_782_400),  // 2000-02-29
            Date(timeIntervalSince1970: 4_107_542_399.999),  // 2100-02-28 23:59:59.999 (2100 is no leap year)
            Date(timeIntervalSince1970: 1_440_938_160),  // the AWS suite's 20150830T123600Z
            Date(timeIntervalSince1970: 1_798_761_599.5),  // 2026-12-31 23:59:59.5
        ]
        var state: UInt64 = 0x7157_0001
        for _ in 0..<5_000 {
            state = state &* 6_364_136_223_846_793_005 &+ 1_442_695_040_888_963_407
            dates.append(Date(timeIntervalSince1970: Double((state >> 20) % 13_569_465_600) + Double(state & 0x3FF) / 1024))  // 1970...2400
        }
        for date in dates {
            let ours = SigV4Signer.timestamps(date)
            let calendar = Self.calendarTimestamps(date)
            #expect(ours.amzDate == calendar.0, "\(date.timeIntervalSince1970)")
            #expect(ours.day == calendar.1, "\(date.timeIntervalSince1970)")
        }
        #expect(SigV4Signer.timestamps(Date(timeIntervalSince1970: 1_440_938_160)).amzDate == "20150830T123600Z")
    }

    @Test func cachedSigningKeyFollowsDaySecretRegionAndService() {
        func derived(_ secret: String, _ day: String, _ region: String, _ service: String) -> [UInt8] {
            var key = SymmetricKey(data: Array(("AWS4" + secret).utf8))
            for part in [day, region, service, "aws4_request"] {
                key = SymmetricKey(data: HMAC<SHA256>.authenticationCode(for: Array(part.utf8), using: key))
            }
            return key.withUnsafeBytes { Array($0) }
        }
        func bytes(_ key: SymmetricKey) -> [UInt8] { key.withUnsafeBytes { Array($0) } }
        var signer = SigV4Signer(credentials: AWSCredentials(accessKeyId: "AKID", secretAccessKey: "one"), region: "us-east-1", service: "sqs")
        #expect(bytes(signer.signingKey(day: "20261124")) == derived("one", "20261124", "us-east-1", "sqs"))
        #expect(bytes(signer.signingKey(day: "20261124")) == derived("one", "20261124", "us-east-1", "sqs"))  // from the cache
        #expect(bytes(signer.signingKey(day: "20261125")) == derived("one", "20261125", "us-east-1", "sqs"))
        signer.credentials = AWSCredentials(accessKeyId: "AKID", secretAccessKey: "two")  // refreshed credentials
        #expect(bytes(signer.signingKey(day: "20261125")) == derived("two", "20261125", "us-east-1", "sqs"))
        signer.region = "eu-west-1"
        #expect(bytes(signer.signingKey(day: "20261125")) == derived("two", "20261125", "eu-west-1", "sqs"))
        signer.service = "sts"
        #expect(bytes(signer.signingKey(day: "20261125")) == derived("two", "20261125", "eu-west-1", "sts"))
    }

    @Test(arguments: ["", "a", "a b", "application/x-amz-json-1.0", " a", "a ", "a  b", "a\tb", "a\r\n b", "  ", " ", "é  ü", "x\n"])
    func headerValuesAsTheLongWay(_ value: String) {
        // The rule: trim, and collapse every run of spaces, tabs and line breaks to one space.
        let whitespace: Set<Character> = [" ", "\t", "\r", "\n", "\r\n"]
        let expected = value.split(whereSeparator: { whitespace.contains($0) }).joined(separator: " ")
        #expect(CanonicalRequest.canonicalHeaderValue(value) == expected)
    }
}
