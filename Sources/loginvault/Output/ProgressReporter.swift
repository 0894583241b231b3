import Foundation
import LoginVault

/// A live progress line on standard error while a job runs (on a terminal): the
/// counters, the total when known (the queue's approximate depth at the start),
/// the rate over the last seconds, an ETA, and the phase (loading, processing).
/// It is drawn through `StandardError`, so log lines never run into it, and it is
/// gone before the summary is printed.
struct ProgressReporter: Sendable {
    let statistics: LoadStatistics
    let enabled: Bool
    /// Messages expected, when known.
    var total: Int?
    /// The rate is measured over this window.
    static let window = Duration.seconds(5)

    /// Runs `body`, refreshing the line twice a second, and removes it afterwards.
    func `while`<T: Sendable>(_ body: () async throws -> T) async throws -> T {
        guard enabled else { return try await body() }
        let ticker = Task { [statistics, total] in
            var samples: [(at: ContinuousClock.Instant, received: Int)] = [(.now, statistics.snapshot.received)]
            while true {
                try? await Task.sleep(for: .milliseconds(500))
                if Task.isCancelled { return }
                let s = statistics.snapshot
                let now = ContinuousClock.now
                samples.append((now, s.received))
                while samples.count > 2, now - samples[0].at > Self.window { samples.removeFirst() }
                StandardError.showProgress(Self.line(s, phase: statistics.phase, total: total, samples: samples))
            }
        }
        func stop() async {
            ticker.cancel()
            await ticker.value
            StandardError.showProgress(nil)
        }
        do {
            let result = try await body()
            await stop()
            return result
        } catch {
            await stop()
            throw error
        }
    }

    static func line(_ s: LoadStatistics.Snapshot, phase: LoadStatistics.Phase, total: Int?,
                     samples: [(at: ContinuousClock.Instant, received: Int)]) -> String {
        var rate = 0.0
        if let first = samples.first, let last = samples.last, last.at > first.at {
            let span = last.at - first.at
            rate = Double(last.received - first.received)
                / (Double(span.components.seconds) + Double(span.components.attoseconds) / 1e18)
        }
        var text = "\(phase.rawValue): received \(s.received)"
        if let total, total > 0 {
            let percent = min(100, Int(Double(s.received) * 100 / Double(total)))
            text += " of ~\(total) (\(percent)%)"
        }
        text += "  staged \(s.staged)  duplicates \(s.duplicates)  rejected \(s.rejected + s.quarantined)  deleted \(s.deleted)"
        text += String(format: "  %.0f msgs/s", rate)
        if phase == .loading, let total, rate > 0, total > s.received {
            let seconds = Int(Double(total - s.received) / rate)
            text += "  ETA " + (seconds >= 60 ? "\(seconds / 60) min \(seconds % 60) s" : "\(seconds) s")
        }
        return text
    }
}
