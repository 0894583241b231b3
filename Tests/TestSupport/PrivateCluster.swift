import Foundation

/// A PostgreSQL cluster of a test's own (scripts/pg-cluster.sh), for tests that
/// stop or restart the server. Started by the test, destroyed by it.
public final class PrivateCluster: Sendable {
    public let directory: URL
    public let port: Int
    public let passfile: String

    /// Initialises and starts a cluster in a new directory under .build/local.
    /// `settings` are extra postgresql.conf lines (e.g. `log_statement = 'all'`);
    /// `tlsDirectory` holds a `server.crt` and `server.key` to turn on ssl with.
    public init(settings: String = "", tlsDirectory: URL? = nil) throws {
        directory = Integration.repositoryRoot.appendingPathComponent(".build/local/cluster-\(UUID().uuidString.prefix(8))")
        var environment = ["PG_EXTRA_CONF": settings]
        if let tlsDirectory { environment["PG_SSL_DIR"] = tlsDirectory.path }
        do {
            try Self.script("start", directory, environment: environment)
        } catch {
            try? Self.script("destroy", directory)
            throw error
        }
        let env = try String(contentsOf: directory.appendingPathComponent("env"), encoding: .utf8)
        func value(_ name: String) -> String? {
            env.split(separator: "\n").first { $0.hasPrefix("export \(name)=") }
                .map { String($0.dropFirst("export \(name)=".count)) }
        }
        port = Int(value("PGPORT") ?? "") ?? 0
        passfile = value("PGPASSFILE") ?? ""
    }

    /// A libpq connection string for `database` on this cluster.
    public func connectionString(_ database: String = "postgres") -> String {
        "host=127.0.0.1 port=\(port) user=postgres dbname=\(database) passfile=\(passfile)"
    }

    /// Stops the server: `fast` or `immediate` (a crash, as far as clients can tell).
    public func stop(mode: String = "fast") throws {
        let data = try dataDirectory()
        try Self.run(["runuser", "-u", "postgres", "--", "/usr/lib/postgresql/15/bin/pg_ctl", "-D", data, "-m", mode, "-w", "stop"])
    }

    public func start() throws { try Self.script("start", directory) }

    /// `pg_ctl restart -m <mode>`: every session is cut off (`fast` rolls them back cleanly,
    /// `immediate` is a crash and a recovery), then the server starts again on the same port.
    public func restart(mode: String = "fast") throws {
        let data = try dataDirectory()
        let pgctl = ["/usr/lib/postgresql/15/bin/pg_ctl", "-D", data, "-m", mode, "-w", "-t", "60",
                     "-l", data + "/server.log", "restart"]
        try Self.run(getuid() == 0 ? ["runuser", "-u", "postgres", "--"] + pgctl : pgctl)
    }

    public func destroy() { try? Self.script("destroy", directory) }

    /// The server's log file (stderr of the postmaster).
    public var logFile: URL {
        get throws { URL(fileURLWithPath: try dataDirectory()).appendingPathComponent("server.log") }
    }

    private func dataDirectory() throws -> String {
        let env = try String(contentsOf: directory.appendingPathComponent("env"), encoding: .utf8)
        return env.split(separator: "\n").first { $0.hasPrefix("export LOGINVAULT_PGDATA=") }
            .map { String($0.dropFirst("export LOGINVAULT_PGDATA=".count)) } ?? ""
    }

    private static func script(_ command: String, _ directory: URL, environment: [String: String] = [:]) throws {
        try run([Integration.repositoryRoot.appendingPathComponent("scripts/pg-cluster.sh").path, command, directory.path],
                environment: environment)
    }

    /// Runs a command to completion with posix_spawn and waitpid (Foundation's
    /// Process has been seen to miss a child's exit when the child leaves a
    /// daemon behind, as pg_ctl start does).
    private static func run(_ arguments: [String], environment: [String: String] = [:]) throws {
        var pid: pid_t = 0
        var actions = posix_spawn_file_actions_t()
        posix_spawn_file_actions_init(&actions)
        defer { posix_spawn_file_actions_destroy(&actions) }
        posix_spawn_file_actions_addopen(&actions, 1, "/dev/null", O_WRONLY, 0)
        let argv = arguments.map { strdup($0) } + [nil]
        defer { argv.forEach { free($0) } }
        var merged = ProcessInfo.processInfo.environment
        for (key, value) in environment { merged[key] = value }
        let envp = merged.map { strdup("\($0.key)=\($0.value)") } + [nil]
        defer { envp.forEach { free($0) } }
        let spawned = posix_spawnp(&pid, arguments[0], &actions, nil, argv, envp)
        guard spawned == 0 else {
            throw ClusterError(message: "could not start \(arguments[0]): error \(spawned)")
        }
        var status: Int32 = 0
        while waitpid(pid, &status, 0) == -1 && errno == EINTR {}
        let exited = (status & 0x7f) == 0
        let code = (status >> 8) & 0xff
        guard exited && code == 0 else {
            throw ClusterError(message: "\(arguments.joined(separator: " ")) failed (status \(status))")
        }
    }
}

/// A cluster command failed.
public struct ClusterError: Error, CustomStringConvertible {
    public let message: String
    public var description: String { message }
}
