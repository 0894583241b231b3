import Foundation
import Postgres

/// Races made deterministic: wait until another session is blocked on a lock before the test
/// lets the session holding it go on.
public enum LockWait {
    /// Polls `pg_stat_activity` (every 25 ms, up to 10 s) until exactly one session of this
    /// database whose query contains `fragment` waits on a lock; whether one did.
    public static func sessionWaits(_ watcher: PostgresConnection, queryContaining fragment: String) async throws -> Bool {
        for _ in 0..<400 {
            let waiting = try watcher.query("""
                SELECT count(*) FROM pg_stat_activity
                 WHERE datname = current_database() AND wait_event_type = 'Lock' AND query LIKE '%' || $1 || '%'
                """, [.text(fragment)]).first?[0].int
            if waiting == 1 { return true }
            try await Task.sleep(for: .milliseconds(25))
        }
        return false
    }
}
