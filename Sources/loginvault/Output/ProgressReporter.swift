import Foundation
import LoginVault

/// A live progress line on standard error while a job runs (on a terminal).
struct ProgressReporter: Sendable {
    let statistics: LoadStatistics
    let enabled: Bool

    /// Runs `body`, refreshing the line twice a second, and clears it afterwards.
    func `while`<T: Sendable>(_ body: () async throws -> T) async throws -> T {
        guard enabled else { return try await body() }
        let statistics = self.statistics
        let ticker = Task {
            let start = ContinuousClock.now
            while !Task.isCancelled {
                try? await Task.sleep(for: .milliseconds(500))
                let s = statistics.snapshot
                let elapsed = ContinuousClock.now - start
                let seconds = Double(elapsed.components.seconds) + Double(elapsed.components.attoseconds) / 1e18
                let rate = seconds > 0 ? Double(s.received) / seconds : 0
                let line = String(format: "\r\u{1B}[2Kreceived %d  staged %d  duplicates %d  rejected %d  deleted %d  %.0f msgs/s",
                                  s.received, s.staged, s.duplicates, s.rejected + s.quarantined, s.deleted, rate)
                FileHandle.standardError.write(Data(line.utf8))
            }
        }
        defer {
            ticker.cancel()
            FileHandle.standardError.write(Data("\r\u{1B}[2K".utf8))
        }
        return try await body()
    }
}
