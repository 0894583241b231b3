import ArgumentParser
import Foundation

/// `loginvault version`: the version and the commit it was built from.
struct VersionCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "version",
        abstract: "Print loginvault's version and the commit it was built from.",
        discussion: """
            The commit comes from <prefix>/share/loginvault/COMMIT, written by `make install`, \
            else from the git checkout the executable was built in; "unknown" when neither is there.

            Examples:
              loginvault version
              loginvault --version
            """
    )

    func run() {
        print(BuildInfo.versionLine)
    }
}

/// What `version` reports.
enum BuildInfo {
    static let version = "0.1.0"

    static var versionLine: String { "loginvault \(version) (commit \(commit ?? "unknown"))" }

    /// The commit, from the installed COMMIT file or the source tree's git checkout.
    static var commit: String? {
        let executable = URL(fileURLWithPath: CommandLine.arguments[0]).resolvingSymlinksInPath()
        let installed = executable.deletingLastPathComponent().deletingLastPathComponent()
            .appendingPathComponent("share/loginvault/COMMIT")
        if let text = try? String(contentsOf: installed, encoding: .utf8) {
            let trimmed = text.trimmingCharacters(in: .whitespacesAndNewlines)
            if !trimmed.isEmpty { return trimmed }
        }
        var sourceRoot = URL(fileURLWithPath: #filePath)
        for _ in 0..<3 { sourceRoot.deleteLastPathComponent() }
        guard FileManager.default.fileExists(atPath: sourceRoot.appendingPathComponent(".git").path) else { return nil }
        let git = Process()
        git.executableURL = URL(fileURLWithPath: "/usr/bin/env")
        git.arguments = ["git", "-C", sourceRoot.path, "rev-parse", "HEAD"]
        let output = Pipe()
        git.standardOutput = output
        git.standardError = FileHandle.nullDevice
        guard (try? git.run()) != nil else { return nil }
        git.waitUntilExit()
        let text = String(decoding: output.fileHandleForReading.readDataToEndOfFile(), as: UTF8.self)
            .trimmingCharacters(in: .whitespacesAndNewlines)
        return git.terminationStatus == 0 && !text.isEmpty ? text : nil
    }
}
