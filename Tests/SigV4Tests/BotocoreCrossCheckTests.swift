import Foundation
import SigV4
import Testing

/// One request signed by botocore (see botocore_sign.py).
struct BotocoreCase: Sendable, Decodable, CustomTestStringConvertible {
    let name: String
    let method: String
    let url: String
    let headers: [[String]]
    let body: String
    let region: String
    let accessKeyId: String
    let secretAccessKey: String
    let sessionToken: String?
    let timestamp: Int
    let creq: String
    let sts: String
    let authz: String

    var testDescription: String { name }
}

/// Runs botocore_sign.py with python3 and decodes its cases.
enum Botocore {
    static let count = 300
    static let script = URL(fileURLWithPath: #filePath).deletingLastPathComponent().appendingPathComponent("botocore_sign.py")

    struct Output: Decodable { let botocore: String; let cases: [BotocoreCase] }

    static func generate() throws -> [BotocoreCase] {
        let process = Process()
        process.executableURL = URL(fileURLWithPath: "/usr/bin/env")
        process.arguments = ["python3", script.path, String(count)]
        let stdout = Pipe()
        let stderr = Pipe()
        process.standardOutput = stdout
        process.standardError = stderr
        try process.run()
        let data = stdout.fileHandleForReading.readDataToEndOfFile()
        let errors = stderr.fileHandleForReading.readDataToEndOfFile()
        process.waitUntilExit()
        guard process.terminationStatus == 0 else {
            throw ScriptFailed(message: "botocore_sign.py exited \(process.terminationStatus): \(String(decoding: errors, as: UTF8.self))")
        }
        return try JSONDecoder().decode(Output.self, from: data).cases
    }

    struct ScriptFailed: Error, CustomStringConvertible { let message: String; var description: String { message } }
}

@Suite("botocore cross-check")
struct BotocoreCrossCheckTests {
    @Test func generatesEnoughCases() throws {
        let cases = try Botocore.generate()
        #expect(cases.count == Botocore.count)
        #expect(cases.contains { $0.sessionToken != nil })
        #expect(cases.contains { $0.url.hasPrefix("http://127.0.0.1:") })
        #expect(cases.contains { $0.body.unicodeScalars.contains { $0.value > 0xFFFF } })
    }

    @Test(arguments: try Botocore.generate())
    func signsLikeBotocore(_ test: BotocoreCase) throws {
        let url = try #require(URL(string: test.url))
        let signer = SigV4Signer(
            credentials: AWSCredentials(accessKeyId: test.accessKeyId, secretAccessKey: test.secretAccessKey, sessionToken: test.sessionToken),
            region: test.region, service: "sqs")
        var headers = test.headers.map { (name: $0[0], value: $0[1]) }
        headers.append(("Host", SigV4Signer.hostHeader(for: url)))
        let request = SigV4Request(
            method: test.method, path: URLComponents(url: url, resolvingAgainstBaseURL: false)?.percentEncodedPath ?? "/", query: url.query ?? "", headers: headers, body: Array(test.body.utf8))
        let signed = signer.sign(request, date: Date(timeIntervalSince1970: TimeInterval(test.timestamp)))
        #expect(signed.canonicalRequest == test.creq, "canonical request")
        #expect(signed.stringToSign == test.sts, "string to sign")
        #expect(signed.authorization == test.authz, "authorization")
    }
}
