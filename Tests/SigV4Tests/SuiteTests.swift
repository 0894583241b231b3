import Foundation
import SigV4
import Testing

/// One case of the AWS SigV4 test suite (Fixtures/aws-sigv4-test-suite.json), named "group/case".
struct SuiteCase: Sendable, CustomTestStringConvertible {
    let group: String
    let name: String
    let method: String
    let path: String
    let query: String
    let headers: [[String]]
    let body: String
    let creq: String
    let sts: String
    let authz: String
    let sreq: String

    var testDescription: String { "\(group)/\(name)" }
}

/// The suite file, its configuration and every case of every group.
enum SigV4Suite {
    static let fixtureURL = URL(fileURLWithPath: #filePath).deletingLastPathComponent()
        .appendingPathComponent("Fixtures/aws-sigv4-test-suite.json")

    struct Config: Sendable { let service, region, accessKeyId, secretAccessKey, stsToken: String }

    static func load() throws -> (Config, [SuiteCase]) {
        let json = try JSONSerialization.jsonObject(with: Data(contentsOf: fixtureURL)) as! [String: Any]
        let config = json["config"] as! [String: String]
        let cfg = Config(
            service: config["service"]!, region: config["region"]!, accessKeyId: config["accessKeyId"]!,
            secretAccessKey: config["secretAccessKey"]!, stsToken: json["stsToken"] as! String)
        var cases: [SuiteCase] = []
        let groups = json["tests"] as! [String: [[String: Any]]]
        for group in groups.keys.sorted() {
            for test in groups[group]! {
                let request = test["request"] as! [String: Any]
                cases.append(SuiteCase(
                    group: group, name: test["name"] as! String, method: request["method"] as! String,
                    path: request["path"] as! String, query: request["query"] as! String,
                    headers: request["headers"] as! [[String]], body: request["body"] as! String,
                    creq: test["creq"] as! String, sts: test["sts"] as! String, authz: test["authz"] as! String,
                    sreq: test["sreq"] as! String))
            }
        }
        return (cfg, cases)
    }

    static let config = try! load().0
    static let cases = try! load().1
    /// Known inconsistencies of the published suite. For these two cases the `.creq` files were
    /// updated when `Content-Length` was added to the request, but `.sts`/`.authz` were not: they
    /// hash a canonical request without `Content-Length` (and, for `-parameters`, with
    /// `charset=utf8` instead of `charset=utf-8`; its `authz` even lists `content-length` while
    /// its signature does not cover it). Verified by hashing: no canonical form of the request as
    /// given produces those strings to sign. Each entry maps the request to the form the suite
    /// actually signed; the canonical request is still checked against the request as given.
    static let errata: [String: @Sendable (SigV4Request) -> SigV4Request] = [
        "post-x-www-form-urlencoded": { request in
            var r = request
            r.headers.removeAll { $0.name.lowercased() == "content-length" }
            return r
        },
        "post-x-www-form-urlencoded-parameters": { request in
            var r = request
            r.headers.removeAll { $0.name.lowercased() == "content-length" }
            r.headers = r.headers.map { $0.name.lowercased() == "content-type" ? ($0.name, "application/x-www-form-urlencoded; charset=utf8") : $0 }
            return r
        },
    ]

    /// The suite's fixed signing time, 2015-08-30T12:36:00Z.
    static let date = Date(timeIntervalSince1970: 1_440_938_160)
}

@Suite("AWS SigV4 test suite")
struct SuiteTests {
    @Test func suiteHasEveryGroup() throws {
        let groups = Set(SigV4Suite.cases.map(\.group))
        #expect(groups.isSuperset(of: ["basic", "normalizePath", "sts"]))
        #expect(SigV4Suite.cases.count >= 28)
    }

    @Test(arguments: SigV4Suite.cases)
    func signsLikeTheSuite(_ test: SuiteCase) throws {
        let cfg = SigV4Suite.config
        let isSTS = test.name.hasPrefix("post-sts-")
        let credentials = AWSCredentials(
            accessKeyId: cfg.accessKeyId, secretAccessKey: cfg.secretAccessKey,
            sessionToken: isSTS ? cfg.stsToken : nil)
        let signer = SigV4Signer(
            credentials: credentials, region: cfg.region, service: cfg.service,
            securityTokenPlacement: test.name == "post-sts-header-after" ? .appendedAfterSigning : .signed)
        let request = SigV4Request(
            method: test.method, path: test.path, query: test.query,
            headers: test.headers.map { ($0[0], $0[1]) }, body: Array(test.body.utf8))
        let signed = signer.sign(request, date: SigV4Suite.date)
        #expect(signed.canonicalRequest == test.creq, "canonical request")
        if let erratum = SigV4Suite.errata[test.name] {
            // The suite's string to sign and signature were made from an older form of this
            // request (see `errata`): sign that form and require the suite's values exactly.
            let old = signer.sign(erratum(request), date: SigV4Suite.date)
            #expect(old.stringToSign == test.sts, "string to sign (of the request the suite signed)")
            #expect(test.authz.hasSuffix("Signature=\(old.signature)"), "signature (of the request the suite signed)")
            let listed = test.authz.components(separatedBy: "SignedHeaders=")[1].components(separatedBy: ",")[0]
            #expect(listed == signed.signedHeaders || listed == old.signedHeaders, "signed headers")
            #expect(signed.stringToSign != test.sts, "erratum no longer needed: remove it")
        } else {
            #expect(signed.stringToSign == test.sts, "string to sign")
            #expect(signed.authorization == test.authz, "authorization")
        }
        if isSTS {
            // Whether signed or appended after signing, the token goes out with the request.
            #expect(signed.headers.contains { $0.name == "X-Amz-Security-Token" && $0.value == cfg.stsToken })
            #expect(test.sreq.contains("X-Amz-Security-Token:\(cfg.stsToken)"))
        }
    }
}

@Suite("SigV4 pieces")
struct PiecesTests {
    @Test func headerValuesAreTrimmedAndFolded() {
        #expect(CanonicalRequest.canonicalHeaderValue("  a   b \t c  ") == "a b c")
        #expect(CanonicalRequest.canonicalHeaderValue("value1\n  value2\r\n     value3") == "value1 value2 value3")
    }

    @Test func pathsAreNormalisedAndEncoded() {
        #expect(CanonicalRequest.canonicalURI("/a/./b/../c//d/", normalize: true, doubleEncode: true) == "/a/c/d/")
        #expect(CanonicalRequest.canonicalURI("/foo%20bar", normalize: true, doubleEncode: true) == "/foo%2520bar")
        #expect(CanonicalRequest.canonicalURI("/foo%20bar", normalize: false, doubleEncode: false) == "/foo%20bar")
        #expect(CanonicalRequest.canonicalURI("//a//", normalize: false, doubleEncode: false) == "//a//")
        #expect(CanonicalRequest.canonicalURI("", normalize: true, doubleEncode: true) == "/")
    }

    @Test func queryIsDecodedSortedAndReencoded() {
        #expect(CanonicalRequest.canonicalQuery("b=2&a=%7e&a=1&c") == "a=1&a=~&b=2&c=")
        #expect(CanonicalRequest.canonicalQuery("q=a b+c") == "q=a%20b%2Bc")
    }

    @Test func hostHeaderDropsDefaultPorts() throws {
        #expect(SigV4Signer.hostHeader(for: URL(string: "https://sqs.us-east-1.amazonaws.com:443/")!) == "sqs.us-east-1.amazonaws.com")
        #expect(SigV4Signer.hostHeader(for: URL(string: "http://127.0.0.1:80")!) == "127.0.0.1")
        #expect(SigV4Signer.hostHeader(for: URL(string: "http://127.0.0.1:4566/")!) == "127.0.0.1:4566")
        #expect(SigV4Signer.hostHeader(for: URL(string: "https://example.com:80")!) == "example.com:80")
    }

    @Test func credentialsNeverPrintTheirSecrets() {
        let creds = AWSCredentials(accessKeyId: "AKIDEXAMPLE", secretAccessKey: "s3cr3t-value", sessionToken: "t0k3n-value")
        for text in [creds.description, creds.debugDescription, "\(creds)", String(reflecting: creds)] {
            #expect(text.contains("AKIDEXAMPLE"))
            #expect(!text.contains("s3cr3t-value"))
            #expect(!text.contains("t0k3n-value"))
        }
    }
}
