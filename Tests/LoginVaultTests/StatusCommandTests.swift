import Foundation
import LoginVault
import Postgres
import TestSupport
import Testing

/// `loginvault status`: a backlog while processing is off, a clean state after a run.
@Suite("loginvault status", .enabled(if: Integration.postgres && Integration.sqs))
struct StatusCommandTests {
    @Test func aBacklogWithNoProcessThenCleanAfterARun() async throws {
        try await LoadFixture.with("status") { fixture in
            try await fixture.send(try LoadFixture.sampleBodies)
            let load = try fixture.load(["--no-process"])
            #expect(load.status == 0, "\(load.stderr)")

            let pending = try LoginVaultExecutable.run(["status", "--database", fixture.database.connectionString,
                                                        "--max-backlog-age", "0"], environment: fixture.environment)
            #expect(pending.status == 3, "\(pending.stdout)\(pending.stderr)")
            #expect(pending.stdout.contains("| staging    | backlog rows"), "\(pending.stdout)")
            #expect(pending.stdout.contains("| 100 "), "the 100 staged rows: \(pending.stdout)")
            #expect(pending.stdout.contains("Needs attention"))

            let json = try LoginVaultExecutable.run(["status", "--json", "--database", fixture.database.connectionString,
                                                     "--max-backlog-age", "0"], environment: fixture.environment)
            #expect(json.status == 3)
            let report = try #require(try JSONSerialization.jsonObject(with: Data(json.stdout.utf8)) as? [String: Any])
            #expect(report["attention"] as? Bool == true)
            let lines = try #require(report["lines"] as? [[String: String]])
            #expect(lines.contains { $0["item"] == "oldest staged" && $0["state"] == "attention" }, "\(lines)")
            #expect(lines.contains { $0["item"] == "backlog rows" && $0["value"] == "100" }, "\(lines)")

            try fixture.database.connect().runScript("CALL process_raw_logins()")
            let clean = try LoginVaultExecutable.run(["status", "--database", fixture.database.connectionString,
                                                      "--max-backlog-age", "0"], environment: fixture.environment)
            #expect(clean.status == 0, "\(clean.stdout)\(clean.stderr)")
            #expect(clean.stdout.contains("All ok."))
            #expect(clean.stdout.contains(": 100 staged, "), "\(clean.stdout)")
            #expect(clean.stdout.contains("| migrations | shipped"), "\(clean.stdout)")
        }
    }
}
