/// One `process_raw_logins` call as the loader saw it: whether it succeeded, how long it
/// took, and the notices it raised (its summary line, see `ProcessRunSummary`).
public struct ProcessRun: Sendable {
    public let succeeded: Bool
    public let duration: Duration
    public let notices: [String]

    public init(succeeded: Bool, duration: Duration, notices: [String]) {
        self.succeeded = succeeded
        self.duration = duration
        self.notices = notices
    }
}
