import Foundation
import LoginVault
import TestSupport
import Testing

/// The command line as a new user meets it: typos, wrong values, options that do not
/// apply, files that are not JSON, configuration that is missing. Each mistake is one
/// line that says what to do, with the documented exit code.
@Suite("loginvault first-hour mistakes")
struct FirstHourTests {
    @Test func aTypoSuggestsTheOption() throws {
        let outcome = try LoginVaultExecutable.run(["load", "--queu", "q"])
        #expect(outcome.status == 64)
        #expect(outcome.stderr.contains("--queue"), "\(outcome.stderr)")
        #expect(!outcome.stderr.contains("give either"), "\(outcome.stderr)")
    }

    @Test func aNegativeNumberIsExplained() throws {
        let outcome = try LoginVaultExecutable.run(["load", "--queue", "q", "--batch-size", "-5"])
        #expect(outcome.status == 64)
        #expect(outcome.stderr.contains("--batch-size must be at least 1"), "\(outcome.stderr)")
        #expect(!outcome.stderr.contains("Missing value"), "\(outcome.stderr)")
    }

    @Test func optionsThatDoNotApplyAreRefused() throws {
        let file = try LoginVaultExecutable.run(["load", "--from-file", "x.json", "--receivers", "2", "--region", "eu-west-1"])
        #expect(file.status == 64)
        #expect(file.stderr.contains("--receivers, --region only apply to --queue"), "\(file.stderr)")
        let queue = try LoginVaultExecutable.run(["load", "--queue", "q", "--format", "lines"])
        #expect(queue.status == 64)
        #expect(queue.stderr.contains("--format only apply to --from-file"), "\(queue.stderr)")
    }

    @Test func everyHelpHasExamples() throws {
        for command in [[], ["load"], ["migrate"], ["migrate", "status"], ["check"], ["requeue"], ["version"]] {
            let help = try LoginVaultExecutable.run(command + ["--help"])
            #expect(help.status == 0)
            #expect(help.stdout.contains("Examples:"), "\(command) --help has no examples")
        }
        #expect(try LoginVaultExecutable.run(["--help"]).stdout.contains("--generate-completion-script"))
    }

    @Test func versionNamesTheCommit() throws {
        let outcome = try LoginVaultExecutable.run(["version"])
        #expect(outcome.status == 0)
        #expect(outcome.stdout.hasPrefix("loginvault "), "\(outcome.stdout)")
        let commit = try #require(outcome.stdout.range(of: #"commit [0-9a-f]{40}"#, options: .regularExpression),
                                  "\(outcome.stdout)")
        #expect(!outcome.stdout[commit].isEmpty)
    }

    @Test func missingRegionIsAConfigurationErrorExitOne() throws {
        let outcome = try LoginVaultExecutable.run(
            ["load", "--queue", "q", "--database", "host=127.0.0.1 port=1 dbname=none"],
            environment: ["AWS_REGION": nil, "AWS_DEFAULT_REGION": nil, "AWS_PROFILE": nil, "AWS_ACCESS_KEY_ID": "x",
                          "AWS_SECRET_ACCESS_KEY": "y", "HOME": NSTemporaryDirectory(), "AWS_CONFIG_FILE": nil])
        // The AWS configuration is checked first, before the (here unreachable) database.
        #expect(outcome.status == 1, "\(outcome.stderr)")
        #expect(outcome.stderr.contains("no AWS region configured"), "\(outcome.stderr)")
        #expect(outcome.stderr.split(separator: "\n").count == 1, "\(outcome.stderr)")
    }
}

/// Files that are not JSON stop the load (exit 6) before more junk lands.
@Suite("loginvault load rejects junk files", .enabled(if: Integration.postgres))
struct RejectGuardTests {
    static func migrated(_ label: String, _ body: (ScratchDatabase) async throws -> Void) async throws {
        try await StagingDatabaseTests.migrated(label, body)
    }

    static func load(_ path: String, _ database: ScratchDatabase, _ extra: [String] = []) throws -> LoginVaultExecutable.Outcome {
        try LoginVaultExecutable.run(["load", "--from-file", path, "--database", database.connectionString] + extra)
    }

    @Test(arguments: ["text", "binary", "array as lines"])
    func aFileThatIsNotJSONStopsWithExitSix(kind: String) async throws {
        try await Self.migrated("junk") { database in
            let path = NSTemporaryDirectory() + "lv-junk-\(UInt32.random(in: 0...UInt32.max))"
            defer { try? FileManager.default.removeItem(atPath: path) }
            var extra: [String] = []
            switch kind {
            case "text":
                try FileManager.default.copyItem(at: Integration.repositoryRoot.appendingPathComponent("README.md"),
                                                 to: URL(fileURLWithPath: path))
            case "binary":
                var generator = SystemRandomNumberGenerator()
                try Data((0..<200_000).map { _ in UInt8.random(in: 0...255, using: &generator) }).write(to: URL(fileURLWithPath: path))
            default:
                try FileManager.default.copyItem(atPath: LoadFixture.samplePath, toPath: path)
                extra = ["--format", "lines"]
            }
            let outcome = try Self.load(path, database, extra)
            #expect(outcome.status == 6, "\(outcome.stderr)")
            #expect(outcome.stderr.contains("max-reject-ratio"), "\(outcome.stderr)")
            let rejects = try database.connect().query("SELECT count(*) FROM rejected_logins").first?[0].int ?? -1
            #expect(rejects > 0 && rejects <= 100, "at most the probe landed: \(rejects)")
        }
    }

    @Test func theSampleFilePassesTheGuard() async throws {
        try await Self.migrated("goodfile") { database in
            let outcome = try Self.load(LoadFixture.samplePath, database)
            #expect(outcome.status == 0, "\(outcome.stderr)")
            #expect(try database.connect().query("SELECT count(*) FROM user_logins").first?[0].int == 99)
        }
    }
}
