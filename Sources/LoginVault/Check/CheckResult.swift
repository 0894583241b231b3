/// One line of `loginvault check` (and of `load`'s pre-flight): one part of the
/// configuration, whether it works, and if not, how to fix it.
public struct CheckResult: Sendable, Equatable, Encodable {
    public enum Status: String, Sendable, Encodable {
        /// Works.
        case ok
        /// Works, but worth knowing (e.g. migrations pending that loading does not need).
        case warning
        /// A load would fail because of this.
        case failed
    }

    /// What was checked: `credentials`, `region`, `endpoint`, `queue`, `database`, `role`, `migrations`, ...
    public let item: String
    public let status: Status
    /// What was found (never a secret).
    public let detail: String
    /// What to do, when something is wrong.
    public let fix: String?

    public init(_ item: String, _ status: Status, _ detail: String, fix: String? = nil) {
        self.item = item
        self.status = status
        self.detail = detail
        self.fix = fix
    }

    /// `item: detail` and, when something is wrong, `: fix`.
    public var line: String {
        var text = "\(item): \(detail)"
        if let fix { text += "; \(fix)" }
        return text
    }
}

extension Array where Element == CheckResult {
    /// The first failed check, if any.
    public var firstFailure: CheckResult? { first { $0.status == .failed } }
}
