-- Reveal: recovering the originals, audited.
--
-- For the PII admin: two procedures (issue 17, section 4)
--   CALL reveal_login(login_id, reason, NULL, NULL, NULL, NULL);       -- message_id, ip, device_id, audit_id
--   CALL reveal_rejected(message_id, reason, NULL, NULL, NULL);        -- rejected_for, body, audit_id
-- Each writes its audit row (who: session_user; when; which row; found or
-- not; the reason, required) and COMMITs it BEFORE it decrypts anything: a
-- caller cannot roll the audit back, and inside a transaction block the
-- procedure refuses (COMMIT is not allowed there: SQLSTATE 2D000) before any
-- value is decrypted. The values come from revealed_login / revealed_rejected,
-- which decrypt only for a committed audit row of the same login role, the
-- same row, less than a minute old.
--
-- Public-key mode (15_public_key.sql): the database holds no key that
-- decrypts; the private key reaches the server only as COPY data (never
-- logged by log_statement), into a temporary table of the caller's session:
--   CREATE TEMP TABLE loginvault_private_key (line text);          -- the armored key, one line per row
--   \copy loginvault_private_key FROM 'pii-private.asc'
--   CREATE TEMP TABLE loginvault_key_password (password text);     -- only if the key has a passphrase
--   \copy loginvault_key_password FROM 'passphrase.txt'
-- `loginvault reveal` does exactly this (and drops the tables afterwards).
-- session_private_key() reads the key from those tables and hands it on as
-- a value to generic-plan functions ($n in every plan, never a constant).
--
-- The audit (loginvault.reveal_audit) is a hash chain: a trigger gives each
-- new row the next chain_seq, its predecessor's row_hash as prev_hash and
-- row_hash = sha256(prev_hash || the row's fields), serialised by an advisory
-- lock; loginvault.verify_reveal_audit() recomputes it. Retention may remove
-- the OLDEST rows: verification starts at the oldest remaining row. Each row's
-- chain_seq and hash also go to the server log (RAISE LOG), which no one with
-- only database access can rewrite: compare verify_reveal_audit()'s last hash
-- with the log to detect removed newest rows.
--
-- These procedures are the one reveal path, for the owner too: the older
-- functions reveal_user_login / reveal_rejected_login, whose audit row was part
-- of the caller's transaction, were dropped (sql/migrations/0028).
-- All of these use generic plans (plan_cache_mode): a custom plan would hold
-- decrypted values or a key as constants, which auto_explain (log_verbose)
-- would print. The key a row is under cannot be purged while the row
-- references it (purge_unused_data_keys, 80_rotation.sql).

-- The hash of one audit row: sha256 over the previous row's hash and the
-- row's fields, serialised as a JSON array (exact: the time as epoch seconds
-- with microseconds).
CREATE OR REPLACE FUNCTION loginvault.reveal_audit_hash(
  prev_hash bytea, chain_seq bigint, revealed_at timestamptz, revealed_by name, what text,
  login_id bigint, message_id text, found boolean, reason text) RETURNS bytea
LANGUAGE sql IMMUTABLE PARALLEL SAFE
RETURN pg_catalog.sha256(coalesce(prev_hash, ''::bytea) || pg_catalog.convert_to(
  pg_catalog.jsonb_build_array(chain_seq, extract(epoch FROM revealed_at)::text, revealed_by, what,
                               login_id, message_id, found, reason)::text, 'UTF8'));
COMMENT ON FUNCTION loginvault.reveal_audit_hash(bytea, bigint, timestamptz, name, text, bigint, text, boolean, text) IS
  'The chain hash of a reveal_audit row: sha256(previous row_hash || its fields as a JSON array).';

-- The trigger that chains every new audit row (one writer at a time:
-- advisory lock 'lvaudit', held to the end of the inserting transaction).
CREATE OR REPLACE FUNCTION loginvault.chain_reveal_audit() RETURNS trigger
LANGUAGE plpgsql SECURITY DEFINER SET search_path = pg_catalog, loginvault, pg_temp
AS $$
DECLARE
  v_prev record;
BEGIN
  PERFORM pg_advisory_xact_lock(x'6c7661756469740a'::bigint);
  SELECT a.chain_seq, a.row_hash INTO v_prev
    FROM loginvault.reveal_audit a WHERE a.chain_seq IS NOT NULL
   ORDER BY a.chain_seq DESC LIMIT 1;
  NEW.revealed_at := clock_timestamp();
  NEW.chain_seq := coalesce(v_prev.chain_seq, 0) + 1;
  NEW.prev_hash := v_prev.row_hash;
  NEW.row_hash := loginvault.reveal_audit_hash(NEW.prev_hash, NEW.chain_seq, NEW.revealed_at, NEW.revealed_by,
                                               NEW.what, NEW.login_id, NEW.message_id, NEW.found, NEW.reason);
  RAISE LOG 'loginvault: reveal audit % by % (%), hash %', NEW.chain_seq, NEW.revealed_by, NEW.what, encode(NEW.row_hash, 'hex');
  RETURN NEW;
END
$$;
COMMENT ON FUNCTION loginvault.chain_reveal_audit() IS
  'Trigger of loginvault.reveal_audit: chains each new row to the previous one (chain_seq, prev_hash, row_hash) and logs its hash.';
CREATE OR REPLACE TRIGGER reveal_audit_chain BEFORE INSERT ON loginvault.reveal_audit
  FOR EACH ROW EXECUTE FUNCTION loginvault.chain_reveal_audit();

-- verify_reveal_audit(): whether the chain holds, from its oldest remaining
-- row (retention removes the oldest) to the newest. Rows from before 0024
-- (chain_seq NULL) are outside the chain.
CREATE OR REPLACE FUNCTION loginvault.verify_reveal_audit(
  OUT ok boolean, OUT rows_checked bigint, OUT first_chain_seq bigint, OUT last_chain_seq bigint,
  OUT broken_at bigint, OUT problem text, OUT last_hash text)
LANGUAGE sql STABLE SECURITY DEFINER SET search_path = pg_catalog, loginvault, pg_temp
AS $$
  WITH c AS (
    SELECT a.*, lag(a.chain_seq) OVER w AS p_seq, lag(a.row_hash) OVER w AS p_hash, row_number() OVER w AS n
      FROM loginvault.reveal_audit a WHERE a.chain_seq IS NOT NULL
    WINDOW w AS (ORDER BY a.chain_seq)
  ),
  checked AS (
    SELECT c.chain_seq, c.row_hash,
           CASE WHEN c.row_hash IS DISTINCT FROM loginvault.reveal_audit_hash(c.prev_hash, c.chain_seq, c.revealed_at,
                       c.revealed_by, c.what, c.login_id, c.message_id, c.found, c.reason)
                  THEN 'the row does not match its row_hash (changed)'
                WHEN c.n > 1 AND c.chain_seq <> c.p_seq + 1 THEN 'rows before this one are missing'
                WHEN c.n > 1 AND c.prev_hash IS DISTINCT FROM c.p_hash THEN 'prev_hash does not match the previous row'
           END AS problem
      FROM c
  )
  SELECT (SELECT count(*) FROM checked WHERE checked.problem IS NOT NULL) = 0,
         (SELECT count(*) FROM checked),
         (SELECT min(chain_seq) FROM checked),
         (SELECT max(chain_seq) FROM checked),
         b.chain_seq, b.problem,
         (SELECT encode(x.row_hash, 'hex') FROM checked x ORDER BY x.chain_seq DESC LIMIT 1)
    FROM (SELECT 1) one
    LEFT JOIN LATERAL (SELECT x.chain_seq, x.problem FROM checked x WHERE x.problem IS NOT NULL
                        ORDER BY x.chain_seq LIMIT 1) b ON true
$$;
COMMENT ON FUNCTION loginvault.verify_reveal_audit() IS
  'Checks the reveal audit''s hash chain from its oldest remaining row: ok, rows checked, the first broken chain_seq and why, and the newest hash (compare it with the server log).';

-- record_reveal: write one audit row (chained by the trigger); reason required.
CREATE OR REPLACE FUNCTION loginvault.record_reveal(what text, login_id bigint, message_id text, reason text) RETURNS bigint
LANGUAGE plpgsql VOLATILE SECURITY DEFINER SET search_path = pg_catalog, loginvault, pg_temp
SET plan_cache_mode = force_generic_plan
AS $$
DECLARE
  v_audit_id bigint;
BEGIN
  IF reason IS NULL OR length(btrim(reason)) < 3 OR length(reason) > 500 THEN
    RAISE EXCEPTION 'reveal: a reason is required (3 to 500 characters, e.g. a ticket number)'
      USING ERRCODE = 'invalid_parameter_value';
  END IF;
  INSERT INTO loginvault.reveal_audit (what, login_id, message_id, found, reason)
  VALUES (record_reveal.what, record_reveal.login_id, record_reveal.message_id,
          CASE record_reveal.what
            WHEN 'user_login' THEN EXISTS (SELECT FROM public.user_logins u JOIN loginvault.user_login_originals o USING (login_id)
                                            WHERE u.login_id = record_reveal.login_id)
            ELSE EXISTS (SELECT FROM public.rejected_logins r WHERE r.message_id = record_reveal.message_id) END,
          reason)
  RETURNING audit_id INTO v_audit_id;
  RETURN v_audit_id;
END
$$;
COMMENT ON FUNCTION loginvault.record_reveal(text, bigint, text, text) IS
  'Part of reveal_login / reveal_rejected: writes the chained audit row (reason required) and returns its audit_id.';

-- The audit row a reveal may decrypt for: committed (not by the caller's own
-- transaction), by the same login role, for that row, under a minute old.
CREATE OR REPLACE FUNCTION loginvault.committed_reveal(audit_id bigint, what text, login_id bigint, message_id text) RETURNS boolean
LANGUAGE plpgsql VOLATILE SET search_path = pg_catalog, loginvault, pg_temp
AS $$
DECLARE
  v_xmin bigint;
  v_current bigint := pg_current_xact_id()::text::bigint;
  v_full bigint;
BEGIN
  SELECT a.xmin::text::bigint INTO v_xmin
    FROM loginvault.reveal_audit a
   WHERE a.audit_id = committed_reveal.audit_id AND a.what = committed_reveal.what
     AND a.login_id IS NOT DISTINCT FROM committed_reveal.login_id
     AND a.message_id IS NOT DISTINCT FROM committed_reveal.message_id
     AND a.revealed_by = session_user AND a.revealed_at > clock_timestamp() - interval '1 minute';
  IF v_xmin IS NULL THEN
    RETURN false;
  END IF;
  -- the 64-bit id of the inserting transaction: in the current epoch, or the one before if
  -- that puts it more than 2^31 ahead of ours (a subtransaction of ours may be a little ahead;
  -- pg_xact_status says 'in progress' for our own transaction and its subtransactions)
  v_full := (v_current >> 32 << 32) | v_xmin;
  IF v_full > v_current + 2147483648 THEN
    v_full := v_full - 4294967296;
  END IF;
  RETURN pg_xact_status(v_full::text::xid8) = 'committed';
END
$$;
COMMENT ON FUNCTION loginvault.committed_reveal(bigint, text, bigint, text) IS
  'Whether an audit row authorises a reveal: committed by another transaction, same login role and row, under a minute old.';

-- revealed_login / revealed_rejected: the decrypted values for a committed
-- audit row (called by the procedures after their COMMIT).
CREATE OR REPLACE FUNCTION loginvault.revealed_login(audit_id bigint, login_id bigint, armored_private_key text, key_password text)
RETURNS TABLE (message_id text, ip text, device_id text)
LANGUAGE plpgsql VOLATILE SECURITY DEFINER SET search_path = pg_catalog, loginvault, pg_temp
SET plan_cache_mode = force_generic_plan  -- the key and the values are $n in a plan, never constants
AS $$
DECLARE
  v_originals jsonb;
  v_message_id text;
  v_key_id integer;
BEGIN
  IF NOT loginvault.committed_reveal(audit_id, 'user_login', revealed_login.login_id, NULL) THEN
    RAISE EXCEPTION 'reveal: no committed audit row % for login %', audit_id, revealed_login.login_id
      USING ERRCODE = 'object_not_in_prerequisite_state', HINT = 'Use CALL reveal_login(login_id, reason, NULL, NULL, NULL, NULL) outside a transaction block.';
  END IF;
  SELECT u.message_id, o.key_id INTO v_message_id, v_key_id
    FROM public.user_logins u JOIN loginvault.user_login_originals o ON o.login_id = u.login_id
   WHERE u.login_id = revealed_login.login_id;
  IF v_message_id IS NULL THEN
    RETURN;
  END IF;
  IF armored_private_key IS NULL AND NOT EXISTS (SELECT FROM loginvault.keys k WHERE k.key_id = v_key_id) THEN
    RAISE EXCEPTION 'reveal: login %''s originals are encrypted to a PGP public key; the private key is needed', revealed_login.login_id
      USING HINT = 'loginvault reveal --private-key-file FILE (or copy the armored key into pg_temp.loginvault_private_key).';
  END IF;
  SELECT loginvault.decrypt(o.originals, loginvault.originals_passphrase(o.key_id, loginvault.dearmor(armored_private_key), key_password))::jsonb
    INTO v_originals
    FROM loginvault.user_login_originals o WHERE o.login_id = revealed_login.login_id;
  RETURN QUERY SELECT v_message_id, v_originals->>'ip', v_originals->>'device_id';
END
$$;
COMMENT ON FUNCTION loginvault.revealed_login(bigint, bigint, text, text) IS
  'Part of reveal_login: the originals of one login, for a committed audit row of this role (private key: public-key mode).';

CREATE OR REPLACE FUNCTION loginvault.revealed_rejected(audit_id bigint, message_id text, armored_private_key text, key_password text)
RETURNS TABLE (rejected_for text, body text)
LANGUAGE plpgsql VOLATILE SECURITY DEFINER SET search_path = pg_catalog, loginvault, pg_temp
SET plan_cache_mode = force_generic_plan  -- the key and the values are $n in a plan, never constants
AS $$
DECLARE
  v_reason text;
  v_key_id integer;
  v_body text;
BEGIN
  IF NOT loginvault.committed_reveal(audit_id, 'rejected_login', NULL, revealed_rejected.message_id) THEN
    RAISE EXCEPTION 'reveal: no committed audit row % for rejected message %', audit_id, quote_literal(revealed_rejected.message_id)
      USING ERRCODE = 'object_not_in_prerequisite_state', HINT = 'Use CALL reveal_rejected(message_id, reason, NULL, NULL, NULL) outside a transaction block.';
  END IF;
  SELECT r.reason, r.key_id INTO v_reason, v_key_id FROM public.rejected_logins r WHERE r.message_id = revealed_rejected.message_id;
  IF v_reason IS NULL THEN
    RETURN;
  END IF;
  IF v_key_id IS NULL THEN  -- 'forgotten' (65_forget.sql): the body is gone
    RETURN QUERY SELECT v_reason, NULL::text;
    RETURN;
  END IF;
  IF armored_private_key IS NULL AND NOT EXISTS (SELECT FROM loginvault.keys k WHERE k.key_id = v_key_id) THEN
    RAISE EXCEPTION 'reveal: this rejected body is encrypted to a PGP public key; the private key is needed'
      USING HINT = 'loginvault reveal --private-key-file FILE (or copy the armored key into pg_temp.loginvault_private_key).';
  END IF;
  SELECT loginvault.decrypt(r.body_encrypted, loginvault.originals_passphrase(r.key_id, loginvault.dearmor(armored_private_key), key_password))
    INTO v_body
    FROM public.rejected_logins r WHERE r.message_id = revealed_rejected.message_id;
  RETURN QUERY SELECT v_reason, v_body;
END
$$;
COMMENT ON FUNCTION loginvault.revealed_rejected(bigint, text, text, text) IS
  'Part of reveal_rejected: the quarantined body of one message, for a committed audit row of this role (private key: public-key mode).';

-- session_private_key(): the private key (and its passphrase) this session
-- copied into its temporary tables, or NULLs (symmetric mode). SECURITY
-- INVOKER: it reads only the caller's own temporary tables. The key is read
-- by EXECUTE (the tables need not exist) and handed on as a value, never
-- placed in the text or a plan of any statement.
CREATE OR REPLACE FUNCTION loginvault.session_private_key(OUT armored_key text, OUT key_password text)
LANGUAGE plpgsql VOLATILE SET search_path = pg_catalog, pg_temp
SET plan_cache_mode = force_generic_plan
AS $$
BEGIN
  IF pg_catalog.to_regclass('pg_temp.loginvault_private_key') IS NOT NULL THEN
    EXECUTE 'SELECT pg_catalog.string_agg(k.line, E''\n'' ORDER BY k.ctid) FROM pg_temp.loginvault_private_key k' INTO armored_key;
  END IF;
  IF pg_catalog.to_regclass('pg_temp.loginvault_key_password') IS NOT NULL THEN
    EXECUTE 'SELECT p.password FROM pg_temp.loginvault_key_password p LIMIT 1' INTO key_password;
  END IF;
END
$$;
COMMENT ON FUNCTION loginvault.session_private_key() IS
  'Part of reveal_login / reveal_rejected: the armored private key and passphrase this session COPYed into pg_temp.loginvault_private_key (one line per row) and pg_temp.loginvault_key_password, or NULLs.';

-- The procedures. SECURITY INVOKER (a procedure that COMMITs cannot be
-- SECURITY DEFINER); everything is schema-qualified.
CREATE OR REPLACE PROCEDURE public.reveal_login(login_id bigint, reason text,
  OUT message_id text, OUT ip text, OUT device_id text, OUT audit_id bigint)
LANGUAGE plpgsql
AS $$
BEGIN
  audit_id := loginvault.record_reveal('user_login', reveal_login.login_id, NULL, reveal_login.reason);
  COMMIT;  -- the audit row is durable before anything is decrypted
  SELECT r.message_id, r.ip, r.device_id INTO message_id, ip, device_id
    FROM loginvault.session_private_key() k,
         LATERAL loginvault.revealed_login(audit_id, reveal_login.login_id, k.armored_key, k.key_password) r;
END
$$;
COMMENT ON PROCEDURE public.reveal_login(bigint, text) IS
  'PII admin: the original ip and device_id of one login. Commits a chained audit row (reason required) before decrypting; refuses inside a transaction block.';

CREATE OR REPLACE PROCEDURE public.reveal_rejected(message_id text, reason text,
  OUT rejected_for text, OUT body text, OUT audit_id bigint)
LANGUAGE plpgsql
AS $$
BEGIN
  audit_id := loginvault.record_reveal('rejected_login', NULL, reveal_rejected.message_id, reveal_rejected.reason);
  COMMIT;  -- the audit row is durable before anything is decrypted
  SELECT r.rejected_for, r.body INTO rejected_for, body
    FROM loginvault.session_private_key() k,
         LATERAL loginvault.revealed_rejected(audit_id, reveal_rejected.message_id, k.armored_key, k.key_password) r;
END
$$;
COMMENT ON PROCEDURE public.reveal_rejected(text, text) IS
  'PII admin: the quarantined body of one message. Commits a chained audit row (reason required) before decrypting; refuses inside a transaction block.';
