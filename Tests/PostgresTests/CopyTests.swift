import Postgres
import TestSupport
import Testing

@Suite("COPY FROM STDIN", .enabled(if: Integration.postgres))
struct CopyTests {
    @Test func copiesOneHundredThousandRows() throws {
        let connection = try PostgresConnection()
        try connection.query("CREATE TEMP TABLE copied (n int, body text, maybe text)")
        let tricky = "tab\there\nnewline\\backslash\r 🔐 \\N"
        let copied = try connection.copyIn("COPY copied (n, body, maybe) FROM STDIN") { writer in
            for n in 1...100_000 {
                try writer.writeRow([String(n), n % 1000 == 0 ? tricky : "row \(n)", n.isMultiple(of: 2) ? nil : "odd"])
            }
        }
        #expect(copied == 100_000)
        let row = try connection.query("""
            SELECT count(*) AS rows, count(maybe) AS odd, sum(n) AS total,
                   count(*) FILTER (WHERE body = $1) AS tricky
            FROM copied
            """, [.text(tricky)]).first!
        #expect(row["rows"].int == 100_000)
        #expect(row["odd"].int == 50_000)
        #expect(row["total"].int == 5_000_050_000)
        #expect(row["tricky"].int == 100)
    }

    @Test func badDataFailsTheWholeCopyAndKeepsTheConnection() throws {
        let connection = try PostgresConnection()
        try connection.query("CREATE TEMP TABLE typed (n int)")
        let error = try #require(throws: PostgresError.self) {
            try connection.copyIn("COPY typed FROM STDIN") { writer in
                try writer.writeRow(["1"])
                try writer.writeRow(["not a number"])
            }
        }
        #expect(error.kind == .copy)
        #expect(error.sqlState == "22P02")
        #expect(try connection.query("SELECT count(*) FROM typed").first?[0].int == 0)
    }

    @Test func throwingWriterAbortsTheCopy() throws {
        struct Stop: Error {}
        let connection = try PostgresConnection()
        try connection.query("CREATE TEMP TABLE aborted (n int)")
        #expect(throws: Stop.self) {
            try connection.copyIn("COPY aborted FROM STDIN") { writer in
                try writer.writeRow(["1"])
                throw Stop()
            }
        }
        #expect(try connection.query("SELECT count(*) FROM aborted").first?[0].int == 0)
    }
}
