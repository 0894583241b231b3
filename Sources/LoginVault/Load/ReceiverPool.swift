import Synchronization

/// What `QueueLoader`'s receivers share: how many run and how many should
/// (the `ReceiverController`'s target), how many receives are in flight, and
/// what they saw since the loader last looked (one `Observation` per interval).
final class ReceiverPool: Sendable {
    private struct State {
        var target: Int
        var running = 0
        /// Receives sent and not answered yet.
        var outstanding = 0
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
    /// plus the receives in flight stay within `maxHeld`; else counts the receiver as
    /// blocked and returns false.
    func startReceive(wanted: Int, held: Int) -> Bool {
        state.withLock { state in
            guard held + 10 * state.outstanding + wanted <= maxHeld || state.outstanding == 0 && held == 0 else {
                state.observation.blocked += 1
                return false
            }
            state.outstanding += 1
            return true
        }
    }

    func answered(asked: Int, got: Int) {
        state.withLock { state in
            state.outstanding -= 1
            state.observation.receives += 1
            state.observation.asked += asked
            state.observation.messages += got
            if got == 0 { state.observation.emptyReceives += 1 }
        }
    }

    /// A receive failed (or was never sent: `reserve` found nothing left to take).
    func failed(sent: Bool = true) {
        state.withLock { state in
            state.outstanding -= 1
            if sent { state.observation.failedReceives += 1 }
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
