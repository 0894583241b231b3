/// The counts in `process_raw_logins`' summary notice:
/// `process_raw_logins: 100 staged, 99 upserted, 1 rejected, 0 unchanged, 1 batches, 0.042 s (run 7)`.
public struct ProcessRunSummary: Sendable, Equatable {
    public var staged = 0
    public var upserted = 0
    public var rejected = 0

    /// The counts of the first summary notice among `notices`; nil if there is none.
    public init?(notices: [String]) {
        guard let line = notices.first(where: { $0.hasPrefix("process_raw_logins: ") }) else { return nil }
        var found = false
        for part in line.dropFirst("process_raw_logins: ".count).split(separator: ",") {
            let words = part.split(separator: " ")
            guard words.count == 2, let value = Int(words[0]) else { continue }
            switch words[1] {
            case "staged": staged = value; found = true
            case "upserted": upserted = value; found = true
            case "rejected": rejected = value; found = true
            default: break
            }
        }
        if !found { return nil }
    }
}
