/// `process_raw_logins` on several sessions at once (`--processing-sessions`): the
/// procedure claims staged rows with `FOR UPDATE SKIP LOCKED`, so concurrent runs take
/// disjoint rows and never wait for each other; each session keeps one backend (one
/// core of the database server) busy.
enum ParallelProcessing {
    /// Runs the procedure on `database` and on `sessions - 1` sibling sessions at once.
    /// Returns every run (a run that found nothing left is reported too); the first
    /// failure is thrown once all have ended, the siblings closed.
    static func run(on database: StagingDatabase, sessions: Int) async throws -> [ProcessingRun] {
        guard sessions > 1 else { return [try await database.processRawLogins()] }
        let siblings = (1..<sessions).map { _ in database.sibling() }
        let results = await withTaskGroup(of: Result<ProcessingRun, any Error>.self) { group in
            for session in [database] + siblings {
                group.addTask {
                    do { return .success(try await session.processRawLogins()) } catch { return .failure(error) }
                }
            }
            var results: [Result<ProcessingRun, any Error>] = []
            for await result in group { results.append(result) }
            return results
        }
        for sibling in siblings {
            await sibling.close()
            await sibling.shutdown()
        }
        return try results.map { try $0.get() }.sorted { $0.runId < $1.runId }
    }
}
