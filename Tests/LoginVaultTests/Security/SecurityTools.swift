import Foundation
import Postgres
import TestSupport

/// Runs a tool of the machine (openssl, pg_dump, ps) to completion, capturing its output.
enum Tool {
    struct Outcome: Sendable {
        let status: Int32
        let stdout: String
        let stderr: String
    }

    private final class Collected: @unchecked Sendable {
        var out = Data(), err = Data()
    }

    /// `arguments[0]` is looked up in PATH; `environment` adds to (nil: removes from) ours.
    static func run(_ arguments: [String], environment: [String: String?] = [:], in directory: URL? = nil) throws -> Outcome {
        let process = Process()
        process.executableURL = URL(fileURLWithPath: "/usr/bin/env")
        process.arguments = arguments
        var env = ProcessInfo.processInfo.environment
        for (key, value) in environment { env[key] = value }
        process.environment = env
        if let directory { process.currentDirectoryURL = directory }
        let out = Pipe(), err = Pipe()
        process.standardOutput = out
        process.standardError = err
        process.standardInput = FileHandle.nullDevice
        try process.run()
        let collected = Collected()
        let group = DispatchGroup()
        group.enter()
        DispatchQueue.global().async { collected.out = out.fileHandleForReading.readDataToEndOfFile(); group.leave() }
        group.enter()
        DispatchQueue.global().async { collected.err = err.fileHandleForReading.readDataToEndOfFile(); group.leave() }
        process.waitUntilExit()
        group.wait()
        return Outcome(status: process.terminationStatus, stdout: String(decoding: collected.out, as: UTF8.self),
                       stderr: String(decoding: collected.err, as: UTF8.self))
    }

    /// A PostgreSQL 15 client program (pg_dump, ...): the version-specific one when installed.
    static func postgresProgram(_ name: String) -> String {
        let versioned = "/usr/lib/postgresql/15/bin/\(name)"
        return FileManager.default.isExecutableFile(atPath: versioned) ? versioned : name
    }
}

/// The sample's PII: every ip and device id of examples/login-queue-sample.json.
enum SamplePII {
    static var values: [String] {
        get throws {
            let url = Integration.repositoryRoot.appendingPathComponent("examples/login-queue-sample.json")
            let array = try JSONSerialization.jsonObject(with: Data(contentsOf: url)) as? [[String: Any]] ?? []
            return Array(Set(array.flatMap { [$0["ip"] as? String, $0["device_id"] as? String].compactMap { $0 } })).sorted()
        }
    }

    /// The values of `needles` that occur in `haystack`.
    static func found(_ needles: [String], in haystack: String) -> [String] {
        needles.filter { haystack.contains($0) }
    }
}

/// A directory under the system's temporary directory, removed by `remove()`.
struct TemporaryDirectory {
    let url: URL

    init(_ label: String) throws {
        url = FileManager.default.temporaryDirectory.appendingPathComponent("lv-\(label)-\(UUID().uuidString.prefix(8))")
        try FileManager.default.createDirectory(at: url, withIntermediateDirectories: true)
    }

    func remove() { try? FileManager.default.removeItem(at: url) }
}

/// A tool the test needs failed.
struct ToolError: Error, CustomStringConvertible {
    let description: String
}
