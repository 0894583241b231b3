import Synchronization

/// What `QueueLoader`'s receivers share: how many run and how many should
/// (the `ReceiverController`'s target), which receives are in flight and whether
/// any brought messages (what a drain needs to trust an empty answer, see
/// `quietSince`), and what they saw since the loader last looked (one
/// `Observation` per interval).
final class ReceiverPool: Sendable {
    /// One receive, from `startReceive` to `answered` or `failed`.
    struct Ticket: Sendable {
        /// Receives are numbered in the order they start.
        let sequence: Int
        /// `State.broughtMessages` when this receive started.
        let broughtBefore: Int
    }

    private struct State {
        var target: Int
        var running = 0
        /// Receives sent and not answered yet, by sequence number.
        var outstanding: Set<Int> = []
        /// The sequence number of the last receive started.
        var lastStarted = 0
        /// Receives answered with messages, or failed after being sent (such a receive may have
        /// taken messages whose answer never came), so far.
        var broughtMessages = 0
        /// No receiver starts any more: one ended for good (drained, `--max-messages`, stopping).
        var closed = false
        var observation = ReceiverController.Observation(seconds: 0)
    }

    private let state: Mutex<State>
    /// Messages held (received, not yet deleted or released) plus what the receives in
    /// flight may bring: a receive is only sent while this stays within the bound.
    let maxHeld: Int

    init(target: Int, maxHeld: Int) {
        state = Mutex(State(target: target))
        self.maxHeld = maxHeld
    }

    var target: Int { state.withLock { $0.target } }
    var running: Int { state.withLock { $0.running } }

    func setTarget(_ target: Int) {
        state.withLock { $0.target = target }
    }

    /// Counts a receiver the loader is about to start, if one is missing; false when
    /// enough run or the pool is closed.
    func claimStart() -> Bool {
        state.withLock { state in
            guard !state.closed, state.running < state.target else { return false }
            state.running += 1
            return true
        }
    }

    /// A receiver asks, between receives, whether it is one too many; if so it is
    /// counted out and must end.
    func retireIfSurplus() -> Bool {
        state.withLock { state in
            guard state.running > state.target else { return false }
            state.running -= 1
            return true
        }
    }

    /// A receiver ended for good (not as a surplus): no more start. Returns whether it
    /// was the last one.
    func ended() -> Bool {
        state.withLock { state in
            state.running -= 1
            state.closed = true
            return state.running == 0
        }
    }

    /// Whether all receivers have ended and none will start.
    var isFinished: Bool { state.withLock { $0.closed && $0.running == 0 } }

    /// Reserves room for a receive of `wanted` messages if the messages held (`held`)
    /// plus the receives in flight stay within `maxHeld`, and numbers the receive; else
    /// counts the receiver as blocked and returns nil.
    func startReceive(wanted: Int, held: Int) -> Ticket? {
        state.withLock { state in
            guard held + 10 * state.outstanding.count + wanted <= maxHeld || state.outstanding.isEmpty && held == 0 else {
                state.observation.blocked += 1
                return nil
            }
            state.lastStarted += 1
            state.outstanding.insert(state.lastStarted)
            return Ticket(sequence: state.lastStarted, broughtBefore: state.broughtMessages)
        }
    }

    /// The receive answered. With messages, call this only once they are counted in flight
    /// (`InFlightMessages.add`): until then the receive still counts as outstanding, so no
    /// other receiver takes the moment between for one in which this process held nothing.
    func answered(_ ticket: Ticket, asked: Int, got: Int) {
        state.withLock { state in
            state.outstanding.remove(ticket.sequence)
            if got > 0 { state.broughtMessages += 1 }
            state.observation.receives += 1
            state.observation.asked += asked
            state.observation.messages += got
            if got == 0 { state.observation.emptyReceives += 1 }
        }
    }

    /// A receive failed (or was never sent: `reserve` found nothing left to take). One that
    /// was sent counts as having brought messages: SQS may have handed some out to it.
    func failed(_ ticket: Ticket, sent: Bool = true) {
        state.withLock { state in
            state.outstanding.remove(ticket.sequence)
            if sent {
                state.broughtMessages += 1
                state.observation.failedReceives += 1
            }
        }
    }

    /// The sequence number of the last receive started so far.
    var lastStarted: Int { state.withLock { $0.lastStarted } }

    /// For a drain's empty answer to `ticket`: nil while a receive numbered up to `through`
    /// is still outstanding; then whether none answered with messages (or failed) since
    /// `ticket` was sent. Pass as `through` the last receive started when the empty answer
    /// arrived: SQS can have served no receive started later before ours.
    func quietSince(_ ticket: Ticket, through last: Int) -> Bool? {
        state.withLock { state in
            guard !state.outstanding.contains(where: { $0 <= last }) else { return nil }
            return state.broughtMessages == ticket.broughtBefore
        }
    }

    /// A hand-over to the writer had to wait for room.
    func blocked() {
        state.withLock { $0.observation.blocked += 1 }
    }

    /// What was seen since the last call, over `seconds`.
    func takeObservation(seconds: Double) -> ReceiverController.Observation {
        state.withLock { state in
            var taken = state.observation
            taken.seconds = seconds
            state.observation = ReceiverController.Observation(seconds: 0)
            return taken
        }
    }
}
