-- 0007: the run log (monitoring) and the reveal audit log.
--
-- Neither ever holds PII: the run log has counts, the audit log has who,
-- when and which login_id.

CREATE TABLE IF NOT EXISTS loginvault.process_runs (
  run_id      bigint      GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
  started_at  timestamptz NOT NULL DEFAULT clock_timestamp(),
  finished_at timestamptz,                    -- NULL while running (or if the run died)
  run_by      name        NOT NULL DEFAULT session_user,
  batch_size  integer     NOT NULL,
  batches     integer     NOT NULL DEFAULT 0,
  staged      integer     NOT NULL DEFAULT 0, -- staging rows claimed and deleted
  upserted    integer     NOT NULL DEFAULT 0, -- user_logins rows inserted or changed
  rejected    integer     NOT NULL DEFAULT 0, -- new rejected_logins rows
  unchanged   integer     NOT NULL DEFAULT 0  -- re-staged messages already processed
);
COMMENT ON TABLE loginvault.process_runs IS
  'One row per process_raw_logins run, updated after every committed batch. finished_at IS NULL and old: the run died.';

CREATE TABLE IF NOT EXISTS loginvault.reveal_audit (
  audit_id    bigint      GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
  revealed_at timestamptz NOT NULL DEFAULT clock_timestamp(),
  revealed_by name        NOT NULL DEFAULT session_user,  -- the login role (also after SET ROLE)
  what        text        NOT NULL CHECK (what IN ('user_login', 'rejected_login')),
  login_id    bigint,                                     -- for what = 'user_login'
  message_id  text,                                       -- for what = 'rejected_login'
  found       boolean     NOT NULL
);
COMMENT ON TABLE loginvault.reveal_audit IS
  'Every call of reveal_user_login / reveal_rejected_login: who, when, which row. Written by the reveal functions only.';
