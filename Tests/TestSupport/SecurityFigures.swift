import Foundation

/// Counts what the security suite and the hostile corpus checked, for the figures table that
/// `make chaos` prints (issue 6: "hostile cases, security checks passed").
///
/// With `LOGINVAULT_SECURITY_FIGURES_DIR` set (scripts/security-suite.sh sets it), `record`
/// writes `<test>.json` there. The script counts a file only if its test passed, so a test
/// records what it checked and leaves the verdict to its expectations.
public enum SecurityFigures {
    /// Which column of the table a count belongs to.
    public enum Kind: String, Sendable {
        /// A security check passed (a secret absent from one place, a value absent from a dump, ...).
        case security
        /// A hostile-input case that ended exactly as expected.
        case hostile
    }

    /// Records that `test` (its function name, `#function`) made `checks` checks of `kind`,
    /// described by `what`. Does nothing without `LOGINVAULT_SECURITY_FIGURES_DIR`.
    public static func record(test: String, kind: Kind, checks: Int, what: String) {
        guard let directory = Integration.environment["LOGINVAULT_SECURITY_FIGURES_DIR"], !directory.isEmpty else { return }
        let figure: [String: Any] = ["test": test, "kind": kind.rawValue, "checks": checks, "what": what]
        let name = test.filter { $0.isLetter || $0.isNumber }
        do {
            try FileManager.default.createDirectory(atPath: directory, withIntermediateDirectories: true)
            let data = try JSONSerialization.data(withJSONObject: figure, options: [.sortedKeys])
            try data.write(to: URL(fileURLWithPath: directory).appendingPathComponent("\(name).json"))
        } catch {
            FileHandle.standardError.write(Data("SecurityFigures: could not write \(name).json: \(error)\n".utf8))
        }
    }
}
