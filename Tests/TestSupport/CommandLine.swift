import Foundation

/// Runs the built `loginvault` executable as a user would, capturing its output.
public enum LoginVaultExecutable {
    /// The executable next to the test bundle (SwiftPM builds both into one directory).
    public static var url: URL {
        var dir = Bundle.main.bundleURL
        if dir.pathExtension == "xctest" { dir.deleteLastPathComponent() }
        let candidate = dir.appendingPathComponent("loginvault")
        if FileManager.default.isExecutableFile(atPath: candidate.path) { return candidate }
        return URL(fileURLWithPath: CommandLine.arguments[0]).deletingLastPathComponent()
            .appendingPathComponent("loginvault")
    }

    /// What one run printed and how it ended.
    public struct Outcome: Sendable {
        public let status: Int32
        public let stdout: String
        public let stderr: String
    }

    /// Runs `loginvault` with `arguments`; `environment` adds to (or, with nil values,
    /// removes from) this process's environment.
    public static func run(_ arguments: [String], environment: [String: String?] = [:],
                           stdin: Data? = nil) throws -> Outcome {
        try start(arguments, environment: environment, stdin: stdin).wait()
    }

    /// Runs `loginvault` like `run`, without blocking a cooperative thread while it runs.
    public static func runDetached(_ arguments: [String], environment: [String: String?] = [:]) async throws -> Outcome {
        try await start(arguments, environment: environment).finished()
    }

    /// Starts `loginvault` without waiting for it.
    public static func start(_ arguments: [String], environment: [String: String?] = [:],
                             stdin: Data? = nil) throws -> Running {
        let process = Process()
        process.executableURL = url
        process.arguments = arguments
        var env = ProcessInfo.processInfo.environment
        for (key, value) in environment { env[key] = value }
        process.environment = env
        let out = Pipe(), err = Pipe()
        process.standardOutput = out
        process.standardError = err
        if let stdin {
            let input = Pipe()
            process.standardInput = input
            try process.run()
            input.fileHandleForWriting.write(stdin)
            try input.fileHandleForWriting.close()
        } else {
            process.standardInput = FileHandle.nullDevice
            try process.run()
        }
        return Running(process: process, out: out, err: err)
    }

    /// A `loginvault` process that is running.
    public final class Running: @unchecked Sendable {
        public let process: Process
        let out: Pipe
        let err: Pipe
        private let collected = DispatchGroup()
        private var outData = Data(), errData = Data()

        init(process: Process, out: Pipe, err: Pipe) {
            self.process = process
            self.out = out
            self.err = err
            // Drain both pipes while it runs, so a chatty process never blocks on a full pipe.
            collected.enter()
            DispatchQueue.global().async { self.outData = out.fileHandleForReading.readDataToEndOfFile(); self.collected.leave() }
            collected.enter()
            DispatchQueue.global().async { self.errData = err.fileHandleForReading.readDataToEndOfFile(); self.collected.leave() }
        }

        /// Sends a signal (e.g. SIGTERM) to the process.
        public func signal(_ signal: Int32) { kill(process.processIdentifier, signal) }

        /// Waits for the process to end on a thread of its own, leaving the test's cooperative
        /// threads (two on a two-core machine) free for the servers and fakes the process talks to.
        public func finished() async -> Outcome {
            await withCheckedContinuation { continuation in
                Thread.detachNewThread { continuation.resume(returning: self.wait()) }
            }
        }

        /// Waits for the process to end and returns its outcome.
        public func wait() -> Outcome {
            process.waitUntilExit()
            collected.wait()
            return Outcome(status: process.terminationStatus,
                           stdout: String(decoding: outData, as: UTF8.self),
                           stderr: String(decoding: errData, as: UTF8.self))
        }
    }
}
