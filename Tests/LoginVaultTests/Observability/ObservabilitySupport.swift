import AsyncHTTPClient
import Foundation
import NIOCore
import TestSupport
import Testing

/// What the observability tests share: an HTTP GET on loopback, a free port, promtool,
/// and reading counters out of the Prometheus text format.
enum Scrape {
    struct Answer {
        let status: Int
        let contentType: String
        let body: String
    }

    static func get(_ url: String) async throws -> Answer {
        var request = HTTPClientRequest(url: url)
        request.method = .GET
        let response = try await HTTPClient.shared.execute(request, timeout: .seconds(10))
        let body = try await response.body.collect(upTo: 16 << 20)
        return Answer(status: Int(response.status.code), contentType: response.headers.first(name: "Content-Type") ?? "",
                      body: String(buffer: body))
    }

    /// A port nobody listens on now (bound, read, released).
    static func freePort() throws -> Int {
        let fd = socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
        defer { close(fd) }
        var address = sockaddr_in()
        address.sin_family = sa_family_t(AF_INET)
        address.sin_addr.s_addr = inet_addr("127.0.0.1")
        address.sin_port = 0
        var length = socklen_t(MemoryLayout<sockaddr_in>.size)
        let bound = withUnsafeMutablePointer(to: &address) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { bind(fd, $0, length) == 0 && getsockname(fd, $0, &length) == 0 }
        }
        guard bound else { throw POSIXError(.EADDRINUSE) }
        return Int(UInt16(bigEndian: address.sin_port))
    }

    /// The value of the sample `name{labels}` (labels as written, e.g. `outcome="committed"`); nil if absent.
    static func value(_ exposition: String, _ name: String, labels: String? = nil) -> Double? {
        let key = labels.map { "\(name){\($0)}" } ?? name
        for line in exposition.split(separator: "\n") where !line.hasPrefix("#") {
            let parts = line.split(separator: " ")
            if parts.count >= 2, parts[0] == key { return Double(parts[1]) }
        }
        return nil
    }

    /// `promtool check metrics` on `exposition`: its complaints, empty when it passes. Nil when
    /// promtool is missing and the integration tests are not required (a bare `swift test`).
    static func promtoolProblems(_ exposition: String) throws -> String? {
        try promtool(["check", "metrics"], input: exposition).map { $0.status == 0 && $0.output.isEmpty ? "" : $0.output }
    }

    /// Runs promtool with `input` on its standard input; nil if promtool is missing and not required.
    static func promtool(_ arguments: [String], input: String? = nil) throws -> (status: Int32, output: String)? {
        let path = ["/usr/bin/promtool", "/usr/local/bin/promtool"].first { FileManager.default.isExecutableFile(atPath: $0) }
        guard let path else {
            if Integration.required { Issue.record("promtool is missing: scripts/install-deps.sh installs the prometheus package") }
            return nil
        }
        let process = Process()
        process.executableURL = URL(fileURLWithPath: path)
        process.arguments = arguments
        let stdin = Pipe(), output = Pipe()
        process.standardInput = input == nil ? FileHandle.nullDevice : stdin
        process.standardOutput = output
        process.standardError = output
        try process.run()
        if let input {
            stdin.fileHandleForWriting.write(Data(input.utf8))
            try stdin.fileHandleForWriting.close()
        }
        let text = String(decoding: output.fileHandleForReading.readDataToEndOfFile(), as: UTF8.self)
        process.waitUntilExit()
        return (process.terminationStatus, text)
    }
}
