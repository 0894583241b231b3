import CLibPQ
import Foundation

/// One connection to PostgreSQL through libpq.
///
/// Every value reaches the server as a bind parameter (`PQexecParams`); SQL text
/// is never built from values. Calls block the calling thread until the server
/// answers. A connection is not `Sendable`: it belongs to one task or thread at a
/// time, which the compiler enforces, so it is never used by two at once.
public final class PostgresConnection {
    private var handle: OpaquePointer?
    private let notices = NoticeSink()
    /// The COPY buffer, kept from one COPY to the next instead of allocated each time.
    private var copyBuffer: [UInt8] = []

    /// Connects with a libpq connection string or URI.
    ///
    /// An empty string means libpq's defaults: the `PG*` variables (`PGHOST`,
    /// `PGPORT`, `PGUSER`, `PGDATABASE`, `PGPASSWORD`, `PGSERVICE`...), `~/.pgpass`
    /// and service files. `application_name` falls back to `applicationName`, and
    /// `connect_timeout` to 10 seconds when neither the string nor
    /// `PGCONNECT_TIMEOUT` sets it.
    public init(_ connectionString: String = "", applicationName: String = "loginvault") throws {
        var keywords = ["fallback_application_name"]
        var values = [applicationName]
        if getenv("PGCONNECT_TIMEOUT") == nil {
            keywords.insert("connect_timeout", at: 0)
            values.insert("10", at: 0)
        }
        keywords.append("dbname")
        values.append(connectionString)
        let conn = withCStringArray(keywords) { kw in
            withCStringArray(values) { vals in PQconnectdbParams(kw, vals, 1) }
        }
        guard let conn else {
            throw PostgresError(kind: .connection, message: "libpq could not allocate a connection")
        }
        guard PQstatus(conn) == CONNECTION_OK else {
            let message = String(cString: PQerrorMessage(conn)).trimmingTrailingNewlines()
            PQfinish(conn)
            throw PostgresError(kind: .connection, message: message)
        }
        handle = conn
        let sink = Unmanaged.passUnretained(notices).toOpaque()
        PQsetNoticeReceiver(conn, { context, result in
            guard let context, let result else { return }
            let sink = Unmanaged<NoticeSink>.fromOpaque(context).takeUnretainedValue()
            sink.handler?(PostgresNotice(result))
        }, sink)
    }

    deinit {
        if let handle { PQfinish(handle) }
    }

    /// Called for every notice the server sends (`RAISE NOTICE`, warnings).
    /// Without a handler, notices are dropped.
    public var onNotice: ((PostgresNotice) -> Void)? {
        get { notices.handler }
        set { notices.handler = newValue }
    }

    /// Whether the connection is open and healthy, as libpq last saw it.
    public var isOpen: Bool {
        guard let handle else { return false }
        return PQstatus(handle) == CONNECTION_OK
    }

    /// The server's process id for this session (for `pg_terminate_backend` and logs).
    public var backendPID: Int32 { handle.map { PQbackendPID($0) } ?? 0 }

    /// The server's version as an integer, e.g. 150018 for 15.18.
    public var serverVersion: Int { handle.map { Int(PQserverVersion($0)) } ?? 0 }

    /// Closes the connection; later calls throw `connectionLost`.
    public func close() {
        if let handle { PQfinish(handle) }
        handle = nil
    }

    /// Runs one SQL statement with `$1`, `$2`... bound to `parameters`.
    @discardableResult
    public func query(_ sql: String, _ parameters: [PostgresValue] = []) throws -> PostgresResult {
        let conn = try openHandle()
        let wires = parameters.map(\.wire)
        let types = parameters.map(\.typeOID)
        let formats = wires.map { Int32(($0?.binary ?? false) ? 1 : 0) }
        let lengths = wires.map { Int32($0?.bytes.count ?? 0) }
        let result: OpaquePointer? = withParameterPointers(wires) { values in
            PQexecParams(conn, sql, Int32(parameters.count), types, values, lengths, formats, 0)
        }
        return try check(result, kind: .query)
    }

    /// Runs a script of one or more statements without parameters (the simple
    /// query protocol), as psql runs a file. For migrations and fixed DDL only:
    /// anything carrying a value goes through `query(_:_:)`.
    public func runScript(_ sql: String) throws {
        let conn = try openHandle()
        _ = try check(PQexec(conn, sql), kind: .query)
    }

    /// Runs `body` inside `BEGIN` ... `COMMIT`; rolls back if it throws.
    @discardableResult
    public func transaction<T>(_ body: (PostgresConnection) throws -> T) throws -> T {
        try query("BEGIN")
        do {
            let value = try body(self)
            try query("COMMIT")
            return value
        } catch {
            if isOpen { _ = try? query("ROLLBACK") }
            throw error
        }
    }

    /// Runs `COPY ... FROM STDIN`, with `body` writing the data in `format` (which
    /// must match the statement's `FORMAT`); returns the number of rows the server
    /// copied. If `body` throws, the COPY is aborted.
    @discardableResult
    public func copyIn(_ sql: String, format: PostgresCopyWriter.Format = .text,
                       _ body: (inout PostgresCopyWriter) throws -> Void) throws -> Int {
        let conn = try openHandle()
        guard let start = PQexec(conn, sql) else { throw lostError() }
        let status = PQresultStatus(start)
        if status != PGRES_COPY_IN {
            defer { PQclear(start) }
            if status == PGRES_FATAL_ERROR { throw PostgresError(kind: .copy, result: start, connection: conn) }
            throw PostgresError(kind: .copy, message: "not a COPY ... FROM STDIN statement: \(sql)")
        }
        PQclear(start)
        var writer = PostgresCopyWriter(connection: conn, format: format, buffer: copyBuffer)
        copyBuffer = []
        defer { copyBuffer = writer.reusableBuffer }
        do {
            try body(&writer)
            try writer.finish()
        } catch {
            _ = PQputCopyEnd(conn, "aborted by the client")
            drainResults(conn)
            throw error
        }
        guard PQputCopyEnd(conn, nil) == 1 else { drainResults(conn); throw lostError() }
        var copied = 0
        var failure: PostgresError?
        while let result = PQgetResult(conn) {
            switch PQresultStatus(result) {
            case PGRES_COMMAND_OK: copied = Int(String(cString: PQcmdTuples(result))) ?? copied
            default: failure = failure ?? PostgresError(kind: .copy, result: result, connection: conn)
            }
            PQclear(result)
        }
        if let failure { throw failure }
        return copied
    }

    // MARK: - Internals

    private func openHandle() throws -> OpaquePointer {
        guard let handle else {
            throw PostgresError(kind: .connectionLost, message: "the connection is closed")
        }
        guard PQstatus(handle) == CONNECTION_OK else { throw lostError() }
        return handle
    }

    private func lostError() -> PostgresError {
        let detail = handle.map { String(cString: PQerrorMessage($0)).trimmingTrailingNewlines() } ?? ""
        return PostgresError(kind: .connectionLost,
                             message: detail.isEmpty ? "the connection to the server was lost" : detail)
    }

    private func check(_ result: OpaquePointer?, kind: PostgresError.Kind) throws -> PostgresResult {
        guard let result else { throw lostError() }
        defer { PQclear(result) }
        switch PQresultStatus(result) {
        case PGRES_COMMAND_OK, PGRES_TUPLES_OK, PGRES_EMPTY_QUERY:
            return PostgresResult(result)
        case PGRES_COPY_IN, PGRES_COPY_OUT, PGRES_COPY_BOTH:
            if let handle {
                _ = PQputCopyEnd(handle, "use copyIn for COPY")
                drainResults(handle)
            }
            throw PostgresError(kind: kind, message: "COPY must go through copyIn(_:_:)")
        default:
            throw PostgresError(kind: kind, result: result, connection: handle)
        }
    }

    private func drainResults(_ conn: OpaquePointer) {
        while let result = PQgetResult(conn) { PQclear(result) }
    }
}

@available(*, unavailable, message: "a connection belongs to one task at a time; open one per task")
extension PostgresConnection: Sendable {}

/// Calls `body` with a C array of C strings.
private func withCStringArray<R>(_ strings: [String], _ body: ([UnsafePointer<CChar>?]) -> R) -> R {
    var pointers: [UnsafeMutablePointer<CChar>?] = strings.map { strdup($0) }
    defer { pointers.forEach { free($0) } }
    pointers.append(nil)
    return body(pointers.map { UnsafePointer($0) })
}

/// Calls `body` with C pointers to each parameter's bytes (nil for NULL).
private func withParameterPointers<R>(_ wires: [(bytes: [UInt8], binary: Bool)?],
                                      _ body: ([UnsafePointer<CChar>?]) -> R) -> R {
    var buffers: [UnsafeMutablePointer<CChar>?] = []
    buffers.reserveCapacity(wires.count)
    for wire in wires {
        guard let wire else { buffers.append(nil); continue }
        // Text parameters must be NUL-terminated; binary ones are read by length.
        let buffer = UnsafeMutablePointer<CChar>.allocate(capacity: wire.bytes.count + 1)
        wire.bytes.withUnsafeBufferPointer { source in
            source.withMemoryRebound(to: CChar.self) { chars in
                if let base = chars.baseAddress { buffer.initialize(from: base, count: chars.count) }
            }
        }
        buffer[wire.bytes.count] = 0
        buffers.append(buffer)
    }
    defer { buffers.forEach { $0?.deallocate() } }
    return body(buffers.map { UnsafePointer($0) })
}
