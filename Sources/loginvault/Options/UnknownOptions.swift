import ArgumentParser
import Foundation

/// Finds a mistyped long option before a command's own checks run: ArgumentParser
/// validates the command (e.g. "give --queue or --from-file") before it reports an
/// option it does not know, so `--queu` would be answered with the wrong complaint.
enum UnknownOptions {
    /// Throws "unknown option '--queu'; did you mean '--queue'?" for the first long option in
    /// `arguments` that `command` does not have.
    static func check<Command: ParsableCommand>(_ command: Command.Type,
                                                arguments: [String] = Array(CommandLine.arguments.dropFirst())) throws {
        let help = command.helpMessage(includeHidden: true, columns: 1000)
        let pattern = try NSRegularExpression(pattern: "--[a-z][a-z0-9-]*")
        var known = Set(pattern.matches(in: help, range: NSRange(help.startIndex..., in: help))
            .compactMap { Range($0.range, in: help).map { String(help[$0]) } })
        known.formUnion(["--help", "--version", "--generate-completion-script", "--experimental-dump-help"])
        for argument in arguments {
            if argument == "--" { break }
            guard argument.hasPrefix("--") else { continue }
            let name = String(argument.split(separator: "=", maxSplits: 1)[0])
            guard !known.contains(name) else { continue }
            let closest = known.min { distance(name, $0) < distance(name, $1) }
            let suggestion = closest.flatMap { distance(name, $0) <= max(2, name.count / 4) ? "; did you mean '\($0)'?" : nil }
            throw ValidationError("unknown option '\(name)'\(suggestion ?? "") (see --help)")
        }
    }

    /// Levenshtein distance.
    static func distance(_ a: String, _ b: String) -> Int {
        let a = Array(a), b = Array(b)
        var previous = Array(0...b.count)
        for i in 1...max(a.count, 1) where !a.isEmpty {
            var current = [i] + Array(repeating: 0, count: b.count)
            for j in 1...max(b.count, 1) where !b.isEmpty {
                current[j] = min(previous[j] + 1, current[j - 1] + 1, previous[j - 1] + (a[i - 1] == b[j - 1] ? 0 : 1))
            }
            previous = current
        }
        return a.isEmpty ? b.count : previous[b.count]
    }
}
