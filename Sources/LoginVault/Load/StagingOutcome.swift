/// What staging one batch did, message by message counted.
public struct StagingOutcome: Sendable, Equatable {
    /// New rows in `raw_logins`.
    public var staged = 0
    /// Messages whose id was already staged (SQS redelivery, or twice in a batch).
    public var duplicates = 0
    /// Bodies that are text but not valid jsonb, quarantined by the database with a reason.
    public var rejected = 0
    /// Messages the database quarantined before staging: `too_many_receives`
    /// (poison), `nul_byte` or `invalid_utf8`.
    public var quarantined = 0
    /// The rejected and quarantined ones by reason code, as the database reported them
    /// (the setting `loginvault.rejected_reasons`, sql/definitions/30_quarantine.sql).
    public var rejectedReasons: [String: Int] = [:]

    public init(staged: Int = 0, duplicates: Int = 0, rejected: Int = 0, quarantined: Int = 0,
                rejectedReasons: [String: Int] = [:]) {
        self.staged = staged
        self.duplicates = duplicates
        self.rejected = rejected
        self.quarantined = quarantined
        self.rejectedReasons = rejectedReasons
    }

    /// Every message of the batch, whatever became of it.
    public var total: Int { staged + duplicates + rejected + quarantined }

    public static func += (lhs: inout StagingOutcome, rhs: StagingOutcome) {
        lhs.staged += rhs.staged
        lhs.duplicates += rhs.duplicates
        lhs.rejected += rhs.rejected
        lhs.quarantined += rhs.quarantined
        lhs.rejectedReasons.merge(rhs.rejectedReasons, uniquingKeysWith: +)
    }
}
