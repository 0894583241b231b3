import Foundation

/// Credentials printed by the `credential_process` of a profile: the command runs with
/// `/bin/sh -c`, its standard output is the JSON of the AWS SDKs' process credential provider
/// (`Version: 1`, `AccessKeyId`, `SecretAccessKey`, optional `SessionToken` and `Expiration`).
/// It runs again when the credentials near their `Expiration`; without one they are kept.
/// A failing command's exit status and the end of its standard error are reported (its
/// standard output, which may hold keys, never is).
public struct ProcessCredentials: Sendable {
    public var command: String
    public var profileName: String

    public init(command: String, profileName: String) {
        self.command = command
        self.profileName = profileName
    }

    public var source: String { "credential_process of profile \"\(profileName)\"" }

    public func fetch() async throws -> ExpiringCredentials {
        let (status, output, errorOutput) = try await Self.run(command)
        guard status == 0 else {
            let tail = String(decoding: errorOutput.suffix(500), as: UTF8.self).trimmingCharacters(in: .whitespacesAndNewlines)
            throw CredentialsError("\(source) exited with status \(status)" + (tail.isEmpty ? "" : ": \(tail)"), transient: true)
        }
        guard let object = try? JSONSerialization.jsonObject(with: output) as? [String: Any] else {
            throw CredentialsError("\(source) printed something that is not a JSON object")
        }
        guard (object["Version"] as? Int) == 1 else {
            throw CredentialsError("\(source) printed JSON without \"Version\": 1 (the only version the AWS SDKs define)")
        }
        return try JSONCredentials.decode(output, tokenKey: "SessionToken", from: source)
    }

    static func run(_ command: String) async throws -> (Int32, Data, Data) {
        try await withCheckedThrowingContinuation { continuation in
            Thread.detachNewThread {
                let process = Process()
                process.executableURL = URL(fileURLWithPath: "/bin/sh")
                process.arguments = ["-c", command]
                let out = Pipe(), err = Pipe()
                process.standardOutput = out
                process.standardError = err
                process.standardInput = FileHandle.nullDevice
                do {
                    try process.run()
                } catch {
                    continuation.resume(throwing: CredentialsError("cannot run credential_process: \(error.localizedDescription)"))
                    return
                }
                // Standard error is drained on another thread, so a chatty command cannot block on it.
                let errorData = ErrorOutput()
                let group = DispatchGroup()
                let errorHandle = err.fileHandleForReading
                DispatchQueue.global().async(group: group) { errorData.value = errorHandle.readDataToEndOfFile() }
                let output = out.fileHandleForReading.readDataToEndOfFile()
                process.waitUntilExit()
                group.wait()
                continuation.resume(returning: (process.terminationStatus, output, errorData.value))
            }
        }
    }
}

/// Standard error of a child, read on another thread (and read back after `DispatchGroup.wait`).
private final class ErrorOutput: @unchecked Sendable {
    var value = Data()
}
