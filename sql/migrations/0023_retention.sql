-- 0023: retention: how long each kind of row is kept, and the indexes that let
-- loginvault.apply_retention() (sql/definitions/83_retention.sql) find the old
-- rows cheaply, batch by batch.
--
-- loginvault.retention: one row per kind of row; keep_for NULL = kept for
-- ever (the default: nothing is removed until an owner sets an age).
-- user_logins goes by create_date (an index: one small entry per new login,
-- appended at the right end), rejected_logins by rejected_at (an index; rejects
-- are few). The audit and run logs go oldest-first by their identity column,
-- which follows their time column, so they need no new index.

CREATE TABLE IF NOT EXISTS loginvault.retention (
  what     text     PRIMARY KEY CHECK (what IN ('user_logins', 'rejected_logins', 'reveal_audit', 'requeue_audit', 'process_runs')),
  keep_for interval CHECK (keep_for IS NULL OR keep_for >= interval '1 day')
);
COMMENT ON TABLE loginvault.retention IS
  'How long loginvault.apply_retention() keeps each kind of row (keep_for NULL: for ever). Owner only.';
INSERT INTO loginvault.retention (what) VALUES
  ('user_logins'), ('rejected_logins'), ('reveal_audit'), ('requeue_audit'), ('process_runs')
ON CONFLICT (what) DO NOTHING;

CREATE INDEX IF NOT EXISTS user_logins_create_date ON public.user_logins (create_date);
CREATE INDEX IF NOT EXISTS rejected_logins_rejected_at ON public.rejected_logins (rejected_at);
