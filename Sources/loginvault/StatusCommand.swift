import ArgumentParser
import Foundation
import LoginVault
import Postgres

/// `loginvault status`: what a DBA or an alert wants to know at a glance, from
/// `loginvault.status()` and the migration files, printed like Flyway's `info`.
struct StatusCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "status",
        abstract: "Show the staging backlog, the last processing run, logins and rejects, data keys and migrations.",
        discussion: """
            Reads loginvault.status() (the analyst and admin roles may call it) and compares \
            the latest migration applied with the files shipped. Every line is ok or attention: \
            a backlog older than --max-backlog-age, a processing run that died (open for an \
            hour), no run ever while rows wait, no data key, migrations pending. \
            Checksum drift is `loginvault migrate status`'s job (it needs the owner's rights).

            Exit codes: 0 all ok; 3 something needs attention (for cron and CI); 1 error.

            Examples:
              loginvault status --database 'host=db dbname=app user=analyst'
              loginvault status --json --max-backlog-age 300 || alert "loginvault needs attention"
            """
    )

    @Flag(help: "Print the status as JSON on standard output.")
    var json = false

    @Option(help: ArgumentHelp("A staged row older than this needs attention (processing is not keeping up).",
                               valueName: "seconds"))
    var maxBacklogAge = 900


    @OptionGroup var database: DatabaseOptions
    @OptionGroup var location: MigrationsLocationOptions

    func validate() throws {
        if maxBacklogAge < 0 { throw ValidationError("--max-backlog-age must be 0 or more seconds") }
    }

    /// One line of the status.
    struct Line: Encodable {
        let category: String
        let item: String
        let value: String
        let state: String
    }

    func run() throws {
        var lines: [Line] = []
        do {
            let connection = try database.connect()
            defer { connection.close() }
            for row in try connection.query("SELECT category, item, value, state FROM loginvault.status(make_interval(secs => $1::int))",
                                            [.int(maxBacklogAge)]).rows {
                lines.append(Line(category: row["category"].string ?? "", item: row["item"].string ?? "",
                                  value: row["value"].string ?? "", state: row["state"].string ?? ""))
            }
            // The SQL knows only what was applied; the files say what is shipped.
            let shipped = try MigrationDirectory.load(try location.directory()).map(\.version)
            let latest = Int(lines.first { $0.category == "migrations" && $0.item == "latest applied" }?.value ?? "") ?? 0
            lines.append(Self.shippedLine(shipped: shipped, latestApplied: latest))
        } catch {
            throw fail(error)
        }
        let attention = lines.contains { $0.state != "ok" }
        if json {
            struct Report: Encodable {
                let attention: Bool
                let lines: [Line]
            }
            let encoder = JSONEncoder()
            encoder.outputFormatting = [.sortedKeys]
            print(String(decoding: (try? encoder.encode(Report(attention: attention, lines: lines))) ?? Data("{}".utf8), as: UTF8.self))
        } else {
            print(Self.render(lines))
            print(attention ? "Needs attention: \(lines.filter { $0.state != "ok" }.count) line(s)." : "All ok.")
        }
        if attention { throw ExitCodes.pending }
    }

    /// Migrations shipped (the files) against the latest applied: newer files are pending.
    static func shippedLine(shipped: [Int], latestApplied: Int) -> Line {
        let pending = shipped.filter { $0 > latestApplied }.sorted()
        return Line(category: "migrations", item: "shipped",
                    value: "\(shipped.count) files, latest \(shipped.max() ?? 0)"
                        + (pending.isEmpty ? "" : "; pending: " + pending.map { String(format: "%04d", $0) }.joined(separator: ", ")),
                    state: pending.isEmpty ? "ok" : "attention")
    }

    /// A boxed table, as Flyway's `info` prints one.
    static func render(_ lines: [Line]) -> String {
        let header = ["Category", "Item", "Value", "State"]
        let rows = lines.map { [$0.category, $0.item, $0.value, $0.state] }
        let widths = header.indices.map { column in ([header] + rows).map { $0[column].count }.max() ?? 0 }
        let rule = "+" + widths.map { String(repeating: "-", count: $0 + 2) }.joined(separator: "+") + "+"
        func line(_ cells: [String]) -> String {
            "| " + zip(cells, widths).map { $0.padding(toLength: $1, withPad: " ", startingAt: 0) }.joined(separator: " | ") + " |"
        }
        return ([rule, line(header), rule] + rows.map(line) + [rule]).joined(separator: "\n")
    }
}
