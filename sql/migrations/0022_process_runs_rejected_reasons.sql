-- 0022: process_runs.rejected_reasons, the run's rejects by reason code.
--
-- process_login_batch (sql/definitions/50_processing.sql) adds each batch's
-- new rejected_logins rows to it, per reason, in the batch's transaction, as
-- it adds to rejected: {"missing_user_id": 3, "invalid_ip": 1}. The loader
-- reads it with the run's row (last_process_run()) for its metric
-- loginvault_rejected_logins_total{reason}; a DBA sees why a run rejected
-- what it did. Reason codes only, no PII. Runs before this version have {}.

ALTER TABLE loginvault.process_runs
  ADD COLUMN IF NOT EXISTS rejected_reasons jsonb NOT NULL DEFAULT '{}'::jsonb;
COMMENT ON COLUMN loginvault.process_runs.rejected_reasons IS
  'New rejected_logins rows of the run by reason code, e.g. {"missing_user_id": 3}; their sum is rejected.';
