import Postgres
import TestSupport
import Testing

@Suite("Errors and notices", .enabled(if: Integration.postgres))
struct ErrorAndNoticeTests {
    @Test func constraintViolationCarriesSQLState() throws {
        let connection = try PostgresConnection()
        try connection.query("CREATE TEMP TABLE uniq (id int PRIMARY KEY)")
        try connection.query("INSERT INTO uniq VALUES ($1)", [1])
        let error = try #require(throws: PostgresError.self) {
            try connection.query("INSERT INTO uniq VALUES ($1)", [1])
        }
        #expect(error.kind == .query)
        #expect(error.sqlState == "23505")
        #expect(error.message.contains("duplicate key"))
        #expect(error.detail == "Key (id)=(1) already exists.")
        #expect(error.description.contains("23505"))
        // The connection is still usable after an error.
        #expect(try connection.query("SELECT 1").first?[0].int == 1)
    }

    @Test func hintIsKept() throws {
        let connection = try PostgresConnection()
        let error = try #require(throws: PostgresError.self) {
            try connection.query("SELECT no_such_function($1::int)", [1])
        }
        #expect(error.sqlState == "42883")
        #expect(error.hint?.contains("explicit type casts") == true)
    }

    @Test func noticeReachesTheCaller() throws {
        let connection = try PostgresConnection()
        nonisolated(unsafe) var received: [PostgresNotice] = []
        connection.onNotice = { received.append($0) }
        try connection.runScript("DO $$ BEGIN RAISE NOTICE 'processed % rows', 42; END $$")
        #expect(received.map(\.message) == ["processed 42 rows"])
        #expect(received.first?.severity == "NOTICE")
    }

    @Test func transactionRollsBackWhenTheBodyThrows() throws {
        struct Stop: Error {}
        let connection = try PostgresConnection()
        try connection.query("CREATE TEMP TABLE tx (n int)")
        #expect(throws: Stop.self) {
            try connection.transaction { conn in
                try conn.query("INSERT INTO tx VALUES ($1)", [1])
                throw Stop()
            }
        }
        #expect(try connection.query("SELECT count(*) FROM tx").first?[0].int == 0)
        try connection.transaction { try $0.query("INSERT INTO tx VALUES ($1)", [2]) }
        #expect(try connection.query("SELECT count(*) FROM tx").first?[0].int == 1)
    }

    @Test func closedConnectionReportsClearly() throws {
        let connection = try PostgresConnection()
        connection.close()
        let error = try #require(throws: PostgresError.self) { try connection.query("SELECT 1") }
        #expect(error.kind == .connectionLost)
        #expect(error.description.contains("closed"))
    }

    @Test func terminatedBackendReportsLostConnection() throws {
        let victim = try PostgresConnection()
        let killer = try PostgresConnection()
        try killer.query("SELECT pg_terminate_backend($1::int)", [.int(Int(victim.backendPID))])
        let error = try #require(throws: PostgresError.self) { try victim.query("SELECT 1") }
        #expect(error.kind == .connectionLost || error.sqlState == "57P01")
        #expect(!victim.isOpen)
        // Later calls keep failing clearly rather than crashing.
        #expect(throws: PostgresError.self) { try victim.query("SELECT 1") }
    }

    @Test func unreachableServerIsAConnectionError() throws {
        let error = try #require(throws: PostgresError.self) {
            try PostgresConnection("host=127.0.0.1 port=1 connect_timeout=2")
        }
        #expect(error.kind == .connection)
        #expect(error.description.hasPrefix("could not connect to PostgreSQL"))
    }
}

@Suite("Connection strings")
struct ConnectionStringTests {
    @Test(arguments: [
        ("postgresql://alice:s3cret@db.example/app", true),
        ("postgresql://alice@db.example/app", false),
        ("host=db port=5432 password=s3cret", true),
        ("host=db port=5432 user=alice", false),
        ("", false),
    ])
    func passwordIsDetected(_ conninfo: String, _ expected: Bool) throws {
        #expect(try ConnectionString.containsPassword(conninfo) == expected)
    }

    @Test func unparsableStringIsAnError() {
        #expect(throws: PostgresError.self) { try ConnectionString.containsPassword("host=db nonsense") }
    }

    @Test func precedence() {
        #expect(ConnectionString.resolve(explicit: "dbname=a", environment: ["DATABASE_URL": "postgres:///b"]) == "dbname=a")
        #expect(ConnectionString.resolve(explicit: nil, environment: ["DATABASE_URL": "postgres:///b"]) == "postgres:///b")
        #expect(ConnectionString.resolve(explicit: nil, environment: [:]) == "")
    }
}
