import Foundation
import Postgres
import TestSupport
import Testing

@Suite("Bind parameters", .enabled(if: Integration.postgres))
struct ParameterTests {
    let connection: PostgresConnection

    init() throws { connection = try PostgresConnection() }

    @Test("text round-trips unchanged", arguments: [
        "plain", "it's \"quoted\"", "'; DROP TABLE users; --", "emoji 🔐 and ünïcödé and עברית",
        "tab\tnewline\nbackslash\\end", "", String(repeating: "x", count: 100_000),
    ])
    func textRoundTrips(_ value: String) throws {
        let row = try connection.query("SELECT $1::text AS v, length($1::text) AS n", [.text(value)]).first!
        #expect(row["v"].string == value)
        #expect(row["n"].int == value.count)
    }

    @Test func nullIsNull() throws {
        let row = try connection.query("SELECT $1::text IS NULL AS isnull, $1::text AS v", [nil]).first!
        #expect(row["isnull"].bool == true)
        #expect(row["v"].isNull)
        #expect(try connection.query("SELECT $1::int", [.optional(Int?.none)]).first![0].isNull)
    }

    @Test func byteaRoundTripsEveryByte() throws {
        let bytes = (0...255).map(UInt8.init) + [0, 0, 255]
        let row = try connection.query("SELECT $1::bytea AS b, length($1::bytea) AS n", [.bytea(bytes)]).first!
        #expect(row["n"].int == bytes.count)
        #expect(row["b"].bytes == bytes)
    }

    @Test func typedValues() throws {
        let date = Date(timeIntervalSince1970: 1_700_000_000.123456)
        let row = try connection.query(
            "SELECT $1 + 1 AS i, NOT $2 AS b, $3 * 2 AS d, extract(epoch FROM $4) AS t",
            [.int(Int.max - 1), .bool(false), .double(1.25), .timestamp(date)]).first!
        #expect(row["i"].int == Int.max)
        #expect(row["b"].bool == true)
        #expect(row["d"].double == 2.5)
        #expect(abs(row["t"].double! - 1_700_000_000.123456) < 0.000_001)
    }

    @Test func injectionStaysAValue() throws {
        try connection.query("CREATE TEMP TABLE victims (name text)")
        try connection.query("INSERT INTO victims VALUES ($1)", ["x'); DROP TABLE victims; --"])
        let rows = try connection.query("SELECT name FROM victims").rows
        #expect(rows.map { $0[0].string } == ["x'); DROP TABLE victims; --"])
    }

    @Test func affectedRowsAndTag() throws {
        try connection.query("CREATE TEMP TABLE counted (n int)")
        let result = try connection.query("INSERT INTO counted SELECT generate_series(1, $1)", [5])
        #expect(result.affectedRows == 5)
        #expect(result.commandTag == "INSERT 0 5")
    }
}
