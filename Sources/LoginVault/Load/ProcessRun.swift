/// One `process_raw_logins` call as the loader saw it, for the metrics: how long it took,
/// and its run-log row (`ProcessingRun`) when it succeeded; nil when it failed.
public struct ProcessRun: Sendable {
    public let duration: Duration
    public let run: ProcessingRun?

    public var succeeded: Bool { run != nil }

    public init(duration: Duration, run: ProcessingRun?) {
        self.duration = duration
        self.run = run
    }
}
