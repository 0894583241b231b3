import Foundation
import Postgres
import TestSupport
import Testing

/// Issue 6, security: transport. A cluster whose certificate is signed by a test CA
/// (made with openssl at test time): `sslmode=verify-full` with that CA works; a
/// wrong CA, a wrong host name, and a server without TLS are refused with a clear
/// error from `loginvault migrate` (exit 1), before anything is sent.
@Suite("Security: TLS to PostgreSQL", .enabled(if: Integration.postgres), .serialized)
struct TransportTests {
    /// A CA, a server certificate it signed (SAN IP:127.0.0.1, DNS:localhost), and an unrelated CA.
    static func makeCertificates(in directory: URL) throws {
        func openssl(_ arguments: [String]) throws {
            let outcome = try Tool.run(["openssl"] + arguments, in: directory)
            guard outcome.status == 0 else { throw ToolError(description: "openssl \(arguments.first ?? ""): \(outcome.stderr)") }
        }
        let ec = ["-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1", "-nodes"]
        for (name, subject) in [("ca", "loginvault test CA"), ("wrong-ca", "some other CA")] {
            try openssl(["req", "-x509"] + ec + ["-keyout", "\(name).key", "-out", "\(name).crt", "-days", "2", "-subj", "/CN=\(subject)",
                         "-addext", "basicConstraints=critical,CA:TRUE", "-addext", "keyUsage=critical,keyCertSign,cRLSign"])
        }
        try openssl(["req"] + ec + ["-keyout", "server.key", "-out", "server.csr", "-subj", "/CN=127.0.0.1"])
        try """
            subjectAltName=IP:127.0.0.1,DNS:localhost
            basicConstraints=CA:FALSE
            keyUsage=critical,digitalSignature
            extendedKeyUsage=serverAuth

            """.write(to: directory.appendingPathComponent("server.ext"), atomically: true, encoding: .utf8)
        try openssl(["x509", "-req", "-in", "server.csr", "-CA", "ca.crt", "-CAkey", "ca.key", "-CAcreateserial",
                     "-out", "server.crt", "-days", "2", "-extfile", "server.ext"])
    }

    @Test func verifyFullWorksWithTheTestCAAndEveryImpostorIsRefused() throws {
        let certificates = try TemporaryDirectory("tls")
        defer { certificates.remove() }
        try Self.makeCertificates(in: certificates.url)
        let cluster = try PrivateCluster(tlsDirectory: certificates.url)
        defer { cluster.destroy() }
        try PostgresConnection(cluster.connectionString()).runScript("CREATE DATABASE lv_tls")
        let ca = certificates.url.appendingPathComponent("ca.crt").path
        let wrongCA = certificates.url.appendingPathComponent("wrong-ca.crt").path
        let base = "port=\(cluster.port) user=postgres dbname=lv_tls passfile=\(cluster.passfile)"
        let password = try String(contentsOfFile: cluster.passfile, encoding: .utf8)
            .split(separator: ":").last.map { $0.trimmingCharacters(in: .whitespacesAndNewlines) } ?? ""
        func migrate(_ conninfo: String) throws -> LoginVaultExecutable.Outcome {
            // (the passfile's entry is for host 127.0.0.1; the environment serves other names)
            try LoginVaultExecutable.run(["migrate", "--database", conninfo, "--log-level", "warning"],
                                         environment: ["PGPASSWORD": password])
        }

        // The right CA: works, and the session really is encrypted.
        let good = "host=127.0.0.1 \(base) sslmode=verify-full sslrootcert=\(ca)"
        let migrated = try migrate(good)
        #expect(migrated.status == 0, "\(migrated.stderr)")
        #expect(migrated.stdout.contains("Applied"))
        let session = try PostgresConnection(good).query("SELECT ssl, version FROM pg_stat_ssl WHERE pid = pg_backend_pid()").first
        #expect(session?["ssl"].bool == true)
        #expect(session?["version"].string?.hasPrefix("TLSv1.") == true)
        // `localhost` is in the certificate too (DNS SAN); the address is given so no lookup is needed.
        #expect(try migrate("host=localhost hostaddr=127.0.0.1 \(base) sslmode=verify-full sslrootcert=\(ca)").status == 0)

        // A certificate from a CA we do not trust: refused.
        let wrong = try migrate("host=127.0.0.1 \(base) sslmode=verify-full sslrootcert=\(wrongCA)")
        #expect(wrong.status == 1)
        #expect(wrong.stderr.contains("certificate verify failed"), "\(wrong.stderr)")

        // The right CA but another name than the certificate's: refused.
        let impostor = try migrate("host=db.example.invalid hostaddr=127.0.0.1 \(base) sslmode=verify-full sslrootcert=\(ca)")
        #expect(impostor.status == 1)
        #expect(impostor.stderr.contains("does not match host name"), "\(impostor.stderr)")

        // A server without TLS (the suite's shared cluster): refused, not downgraded.
        let plain = try migrate("dbname=postgres sslmode=verify-full sslrootcert=\(ca)")
        #expect(plain.status == 1)
        #expect(plain.stderr.contains("server does not support SSL"), "\(plain.stderr)")

        // None of them printed a stack trace or leaked the connection password.
        for outcome in [wrong, impostor, plain] {
            #expect(outcome.stderr.split(separator: "\n").count <= 3, "a short, clear error: \(outcome.stderr)")
        }
        SecurityFigures.record(test: #function, kind: .security, checks: 5,
                               what: "verify-full by address and by name work; a wrong CA, a wrong name and a plain server are refused")
    }
}
