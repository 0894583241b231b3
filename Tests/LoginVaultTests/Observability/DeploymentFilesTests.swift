import Foundation
import LoginVault
import TestSupport
import Testing
import Yams

/// Issue 16's deploy/ files, checked as files (no Docker, no cluster, no ECS here): they
/// parse, have the fields the README promises, and the tools that can check them pass.
@Suite("deploy/: systemd, Kubernetes, ECS, alert rules")
struct DeploymentFilesTests {
    let root = Integration.repositoryRoot

    func text(_ path: String) throws -> String {
        try String(contentsOf: root.appendingPathComponent(path), encoding: .utf8)
    }

    @Test func kubernetesDeploymentHasProbesIRSAAndTheMetricsPort() throws {
        let documents = try Yams.load_all(yaml: try text("deploy/kubernetes/loginvault.yaml")).compactMap { $0 as? [String: Any] }
        let byKind = Dictionary(documents.map { (($0["kind"] as? String) ?? "", $0) }, uniquingKeysWith: { a, _ in a })
        let account = try #require(byKind["ServiceAccount"])
        let annotations = try #require((account["metadata"] as? [String: Any])?["annotations"] as? [String: String])
        #expect(annotations["eks.amazonaws.com/role-arn"]?.hasPrefix("arn:aws:iam::") == true)

        let deployment = try #require(byKind["Deployment"])
        let pod = try #require(((deployment["spec"] as? [String: Any])?["template"] as? [String: Any])?["spec"] as? [String: Any])
        #expect(pod["serviceAccountName"] as? String == "loginvault")
        let container = try #require((pod["containers"] as? [[String: Any]])?.first)
        #expect((container["args"] as? [String])?.contains("--follow") == true)
        let ports = try #require(container["ports"] as? [[String: Any]])
        #expect(ports.contains { $0["name"] as? String == "metrics" && $0["containerPort"] as? Int == 9464 })
        let environment = try #require(container["env"] as? [[String: Any]])
        #expect(environment.contains { $0["name"] as? String == "LOGINVAULT_METRICS_ADDRESS" && $0["value"] as? String == "0.0.0.0:9464" })
        #expect(!environment.contains { ($0["name"] as? String) == "PGPASSWORD" && $0["value"] != nil }, "secrets from a Secret, not inline")
        for (probe, path) in [("livenessProbe", "/healthz"), ("readinessProbe", "/readyz")] {
            let http = try #require((container[probe] as? [String: Any])?["httpGet"] as? [String: Any], "\(probe)")
            #expect(http["path"] as? String == path)
            #expect(http["port"] as? String == "metrics")
        }
        let security = try #require(pod["securityContext"] as? [String: Any])
        #expect(security["runAsNonRoot"] as? Bool == true)
        #expect(byKind["Service"] != nil)
    }

    @Test func ecsTaskDefinitionHasATaskRoleAndAHealthCheck() throws {
        let json = try #require(try JSONSerialization.jsonObject(with: Data(try text("deploy/ecs/task-definition.json").utf8)) as? [String: Any])
        #expect((json["taskRoleArn"] as? String)?.hasPrefix("arn:aws:iam::") == true)
        let container = try #require((json["containerDefinitions"] as? [[String: Any]])?.first)
        #expect((container["command"] as? [String])?.contains("--follow") == true)
        #expect(container["user"] as? String == "10001:10001")
        let check = try #require((container["healthCheck"] as? [String: Any])?["command"] as? [String])
        #expect(check.joined(separator: " ").contains("/healthz"))
        let ports = try #require(container["portMappings"] as? [[String: Any]])
        #expect(ports.contains { $0["containerPort"] as? Int == 9464 })
        let secrets = try #require(container["secrets"] as? [[String: Any]])
        #expect(secrets.contains { $0["name"] as? String == "PGPASSWORD" })
        let plain = (container["environment"] as? [[String: Any]]) ?? []
        #expect(!plain.contains { ["PGPASSWORD", "AWS_SECRET_ACCESS_KEY"].contains($0["name"] as? String) })
    }

    @Test func systemdUnitsVerify() throws {
        let service = try text("deploy/systemd/loginvault-load.service")
        #expect(service.contains("ExecStart=/usr/local/bin/loginvault load --queue ${LOGINVAULT_QUEUE} --follow"))
        #expect(service.contains("KillSignal=SIGTERM"))
        let timer = try text("deploy/systemd/loginvault-process.timer")
        #expect(timer.contains("Unit=loginvault-process.service"))
        let job = try text("deploy/systemd/loginvault-process.service")
        #expect(job.contains("sql/jobs/process_raw_logins.sql"))
        #expect(FileManager.default.fileExists(atPath: root.appendingPathComponent("sql/jobs/process_raw_logins.sql").path))

        guard FileManager.default.isExecutableFile(atPath: "/usr/bin/systemd-analyze") else { return }
        // systemd-analyze verify wants every ExecStart binary to exist: point it at ones that do.
        let scratch = FileManager.default.temporaryDirectory.appendingPathComponent("lv-units-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: scratch, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(at: scratch) }
        var units: [String] = []
        for name in ["loginvault-load.service", "loginvault-process.service", "loginvault-process.timer"] {
            let unit = try text("deploy/systemd/\(name)").replacingOccurrences(of: "/usr/local/bin/loginvault", with: "/bin/true")
            try unit.write(to: scratch.appendingPathComponent(name), atomically: true, encoding: .utf8)
            units.append(scratch.appendingPathComponent(name).path)
        }
        let verify = try Tool.run(["systemd-analyze", "verify"] + units)
        #expect(verify.status == 0, "\(verify.stdout)\(verify.stderr)")
        // (control: verify does fail on a broken unit)
        let broken = scratch.appendingPathComponent("broken.service")
        try "[Service]\nExecStart=relative/path\n".write(to: broken, atomically: true, encoding: .utf8)
        #expect(try Tool.run(["systemd-analyze", "verify", broken.path]).status != 0)
    }

    @Test func alertRulesPassPromtoolAndFireOnTheirSeries() throws {
        let rules = root.appendingPathComponent("deploy/prometheus/alerts.yml").path
        guard let check = try Scrape.promtool(["check", "rules", rules]) else { return }
        #expect(check.status == 0, "\(check.output)")
        #expect(check.output.contains("SUCCESS: 5 rules found"), "\(check.output)")
        let test = try #require(try Scrape.promtool(["test", "rules", root.appendingPathComponent("deploy/prometheus/alerts.test.yml").path]))
        #expect(test.status == 0, "\(test.output)")
        let text = try text("deploy/prometheus/alerts.yml")
        for alert in ["LoginvaultStagingBacklogOld", "LoginvaultRejectRateHigh", "LoginvaultRejectsOfOneReason", "LoginvaultNoCommit"] {
            #expect(text.contains("alert: \(alert)"))
        }
        // Every metric the rules read is one loginvault exports (or Prometheus' own `up`).
        let used = Set(text.matches(of: /loginvault_[a-z_]+/).map { String($0.output) })
        let exported = Set(MetricCatalog.all.map(\.name))
        #expect(used.isSubset(of: exported), "unknown metrics in the rules: \(used.subtracting(exported))")
        #expect(!used.isEmpty)
    }
}
