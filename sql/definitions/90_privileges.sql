-- Privileges: who may do what, all grants in one place. Everything not
-- granted here is denied (permission denied, SQLSTATE 42501). Applied after
-- every other definitions file, so a function that was replaced gets its
-- grants again.
--
--   loginvault_loader     stage messages, quarantine them, run the procedure
--   loginvault_analyst    read user_logins, the run log and the status
--   loginvault_pii_admin  analyst + read the quarantine, reveal originals
--   owner (the role that migrates)  keys, rotation, scheduling
--
-- The roles themselves are created in sql/migrations/0002 (they are
-- cluster-wide); grants are per database: a second database of the cluster
-- gets its own. Functions created later in schema loginvault are not
-- executable by PUBLIC either (ALTER DEFAULT PRIVILEGES, sql/migrations/0001).

-- Start from nothing: functions and procedures are executable by PUBLIC by
-- default; tables already grant PUBLIC nothing.
REVOKE ALL ON ALL TABLES    IN SCHEMA loginvault FROM PUBLIC;
REVOKE ALL ON ALL FUNCTIONS IN SCHEMA loginvault FROM PUBLIC;  -- includes pgcrypto's
REVOKE ALL ON ALL PROCEDURES IN SCHEMA loginvault FROM PUBLIC;
REVOKE ALL ON public.raw_logins, public.user_logins, public.rejected_logins FROM PUBLIC;
REVOKE ALL ON FUNCTION public.stage_incoming_logins(integer),
                       public.stage_raw_login(text, text, timestamptz, integer),
                       public.quarantine_raw_login(text, text, text, timestamptz, integer),
                       public.reveal_user_login(bigint),
                       public.reveal_rejected_login(text)
  FROM PUBLIC;
REVOKE ALL ON PROCEDURE public.process_raw_logins(integer) FROM PUBLIC;

-- The loader. INSERT ... ON CONFLICT (message_id) needs SELECT on the
-- conflict column (and only on it: the loader cannot read bodies).
-- process_raw_logins cannot be SECURITY DEFINER (it COMMITs), so whoever
-- calls it needs USAGE on loginvault and EXECUTE on the three SECURITY
-- DEFINER functions it is made of; those only ever process the staging table.
-- stage_incoming_logins() judges each message of a bad batch with
-- stage_incoming_login() (SECURITY INVOKER). last_process_run() gives it the
-- counts of its own runs.
GRANT INSERT, SELECT (message_id) ON public.raw_logins TO loginvault_loader;
GRANT EXECUTE ON FUNCTION public.stage_incoming_logins(integer),
                          public.stage_raw_login(text, text, timestamptz, integer),
                          public.quarantine_raw_login(text, text, text, timestamptz, integer)
  TO loginvault_loader;
GRANT EXECUTE ON PROCEDURE public.process_raw_logins(integer) TO loginvault_loader;
GRANT USAGE ON SCHEMA loginvault TO loginvault_loader;
GRANT EXECUTE ON FUNCTION loginvault.stage_incoming_login(text, bytea, timestamptz, integer, integer),
                          loginvault.begin_process_run(integer),
                          loginvault.process_login_batch(bigint, integer),
                          loginvault.end_process_run(bigint),
                          loginvault.last_process_run()
  TO loginvault_loader;
-- The backlog's row count and oldest age (two numbers) for the loader's metrics.
GRANT EXECUTE ON FUNCTION loginvault.staging_backlog() TO loginvault_loader;

-- The analyst: the masked table, the run log (counts only) and the list of
-- quarantine reasons.
GRANT SELECT ON public.user_logins TO loginvault_analyst;
GRANT USAGE ON SCHEMA loginvault TO loginvault_analyst;
GRANT SELECT ON loginvault.process_runs TO loginvault_analyst;
GRANT EXECUTE ON FUNCTION loginvault.quarantine_reasons() TO loginvault_analyst;
-- The status (sql/definitions/87_status.sql): counts, times, key ids; no PII.
GRANT EXECUTE ON FUNCTION loginvault.status(interval), loginvault.staging_backlog() TO loginvault_analyst;

-- The PII admin (also a member of loginvault_analyst, see 0002): the
-- quarantine (bodies are ciphertext), the encrypted originals, and the two
-- audited reveal functions, the only way to plaintext.
GRANT SELECT ON public.rejected_logins, loginvault.user_login_originals TO loginvault_pii_admin;
GRANT EXECUTE ON FUNCTION public.reveal_user_login(bigint), public.reveal_rejected_login(text)
  TO loginvault_pii_admin;
