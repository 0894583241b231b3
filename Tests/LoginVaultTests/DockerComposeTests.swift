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
        #expect(Set(services.keys) == ["postgres", "localstack"])
        #expect((services["postgres"]?["image"] as? String)?.hasPrefix("postgres:15") == true)
        #expect((services["localstack"]?["image"] as? String)?.hasPrefix("localstack/localstack") == true)
        let environment = try #require(services["localstack"]?["environment"] as? [String: Any])
        #expect(environment["SERVICES"] as? String == "sqs")
        #expect(environment["SQS_ENDPOINT_STRATEGY"] as? String == "off")
    }

    @Test func publishesPortsOnLoopbackOnly() throws {
        let expected = ["postgres": "127.0.0.1:5432:5432", "localstack": "127.0.0.1:4566:4566"]
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

    @Test func readmeShowsTheComposePath() throws {
        let readme = try String(contentsOf: root.appendingPathComponent("README.md"), encoding: .utf8)
        #expect(readme.contains("docker compose up -d"))
        #expect(readme.contains("127.0.0.1:4566"))
        #expect(readme.contains("127.0.0.1:5432"))
    }
}
