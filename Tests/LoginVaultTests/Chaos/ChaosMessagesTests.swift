import Foundation
import TestSupport
import Testing

/// The chaos workload itself: reproducible from its seed, and a real mix.
@Suite("Chaos workload")
struct ChaosMessagesTests {
    @Test func theSameSeedGivesTheSameMessagesAndAnotherSeedOthers() {
        var a = SplitMix64(seed: 42), b = SplitMix64(seed: 42), c = SplitMix64(seed: 43)
        let first = ChaosMessages.generate(200, using: &a).map(\.body)
        #expect(first == ChaosMessages.generate(200, using: &b).map(\.body))
        #expect(first != ChaosMessages.generate(200, using: &c).map(\.body))
    }

    @Test func aWorkloadMixesValidInvalidAndDuplicates() {
        var random = SplitMix64(seed: 7)
        let messages = ChaosMessages.generate(2000, using: &random)
        let invalid = messages.filter { $0.kind == .invalid }
        #expect((100...300).contains(invalid.count), "\(invalid.count) invalid of 2000")
        // Every kind of reject is there, and so are exact duplicates of both kinds.
        for body in ChaosMessages.invalidBodies { #expect(invalid.contains { $0.body == body }, "\(body)") }
        #expect(invalid.contains { $0.body.contains(#""ip": "999."#) })
        let copies = messages.count - Set(messages.map(\.body)).count
        #expect(copies > 100)
        // Valid bodies are JSON objects with every field; invalid ones never parse as a login.
        for message in messages where message.kind == .valid {
            let object = try? JSONSerialization.jsonObject(with: Data(message.body.utf8)) as? [String: Any]
            #expect(object?["user_id"] as? String != nil && object?["ip"] as? String != nil)
        }
    }
}
