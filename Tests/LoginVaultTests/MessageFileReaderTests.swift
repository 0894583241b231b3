import Foundation
@testable import LoginVault
import Testing

@Suite("Message files (--from-file)")
struct MessageFileReaderTests {
    func read(_ text: String, format: MessageFileReader.Format = .auto, chunkSize: Int = 7) async throws -> [IncomingMessage] {
        let url = FileManager.default.temporaryDirectory.appendingPathComponent("lv-messages-\(UUID().uuidString)")
        try Data(text.utf8).write(to: url)
        defer { try? FileManager.default.removeItem(at: url) }
        var messages: [IncomingMessage] = []
        for try await message in MessageFileReader(path: url.path, format: format, chunkSize: chunkSize) {
            messages.append(message)
        }
        return messages
    }

    @Test func arrayElementsKeepTheirExactBytes() async throws {
        let text = """
             [ {"a": "x,y]}", "b": [1, {"c": "\\"quoted\\" ]"}]},
              "a string, with a comma" ,
             null, 12.5e3, {"emoji": "🔐", "rtl": "עברית"}, [ ], {}
            ]\n
            """
        let bodies = try await read(text).map(\.body)
        #expect(bodies == [
            #"{"a": "x,y]}", "b": [1, {"c": "\"quoted\" ]"}]}"#,
            #""a string, with a comma""#,
            "null", "12.5e3", #"{"emoji": "🔐", "rtl": "עברית"}"#, "[ ]", "{}",
        ])
    }

    @Test func linesSkipBlanksAndCarriageReturns() async throws {
        let bodies = try await read("{\"a\":1}\r\n\n   \nnot json at all\n{\"b\":[1,2]}").map(\.body)
        #expect(bodies == ["{\"a\":1}", "not json at all", "{\"b\":[1,2]}"])
    }

    @Test func idsAreStableAndDistinctPerPosition() async throws {
        let first = try await read("[{\"x\":1},{\"x\":1},{\"x\":2}]")
        let again = try await read("[{\"x\":1},{\"x\":1},{\"x\":2}]", chunkSize: 1 << 20)
        #expect(first.map(\.messageId) == again.map(\.messageId))
        #expect(Set(first.map(\.messageId)).count == 3)
        #expect(first[0].messageId.hasPrefix("file-1-"))
        #expect(first.allSatisfy { $0.sentAt == nil && $0.receiptHandle == nil })
    }

    @Test func everyChunkSizeCutsTheSameMessages() async throws {
        // Messages are cut out of the read buffer in place; one that spans chunks is
        // carried over. Any chunk size must give the same bodies and ids.
        let array = "  [ {\"a\": \"x,y]}\"} ,\"s\\\"]\",\n 12 , [1,[2]],{\"e\":\"\u{1F510}\"} ]  \n"
        let lines = "\n  {\"a\":1}\r\n\n{\"b\": \"\u{05E2}\u{05D1}\"}\nno newline at the end"
        for text in [array, lines] {
            let whole = try await read(text, chunkSize: 1 << 20)
            #expect(whole.count == (text == array ? 5 : 3))
            for chunkSize in 1...17 {
                let cut = try await read(text, chunkSize: chunkSize)
                #expect(cut.map(\.body) == whole.map(\.body), "chunk size \(chunkSize)")
                #expect(cut.map(\.messageId) == whole.map(\.messageId), "chunk size \(chunkSize)")
            }
        }
    }

    @Test func truncatedArrayIsAnError() async throws {
        await #expect(throws: MessageFileError.truncated) { _ = try await read("[{\"a\":1}, {\"b\":") }
    }

    @Test func garbageBetweenElementsIsAnError() async throws {
        await #expect(throws: MessageFileError.self) { _ = try await read("[1] 2", format: .array) }
    }

    @Test func bodiesKeepTheirBytesEvenWhenNotText() async throws {
        var bytes = Array("{\"a\":\"".utf8) + [0xFF, 0xFE] + Array("\"}\n{\"b\":\"".utf8) + [0x00] + Array("\"}\n".utf8)
        bytes += Array("{\"ok\":true}\n".utf8)
        let url = FileManager.default.temporaryDirectory.appendingPathComponent("lv-bytes-\(UUID().uuidString)")
        try Data(bytes).write(to: url)
        defer { try? FileManager.default.removeItem(at: url) }
        var messages: [IncomingMessage] = []
        for try await message in MessageFileReader(path: url.path) { messages.append(message) }
        // Not judged here: the database quarantines them (invalid_utf8, nul_byte).
        #expect(messages.map(\.bodyBytes) == [Array("{\"a\":\"".utf8) + [0xFF, 0xFE] + Array("\"}".utf8),
                                               Array("{\"b\":\"".utf8) + [0x00] + Array("\"}".utf8),
                                               Array("{\"ok\":true}".utf8)])
    }

    @Test func theShippedSampleHasOneHundredMessages() async throws {
        let sample = try String(contentsOf: URL(fileURLWithPath: #filePath).deletingLastPathComponent()
            .deletingLastPathComponent().deletingLastPathComponent()
            .appendingPathComponent("examples/login-queue-sample.json"), encoding: .utf8)
        let messages = try await read(sample, chunkSize: 4096)
        #expect(messages.count == 100)
        #expect(messages.filter { $0.body.contains("\"locale\": null") }.count == 29)
    }
}
