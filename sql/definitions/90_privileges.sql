-- Privileges: who may do what, all grants in one place. Everything not
-- granted here is denied (permission denied, SQLSTATE 42501). Applied after
-- every other definitions file, so a function that was replaced gets its
-- grants again.
--
--   loginvault_loader     stage messages, quarantine them, run the procedure
--   loginvault_analyst    read user_logins, the run log and the status
--   loginvault_pii_admin  analyst + read the quarantine, reveal originals,
--                         requeue quarantined messages
--   owner (the role that migrates)  keys, rotation, scheduling
--
-- The roles themselves are created in sql/migrations/0002 (they are
-- cluster-wide); grants are per database: a second database of the cluster
-- gets its own.

-- No default privilege is relied on (a per-schema default cannot revoke,
-- see 0001; a global one would change every function the owner creates
-- anywhere in the database): this file is applied last, in the same
-- transaction as every definition, and revokes explicitly.
-- pgcrypto's own schema, when loginvault installed it: the owner's only (no
-- USAGE for anyone else). Its functions too, where the owner may revoke that
-- (a superuser's install; under a non-superuser owner they belong to the
-- bootstrap superuser and stay executable by PUBLIC, unreachable without
-- USAGE on the schema: the revoke is then a no-op with a warning, muted).
DO $$
BEGIN
  IF EXISTS (SELECT FROM pg_namespace WHERE nspname = 'loginvault_crypto') THEN
    REVOKE ALL ON SCHEMA loginvault_crypto FROM PUBLIC;
    SET LOCAL client_min_messages = error;
    REVOKE ALL ON ALL FUNCTIONS IN SCHEMA loginvault_crypto FROM PUBLIC;
    RESET client_min_messages;
  END IF;
END
$$;

-- Start from nothing: functions and procedures are executable by PUBLIC by
-- default; tables already grant PUBLIC nothing.
REVOKE ALL ON ALL TABLES    IN SCHEMA loginvault FROM PUBLIC;
REVOKE ALL ON ALL FUNCTIONS IN SCHEMA loginvault FROM PUBLIC;  -- includes the pgcrypto wrappers
REVOKE ALL ON ALL PROCEDURES IN SCHEMA loginvault FROM PUBLIC;
REVOKE ALL ON public.raw_logins, public.user_logins, public.rejected_logins FROM PUBLIC;
REVOKE ALL ON FUNCTION public.stage_incoming_logins(integer),
                       public.stage_raw_login(text, text, timestamptz, integer),
                       public.quarantine_raw_login(text, text, text, timestamptz, integer),
                       public.forget_user(text, text)
  FROM PUBLIC;
REVOKE ALL ON PROCEDURE public.reveal_login(bigint, text), public.reveal_rejected(text, text) FROM PUBLIC;
REVOKE ALL ON PROCEDURE public.process_raw_logins(integer),
                        public.requeue_rejected(text, text[], integer, bigint, integer, integer, integer, integer)
  FROM PUBLIC;

-- The loader. INSERT ... ON CONFLICT (message_id) needs SELECT on the
-- conflict column (and only on it: the loader cannot read bodies).
-- process_raw_logins cannot be SECURITY DEFINER (it COMMITs), so whoever
-- calls it needs USAGE on loginvault and EXECUTE on the three SECURITY
-- DEFINER functions it is made of; those only ever process the staging table.
-- stage_incoming_logins() judges each message of a bad batch with
-- stage_incoming_login() (SECURITY INVOKER); both test message ids with
-- invalid_message_id_key() (a pure function of its arguments). last_process_run() gives it the
-- counts of its own runs.
GRANT INSERT, SELECT (message_id) ON public.raw_logins TO loginvault_loader;
GRANT EXECUTE ON FUNCTION public.stage_incoming_logins(integer),
                          public.stage_raw_login(text, text, timestamptz, integer),
                          public.quarantine_raw_login(text, text, text, timestamptz, integer)
  TO loginvault_loader;
GRANT EXECUTE ON PROCEDURE public.process_raw_logins(integer) TO loginvault_loader;
GRANT USAGE ON SCHEMA loginvault TO loginvault_loader;
GRANT EXECUTE ON FUNCTION loginvault.stage_incoming_login(text, bytea, timestamptz, integer, integer),
                          loginvault.invalid_message_id_key(text, text),
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
-- quarantine (bodies are ciphertext), the encrypted originals, the two
-- audited reveal procedures, the only way to plaintext, and the audited
-- requeue of quarantined messages (75_requeue.sql).
GRANT SELECT ON public.rejected_logins, loginvault.user_login_originals TO loginvault_pii_admin;
-- Reveals go through the procedures (70_reveal.sql): audit committed first,
-- reason required, hash-chained (the older reveal functions are dropped: 0028).
GRANT EXECUTE ON PROCEDURE public.reveal_login(bigint, text), public.reveal_rejected(text, text)
  TO loginvault_pii_admin;
GRANT EXECUTE ON FUNCTION loginvault.record_reveal(text, bigint, text, text),
                          loginvault.revealed_login(bigint, bigint, text, text),
                          loginvault.revealed_rejected(bigint, text, text, text),
                          loginvault.session_private_key(),
                          loginvault.verify_reveal_audit()
  TO loginvault_pii_admin;
GRANT EXECUTE ON PROCEDURE public.requeue_rejected(text, text[], integer, bigint, integer, integer, integer, integer)
  TO loginvault_pii_admin;

-- Erasure (65_forget.sql): the PII admin forgets a user (audited).
GRANT EXECUTE ON FUNCTION public.forget_user(text, text) TO loginvault_pii_admin;

-- Mask keys held outside the database (15_mask_keys.sql): a processing
-- session supplies them from its own temp table (COPY, never logged).
-- (The PII admin too: requeue_rejected runs processing batches.)
GRANT EXECUTE ON FUNCTION loginvault.supply_mask_keys(), loginvault.mask_key_version(text)
  TO loginvault_loader, loginvault_pii_admin;
