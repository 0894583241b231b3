/// Decides how many receives `load` keeps in flight (`--receivers auto`), from
/// what the receivers saw during the last interval. Pure and deterministic: the
/// loader feeds it one `Observation` per interval and applies the target it returns.
///
/// The rules, in order:
/// 0. A receive failed (timed out, throttled, refused): halve.
/// 1. Nothing answered during the interval (long polls still waiting): no change.
/// 2. A receive came back empty: the queue is (nearly) drained, halve.
/// 3. Receives came back less than 90% full: messages trickle in, and more receives
///    would only cost requests per message; one step down (a quarter).
/// 4. Received messages had to wait for room (the writer, so the database or the
///    deletes, is the bottleneck): one down, or back to where a climb started (and
///    stay there for `holdIntervals`).
/// 5. Otherwise (full receives, room downstream, and at least 3 answers per receiver in
///    the interval, so a small queue is not polled by many) climb: double, then keep the new
///    level only if the next interval moved at least `minimumGain` more messages per
///    second; if not, go back and stay there for `holdIntervals` before trying again.
/// The target stays within `minimum...maximum`; a fixed `--receivers N` is `N...N`.
public struct ReceiverController: Sendable, Equatable {
    /// What the receivers saw during one interval.
    public struct Observation: Sendable, Equatable {
        /// Receives answered (successfully) during the interval.
        public var receives = 0
        /// Messages those receives brought.
        public var messages = 0
        /// Receives that brought nothing.
        public var emptyReceives = 0
        /// Receives that failed (timed out, refused, throttled).
        public var failedReceives = 0
        /// Messages asked for (10 per receive, fewer near `--max-messages`).
        public var asked = 0
        /// Hand-overs to the writer that had to wait for room, and receives held back
        /// because the messages held reached their bound.
        public var blocked = 0
        /// The interval's length.
        public var seconds = 0.5

        public init(receives: Int = 0, messages: Int = 0, emptyReceives: Int = 0, failedReceives: Int = 0,
                    asked: Int? = nil, blocked: Int = 0, seconds: Double = 0.5) {
            self.receives = receives
            self.messages = messages
            self.emptyReceives = emptyReceives
            self.failedReceives = failedReceives
            self.asked = asked ?? receives * 10
            self.blocked = blocked
            self.seconds = seconds
        }

        var rate: Double { seconds > 0 ? Double(messages) / seconds : 0 }
    }

    /// Why the last decision was made (for debug logs and tests).
    public enum Reason: String, Sendable {
        case start, idle, failing, empty, partial, blocked, probe, kept, reverted, holding, fewAnswers, atMaximum
    }

    public let minimum: Int
    public let maximum: Int
    /// How much faster the interval after a climb must be for the climb to stay (0.1: 10%).
    public let minimumGain: Double
    /// Intervals to wait at a level after a climb that did not pay, before probing again.
    public let holdIntervals: Int
    public private(set) var target: Int
    public private(set) var reason = Reason.start
    /// Set while a climb is being judged: the level before it and the rate there.
    private var probe: (from: Int, rate: Double)?
    private var holding = 0

    public static func == (a: Self, b: Self) -> Bool {
        a.minimum == b.minimum && a.maximum == b.maximum && a.target == b.target && a.reason == b.reason
            && a.holding == b.holding && a.probe?.from == b.probe?.from && a.probe?.rate == b.probe?.rate
    }

    /// - Parameters:
    ///   - initial: where to start (clamped to the range).
    public init(minimum: Int, maximum: Int, initial: Int, minimumGain: Double = 0.1, holdIntervals: Int = 10) {
        self.minimum = max(1, minimum)
        self.maximum = max(self.minimum, maximum)
        self.minimumGain = minimumGain
        self.holdIntervals = holdIntervals
        self.target = min(max(initial, self.minimum), self.maximum)
    }

    /// A fixed number of receivers: every decision keeps it.
    public static func fixed(_ receivers: Int) -> ReceiverController {
        ReceiverController(minimum: receivers, maximum: receivers, initial: receivers)
    }

    /// Takes one interval's observation; returns the new target.
    @discardableResult
    public mutating func observe(_ o: Observation) -> Int {
        if o.failedReceives > 0 {
            // A slow or overloaded server: fewer requests at once. (A receive that times out
            // may have taken messages the answer never brought: they stay invisible.)
            step(to: target / 2, .failing)
            return target
        }
        guard o.receives > 0 else {
            reason = .idle
            return target
        }
        if o.emptyReceives > 0 {
            step(to: target / 2, .empty)
        } else if o.messages * 10 < o.asked * 9 {
            step(to: target - max(1, target / 4), .partial)
        } else if o.blocked > 0 {
            if let probe {
                // The climb overran what downstream takes: back, and stay there a while.
                step(to: probe.from, .blocked)
                holding = holdIntervals
            } else {
                step(to: target - 1, .blocked)
            }
        } else if let probe {
            if o.rate >= probe.rate * (1 + minimumGain) {
                self.probe = nil
                reason = .kept
                climb(from: o.rate)
            } else {
                self.probe = nil
                holding = holdIntervals
                target = probe.from
                reason = .reverted
            }
        } else if holding > 0 {
            holding -= 1
            reason = .holding
        } else if o.receives < 3 * target {
            // Too few answers to judge a step by (a small queue, slow answers): a drain of a
            // few hundred messages should not end with dozens of receivers polling it empty.
            reason = .fewAnswers
        } else {
            climb(from: o.rate)
        }
        return target
    }

    private mutating func climb(from rate: Double) {
        guard target < maximum else {
            reason = .atMaximum
            return
        }
        probe = (target, rate)
        target = min(maximum, target * 2)
        reason = .probe
    }

    /// A step down: any climb being judged is over (the conditions changed).
    private mutating func step(to wanted: Int, _ why: Reason) {
        probe = nil
        holding = 0
        target = min(max(wanted, minimum), maximum)
        reason = why
    }
}
