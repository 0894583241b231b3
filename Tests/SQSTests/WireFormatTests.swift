import Foundation
@testable import SQS
import Testing

/// The hand-written request bodies and batch answers against `JSONEncoder` /
/// `JSONDecoder`, which the client used for them before.
@Suite("Request bodies and batch answers")
struct WireFormatTests {
    struct Entry: Encodable { let Id: String; let ReceiptHandle: String; let VisibilityTimeout: Int? }
    struct Input: Encodable { let Entries: [Entry]; let QueueUrl: String }

    static func encoded(_ input: Input) -> [UInt8] {
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.withoutEscapingSlashes, .sortedKeys]
        return Array(try! encoder.encode(input))
    }

    static func written(_ input: Input) -> [UInt8] {
        var writer = JSONBodyWriter()
        writer.member("Entries", objects: input.Entries) { entry, e in
            entry.member("Id", e.Id)
            entry.member("ReceiptHandle", e.ReceiptHandle)
            if let timeout = e.VisibilityTimeout { entry.member("VisibilityTimeout", timeout) }
        }
        writer.member("QueueUrl", input.QueueUrl)
        return writer.finished()
    }

    static func parsed(_ bytes: [UInt8]) -> NSDictionary? {
        try? JSONSerialization.jsonObject(with: Data(bytes)) as? NSDictionary
    }

    @Test func writesWhatTheEncoderWrites() {
        var generator = AnswerGenerator(seed: 0x5151_0004)
        var sameBytes = 0
        for round in 0..<500 {
            let input = Input(
                Entries: (0..<(1 + generator.next(10))).map { i in
                    Entry(Id: String(i), ReceiptHandle: generator.text(), VisibilityTimeout: generator.next(2) == 0 ? nil : generator.next(43_201))
                },
                QueueUrl: "http://127.0.0.1:4566/000000000000/" + generator.text())
            let ours = Self.written(input)
            let theirs = Self.encoded(input)
            #expect(Self.parsed(ours) != nil, "round \(round): not JSON")
            #expect(Self.parsed(ours) == Self.parsed(theirs), "round \(round)")
            if ours == theirs { sameBytes += 1 }
        }
        // Same member order and escapes: byte for byte the same body, except where the two
        // spell a control character's \u escape differently.
        #expect(sameBytes > 250)
        let simple = Input(Entries: [Entry(Id: "0", ReceiptHandle: "a/b+c==", VisibilityTimeout: 0)], QueueUrl: "http://q/1/x")
        #expect(String(decoding: Self.written(simple), as: UTF8.self)
            == #"{"Entries":[{"Id":"0","ReceiptHandle":"a/b+c==","VisibilityTimeout":0}],"QueueUrl":"http://q/1/x"}"#)
        #expect(Self.written(simple) == Self.encoded(simple))
    }

    struct ReferenceBatch: Decodable, Equatable {
        struct Success: Decodable, Equatable { let Id: String; let MessageId: String?; let MD5OfMessageBody: String? }
        struct Failure: Decodable, Equatable { let Id: String; let Code: String; let Message: String?; let SenderFault: Bool? }
        let Successful: [Success]?
        let Failed: [Failure]?
    }

    /// Both decodings as comparable text; nil when refused.
    static func ours(_ bytes: [UInt8]) -> String? {
        guard let output = bytes.withUnsafeBytes({ try? BatchOutput.decode($0) }) else { return nil }
        return "\(output.Successful.map { $0.map { [$0.Id, $0.MessageId ?? "-", $0.MD5OfMessageBody ?? "-"] } } as Any)"
            + "\(output.Failed.map { $0.map { [$0.Id, $0.Code, $0.Message ?? "-", $0.SenderFault.map { "\($0)" } ?? "-"] } } as Any)"
    }

    static func reference(_ bytes: [UInt8]) -> String? {
        var data = Data(bytes)
        if data.allSatisfy({ $0 == 0x20 || $0 == 0x0A || $0 == 0x0D || $0 == 0x09 }) { data = Data("{}".utf8) }
        guard let output = try? JSONDecoder().decode(ReferenceBatch.self, from: data) else { return nil }
        return "\(output.Successful.map { $0.map { [$0.Id, $0.MessageId ?? "-", $0.MD5OfMessageBody ?? "-"] } } as Any)"
            + "\(output.Failed.map { $0.map { [$0.Id, $0.Code, $0.Message ?? "-", $0.SenderFault.map { "\($0)" } ?? "-"] } } as Any)"
    }

    static func batchAnswer(_ generator: inout AnswerGenerator) -> [UInt8] {
        var members: [(String, String)] = []
        if generator.next(4) > 0 {
            let entries = (0..<generator.next(6)).map { i in
                var fields = [("Id", generator.literal(String(i)))]
                if generator.next(2) == 0 { fields.append(("MessageId", generator.next(4) == 0 ? "null" : generator.literal(generator.text()))) }
                if generator.next(2) == 0 { fields.append(("MD5OfMessageBody", generator.literal(generator.text()))) }
                return generator.object(fields)
            }
            members.append(("Successful", "[" + entries.joined(separator: ",") + "]"))
        }
        if generator.next(2) == 0 {
            let entries = (0..<generator.next(4)).map { i in
                var fields = [("Id", generator.literal(String(i))), ("Code", generator.literal(generator.text()))]
                if generator.next(2) == 0 { fields.append(("Message", generator.literal(generator.text()))) }
                if generator.next(2) == 0 { fields.append(("SenderFault", ["true", "false", "null"][generator.next(3)])) }
                return generator.object(fields)
            }
            members.append(("Failed", generator.next(5) == 0 ? "null" : "[" + entries.joined(separator: ",") + "]"))
        }
        return Array((generator.whitespace() + generator.object(members) + generator.whitespace()).utf8)
    }

    @Test func readsBatchAnswersAsTheDecoderDoes() {
        var generator = AnswerGenerator(seed: 0x5151_0005)
        let alphabet = Array(#"{}[]:,"\ u0-1tfnl"#.utf8) + [0x00, 0x1F, 0xC3, 0xFF]
        var accepted = 0, refused = 0
        for round in 0..<1_500 {
            var bytes = Self.batchAnswer(&generator)
            if round % 3 != 0 {  // two rounds in three: mutated
                for _ in 0..<(1 + generator.next(2)) {
                    let at = generator.next(bytes.count)
                    if generator.next(2) == 0 { bytes[at] = alphabet[generator.next(alphabet.count)] } else { bytes.remove(at: at) }
                }
            }
            // As for receive answers (ReceiveAnswerDecoderTests): where both accept, the same
            // entries; mutations JSONDecoder does not look at may be judged differently.
            let ours = Self.ours(bytes)
            let theirs = Self.reference(bytes)
            if let ours, let theirs {
                #expect(ours == theirs, "round \(round)")
                accepted += 1
            } else if ours == nil && theirs == nil {
                refused += 1
            }
        }
        #expect(Self.ours(Array("{}".utf8)) == Self.reference(Array("{}".utf8)))
        #expect(Self.ours(Array(#"{"Successful":[]}"#.utf8)) == Self.reference(Array(#"{"Successful":[]}"#.utf8)))
        #expect(Self.ours(Array(#"{"Successful":[{"Id":"0"}]}"#.utf8)) == Self.reference(Array(#"{"Successful":[{"Id":"0"}]}"#.utf8)))
        #expect(accepted > 300)
        #expect(refused > 300)
        #expect(Self.ours(Array(#"{"Successful":[{"Id":"0"}],"Failed":[{"Id":"1","Code":"ReceiptHandleIsInvalid","SenderFault":true}]}"#.utf8))
            == #"Optional([["0", "-", "-"]])Optional([["1", "ReceiptHandleIsInvalid", "-", "true"]])"#)
    }
}
