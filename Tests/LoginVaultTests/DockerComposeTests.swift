import Foundation
import TestSupport
import Testing
import Yams

/// Docker is not on these machines, so the compose file is checked as a file:
/// it parses, and names the services, ports and init scripts the README promises.
@Suite("docker-compose.yml")
struct DockerComposeTests {
    let root = Integration.repositoryRoot
    let compose: [String: Any]

    init() throws {
        let text = try String(contentsOf: root.appendingPathComponent("docker-compose.yml"), encoding: .utf8)
        compose = try #require(try Yams.load(yaml: text) as? [String: Any])
    }

    var services: [String: [String: Any]] {
        (compose["services"] as? [String: [String: Any]]) ?? [:]
    }

    @Test func namesPostgres15AndLocalStack() throws {
        #expect(Set(services.keys) == ["postgres", "localstack", "loader"])
        #expect((services["postgres"]?["image"] as? String)?.hasPrefix("postgres:15") == true)
        #expect((services["localstack"]?["image"] as? String)?.hasPrefix("localstack/localstack") == true)
        let environment = try #require(services["localstack"]?["environment"] as? [String: Any])
        #expect(environment["SERVICES"] as? String == "sqs")
        #expect(environment["SQS_ENDPOINT_STRATEGY"] as? String == "off")
    }

    @Test func publishesPortsOnLoopbackOnly() throws {
        let expected = ["postgres": "127.0.0.1:5432:5432", "localstack": "127.0.0.1:4566:4566", "loader": "127.0.0.1:9464:9464"]
        for (name, service) in services {
            let ports = try #require(service["ports"] as? [String], "\(name) has no ports")
            #expect(ports == [expected[name]!], "\(name)")
            #expect(ports.allSatisfy { $0.hasPrefix("127.0.0.1:") })
        }
    }

    @Test func everyServiceHasAHealthCheck() throws {
        for (name, service) in services {
            let check = try #require(service["healthcheck"] as? [String: Any], "\(name)")
            #expect(check["test"] != nil)
        }
    }

    @Test func mountedInitScriptsExist() throws {
        var mounted: [String] = []
        for service in services.values {
            for volume in (service["volumes"] as? [String]) ?? [] {
                let source = String(volume.split(separator: ":")[0])
                #expect(source.hasPrefix("./"))
                let path = root.appendingPathComponent(String(source.dropFirst(2))).path
                #expect(FileManager.default.fileExists(atPath: path), "\(source) is mounted but missing")
                mounted.append(source)
            }
        }
        #expect(mounted.contains("./docker/localstack/init-sqs.sh"))
        #expect(mounted.contains("./examples/login-queue-sample.json"))
        let script = root.appendingPathComponent("docker/localstack/init-sqs.sh").path
        #expect(FileManager.default.isExecutableFile(atPath: script))
        #expect(try String(contentsOfFile: script, encoding: .utf8).contains("login-queue"))
    }

    /// Issue 16: the image runs `migrate`, then `load --follow` against the compose servers,
    /// and Compose checks its liveness probe.
    @Test func theLoaderServiceMigratesThenFollowsWithAHealthCheck() throws {
        let loader = try #require(services["loader"])
        #expect(loader["build"] as? String == ".")
        let command = try #require((loader["command"] as? [String])?.joined(separator: " "))
        let migrate = try #require(command.range(of: "loginvault migrate"))
        let follow = try #require(command.range(of: "loginvault load --queue login-queue --follow"))
        #expect(migrate.upperBound <= follow.lowerBound, "migrate runs first")
        #expect(command.contains("&&"), "load runs only if migrate succeeded")
        let environment = try #require(loader["environment"] as? [String: Any])
        #expect((environment["DATABASE_URL"] as? String)?.contains("@postgres:5432/") == true)
        #expect(environment["AWS_ENDPOINT_URL_SQS"] as? String == "http://localstack:4566")
        #expect(environment["LOGINVAULT_METRICS_ADDRESS"] as? String == "0.0.0.0:9464")
        let check = try #require(loader["healthcheck"] as? [String: Any])
        #expect((check["test"] as? [String])?.joined(separator: " ").contains("http://127.0.0.1:9464/healthz") == true)
        let dependsOn = try #require(loader["depends_on"] as? [String: [String: String]])
        #expect(dependsOn["postgres"]?["condition"] == "service_healthy")
        #expect(dependsOn["localstack"]?["condition"] == "service_healthy")
        // The image it builds: multi-stage, official Swift image, make install, slim Debian, non-root.
        let dockerfile = try String(contentsOf: root.appendingPathComponent("Dockerfile"), encoding: .utf8)
        let stages = dockerfile.split(separator: "\n").filter { $0.hasPrefix("FROM ") }
        #expect(stages.count == 2)
        #expect(stages.first?.hasPrefix("FROM swift:") == true)
        #expect(stages.last?.hasPrefix("FROM debian:") == true && stages.last?.contains("slim") == true)
        #expect(dockerfile.contains("make install"))
        #expect(dockerfile.contains("libpq5"))
        #expect(dockerfile.contains("USER 10001"))
        #expect(dockerfile.contains(#"ENTRYPOINT ["loginvault"]"#))
        // Every file the build stage copies is in the repository.
        for line in dockerfile.split(separator: "\n") where line.hasPrefix("COPY ") && !line.contains("--from") {
            let source = String(line.split(separator: " ")[1])
            #expect(FileManager.default.fileExists(atPath: root.appendingPathComponent(source).path), "\(source)")
        }
    }

    @Test func readmeShowsTheComposePath() throws {
        let readme = try String(contentsOf: root.appendingPathComponent("README.md"), encoding: .utf8)
        #expect(readme.contains("docker compose up -d"))
        #expect(readme.contains("127.0.0.1:4566"))
        #expect(readme.contains("127.0.0.1:5432"))
    }
}
