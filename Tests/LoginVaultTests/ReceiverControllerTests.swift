@testable import LoginVault
import Testing

/// `--receivers auto`'s decisions, fed observations by hand: no queue, no clock.
@Suite("ReceiverController")
struct ReceiverControllerTests {
    typealias Observation = ReceiverController.Observation

    /// Full receives (10 messages each) at `rate` messages/s over half a second.
    static func full(rate: Double, blocked: Int = 0) -> Observation {
        let messages = Int(rate / 2)
        return Observation(receives: messages / 10, messages: messages, blocked: blocked, seconds: 0.5)
    }

    @Test func climbsWhileEachStepPaysThenGoesBackAndHolds() {
        var controller = ReceiverController(minimum: 1, maximum: 32, initial: 4, minimumGain: 0.1, holdIntervals: 3)
        // Latency-bound: throughput grows with every doubling, up to 16 receivers.
        #expect(controller.observe(Self.full(rate: 400)) == 8)
        #expect(controller.reason == .probe)
        #expect(controller.observe(Self.full(rate: 800)) == 16)
        #expect(controller.reason == .probe)  // kept 8, now trying 16
        #expect(controller.observe(Self.full(rate: 1600)) == 32)
        // 32 moves no more than 16 did (the server is the limit): back to 16, and stay.
        #expect(controller.observe(Self.full(rate: 1620)) == 16)
        #expect(controller.reason == .reverted)
        for _ in 0..<3 {
            #expect(controller.observe(Self.full(rate: 1600)) == 16)
            #expect(controller.reason == .holding)
        }
        // Then it tries again.
        #expect(controller.observe(Self.full(rate: 1600)) == 32)
        #expect(controller.reason == .probe)
    }

    @Test func aGainBelowTheThresholdDoesNotKeepTheStep() {
        var controller = ReceiverController(minimum: 1, maximum: 32, initial: 4, minimumGain: 0.1)
        controller.observe(Self.full(rate: 2000))
        #expect(controller.target == 8)
        // +5%: noise, not worth twice the connections.
        #expect(controller.observe(Self.full(rate: 2100)) == 4)
        #expect(controller.reason == .reverted)
    }

    @Test func neverAboveTheMaximum() {
        var controller = ReceiverController(minimum: 1, maximum: 6, initial: 4)
        #expect(controller.observe(Self.full(rate: 400)) == 6)
        #expect(controller.observe(Self.full(rate: 900)) == 6)
        #expect(controller.reason == .atMaximum)
        #expect(controller.observe(Self.full(rate: 900)) == 6)
    }

    @Test func emptyReceivesHalveDownToOneAndStayThere() {
        var controller = ReceiverController(minimum: 1, maximum: 32, initial: 16)
        let idle = Observation(receives: 3, messages: 0, emptyReceives: 3, seconds: 0.5)
        #expect(controller.observe(idle) == 8)
        #expect(controller.reason == .empty)
        #expect(controller.observe(idle) == 4)
        #expect(controller.observe(idle) == 2)
        #expect(controller.observe(idle) == 1)
        #expect(controller.observe(idle) == 1)
        // One empty answer among full ones is enough: the queue's end is near.
        var busy = ReceiverController(minimum: 1, maximum: 32, initial: 8)
        #expect(busy.observe(Observation(receives: 20, messages: 190, emptyReceives: 1)) == 4)
    }

    @Test func intervalsWithoutAnAnswerChangeNothing() {
        // Long polls on an idle queue: nothing answers for 20 s.
        var controller = ReceiverController(minimum: 1, maximum: 32, initial: 1)
        for _ in 0..<40 {
            #expect(controller.observe(Observation(receives: 0, messages: 0)) == 1)
            #expect(controller.reason == .idle)
        }
    }

    @Test func partFullReceivesStepDownByAQuarter() {
        var controller = ReceiverController(minimum: 1, maximum: 32, initial: 16)
        // 6 messages per receive on average: a trickle; more receives would only cost requests.
        #expect(controller.observe(Observation(receives: 10, messages: 60)) == 12)
        #expect(controller.reason == .partial)
        #expect(controller.observe(Observation(receives: 10, messages: 60)) == 9)
        // 9 of 10 is full enough, but 10 answers for 9 receivers are too few to judge a step by.
        #expect(controller.observe(Observation(receives: 10, messages: 90)) == 9)
        #expect(controller.reason == .fewAnswers)
        // With 3 answers per receiver: back to climbing.
        #expect(controller.observe(Observation(receives: 30, messages: 270)) == 18)
        #expect(controller.reason == .probe)
        // Near --max-messages a receive asks for fewer than 10: judged against what it asked.
        var last = ReceiverController(minimum: 1, maximum: 32, initial: 4)
        #expect(last.observe(Observation(receives: 12, messages: 117, asked: 117)) == 8)
    }

    @Test func aBlockedDatabaseTakesReceiversAway() {
        var controller = ReceiverController(minimum: 1, maximum: 32, initial: 8)
        // Received messages had to wait for the writer: one fewer each interval.
        #expect(controller.observe(Self.full(rate: 3000, blocked: 2)) == 7)
        #expect(controller.reason == .blocked)
        #expect(controller.observe(Self.full(rate: 3000, blocked: 1)) == 6)
        // A climb that runs into the database goes back to where it started and holds.
        var climbing = ReceiverController(minimum: 1, maximum: 32, initial: 4, holdIntervals: 2)
        #expect(climbing.observe(Self.full(rate: 1000)) == 8)
        #expect(climbing.observe(Self.full(rate: 1900, blocked: 3)) == 4)
        #expect(climbing.reason == .blocked)
        #expect(climbing.observe(Self.full(rate: 1000)) == 4)
        #expect(climbing.reason == .holding)
        #expect(climbing.observe(Self.full(rate: 1000)) == 4)
        #expect(climbing.observe(Self.full(rate: 1000)) == 8)
    }

    @Test func failingReceivesHalveEvenAmongFullOnes() {
        var controller = ReceiverController(minimum: 1, maximum: 32, initial: 16)
        #expect(controller.observe(Observation(receives: 30, messages: 300, failedReceives: 1)) == 8)
        #expect(controller.reason == .failing)
        // Also when nothing else answered in the interval (all timed out).
        #expect(controller.observe(Observation(receives: 0, messages: 0, failedReceives: 4)) == 4)
        #expect(controller.reason == .failing)
    }

    @Test func neverBelowTheMinimum() {
        var controller = ReceiverController(minimum: 2, maximum: 8, initial: 2)
        #expect(controller.observe(Observation(receives: 2, messages: 0, emptyReceives: 2)) == 2)
        #expect(controller.observe(Self.full(rate: 500, blocked: 1)) == 2)
    }

    @Test func aFixedCountNeverMoves() {
        var controller = ReceiverController.fixed(4)
        let observations = [Self.full(rate: 100), Self.full(rate: 10_000), Self.full(rate: 1000, blocked: 5),
                            Observation(receives: 4, messages: 0, emptyReceives: 4), Observation(receives: 10, messages: 20)]
        for observation in observations {
            #expect(controller.observe(observation) == 4)
        }
    }

    @Test func theStartIsClampedToTheRange() {
        #expect(ReceiverController(minimum: 1, maximum: 32, initial: 64).target == 32)
        #expect(ReceiverController(minimum: 0, maximum: 0, initial: 0).target == 1)
    }
}
