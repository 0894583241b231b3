-- Erasure: forget_user(user_id, reason), for the PII admin role only, audited.
--
--   SELECT * FROM forget_user('u-1234', 'erasure request, ticket PRIV-77');
--   -> erasure_id, logins, originals, rejects, staged
--
-- What it does, in one transaction (docs/security.md, "Erasure", says what
-- stays in WAL, replicas and backups):
--   * logins: every user_logins row with this user_id keeps its row (so a
--     redelivery of its SQS message stays a duplicate and is not turned into
--     a login again), but its user_id becomes 'forgotten:<erasure_id>' and
--     each mask it had becomes 32 random bytes in hex (NULL stays NULL): the
--     row no longer equals any other row, nor a later login of the same ip or
--     device id. device_type, locale, app_version and create_date stay (no
--     PII; the counts analysts compute stay right).
--   * originals: the encrypted originals of those logins are deleted (and,
--     during a mask-key rotation, their masks under the next key, so that
--     the switch does not bring linkable masks back).
--   * quarantine: every rejected_logins row whose body names the user (the
--     decrypted body, as JSON, has "user_id" equal to it; a body that is not
--     JSON: it contains the user id as a JSON string anywhere, so a broken
--     body errs on the side of erasure) gets reason 'forgotten' and, as
--     body, the encryption of the empty string. The row stays, for the same
--     reason as a login's.
--   * staging: every raw_logins row of the user (body->>'user_id') is
--     deleted and its message id becomes a 'forgotten' reject (empty body),
--     unless it already is a login or a reject. Why not delete it only: the
--     message id would then be unknown, and a redelivery of the same SQS
--     message (at-least-once delivery) would be staged and processed into a
--     normal login. Why not process it first: processing needs the mask key,
--     which the PII admin may not have (it may be held outside the database,
--     10_keys.sql). Every message still ends in exactly one of user_logins
--     and rejected_logins; the run log does not count these (the erasure
--     audit does).
--   * audit: one loginvault.erasure_audit row (who, when, the reason, the
--     four counts) and a RAISE LOG line, which no rollback removes. Neither
--     holds the user id: the erasure_id returned is what links the request
--     to its erasure (record it in the ticket). The reason may not contain
--     the user id.
-- The user id is matched exactly as stored (as sent, case and spaces
-- included). Idempotent: a second call for the same user finds nothing left
-- (its rows no longer carry the user id) and audits an erasure of 0 rows.
--
-- Concurrency: it first takes the advisory lock that every processing batch
-- holds shared (30_quarantine.sql), so it waits for the batches in flight
-- and none starts until it commits; in read committed every later statement
-- of it then sees their rows. A message of the user staged after it commits
-- is a later login (processed normally). Cost: a scan of user_logins (no
-- index on user_id) and a decryption of every reject not yet 'forgotten'.
-- Generic plans: a custom plan would print the user id as a constant in an
-- auto_explain plan.
CREATE OR REPLACE FUNCTION public.forget_user(user_id text, reason text)
RETURNS TABLE (erasure_id bigint, logins integer, originals integer, rejects integer, staged integer)
LANGUAGE plpgsql VOLATILE SECURITY DEFINER SET search_path = pg_catalog, loginvault, pg_temp
SET plan_cache_mode = force_generic_plan
AS $$
DECLARE
  v_erasure_id bigint;
  v_key_id     integer;
  v_json_id    text;
  v_logins     integer;
  v_originals  integer;
  v_rejects    integer;
  v_staged     integer;
BEGIN
  IF forget_user.user_id IS NULL OR forget_user.user_id = '' THEN
    RAISE EXCEPTION 'forget_user: user_id is required';
  END IF;
  IF forget_user.reason IS NULL OR btrim(forget_user.reason) = '' OR length(forget_user.reason) > 500 THEN
    RAISE EXCEPTION 'forget_user: a reason (1 to 500 characters) is required'
      USING HINT = 'Say why, e.g. the ticket of the erasure request: SELECT * FROM forget_user(''u-1234'', ''erasure request PRIV-77'').';
  END IF;
  IF strpos(forget_user.reason, forget_user.user_id) > 0 THEN
    RAISE EXCEPTION 'forget_user: the reason must not contain the user id'
      USING HINT = 'The audit keeps no user id; name the request instead (e.g. its ticket number).';
  END IF;
  IF current_setting('transaction_isolation') <> 'read committed' THEN
    RAISE EXCEPTION 'forget_user: run it in a read committed transaction (the default), not %',
      current_setting('transaction_isolation')
      USING HINT = 'It must see the rows of the processing batches it waited for.';
  END IF;
  -- Wait for the processing batches in flight; none starts until we commit.
  PERFORM pg_advisory_xact_lock(x'6c76706f69736f6e'::bigint);

  v_erasure_id := nextval(pg_get_serial_sequence('loginvault.erasure_audit', 'erasure_id'));
  v_key_id := loginvault.data_key_for_writing();
  v_json_id := to_json(forget_user.user_id)::text;

  -- Staged messages of the user: deleted, their ids kept as 'forgotten' rejects.
  WITH gone AS (
    DELETE FROM public.raw_logins r
     WHERE r.body->>'user_id' = forget_user.user_id
    RETURNING r.message_id, r.sent_at, r.receive_count
  ),
  tombstones AS (
    INSERT INTO public.rejected_logins (message_id, reason, sent_at, receive_count, key_id, body_encrypted)
    SELECT g.message_id, 'forgotten', g.sent_at, g.receive_count, v_key_id,
           loginvault.encrypt('', (SELECT loginvault.data_key_passphrase(v_key_id)))
      FROM gone g
     WHERE NOT EXISTS (SELECT FROM public.user_logins u WHERE u.message_id = g.message_id)
    ON CONFLICT (message_id) DO NOTHING
  )
  SELECT count(*) INTO v_staged FROM gone;

  -- Quarantined bodies that name the user.
  UPDATE public.rejected_logins r
     SET reason = 'forgotten', key_id = v_key_id,
         body_encrypted = loginvault.encrypt('', (SELECT loginvault.data_key_passphrase(v_key_id)))
   WHERE r.reason <> 'forgotten'
     AND loginvault.body_names_user(loginvault.decrypt(r.body_encrypted, loginvault.data_key_passphrase(r.key_id)),
                                    forget_user.user_id, v_json_id);
  GET DIAGNOSTICS v_rejects = ROW_COUNT;

  -- The logins: anonymous rows with random masks; their originals deleted.
  WITH anonymised AS (
    UPDATE public.user_logins u
       SET user_id = 'forgotten:' || v_erasure_id,
           masked_ip = CASE WHEN u.masked_ip IS NOT NULL THEN encode(loginvault.gen_random_bytes(32), 'hex') END,
           masked_device_id = CASE WHEN u.masked_device_id IS NOT NULL THEN encode(loginvault.gen_random_bytes(32), 'hex') END
     WHERE u.user_id = forget_user.user_id
    RETURNING u.login_id
  ),
  deleted AS (
    DELETE FROM loginvault.user_login_originals o USING anonymised a
     WHERE o.login_id = a.login_id
    RETURNING 1
  ),
  next_masks_deleted AS (
    -- during a mask-key rotation: their masks under the next key (82_mask_rotation.sql)
    DELETE FROM loginvault.user_login_next_masks n USING anonymised a
     WHERE n.login_id = a.login_id
  )
  SELECT (SELECT count(*) FROM anonymised), (SELECT count(*) FROM deleted) INTO v_logins, v_originals;

  INSERT INTO loginvault.erasure_audit (erasure_id, reason, logins, originals, rejects, staged)
  OVERRIDING SYSTEM VALUE
  VALUES (v_erasure_id, forget_user.reason, v_logins, v_originals, v_rejects, v_staged);
  RAISE LOG 'loginvault: % forgot a user (erasure %): % logins, % originals, % rejects, % staged',
    session_user, v_erasure_id, v_logins, v_originals, v_rejects, v_staged;

  RETURN QUERY SELECT v_erasure_id, v_logins, v_originals, v_rejects, v_staged;
END
$$;
COMMENT ON FUNCTION public.forget_user(text, text) IS
  'Erase a user: originals and quarantined bodies destroyed, logins anonymised (user id and masks replaced), staged messages removed; audited without the user id. PII admin only; idempotent.';

-- body_names_user(body, user_id, user_id as a JSON string): whether a
-- quarantined body belongs to the user. A JSON object: its "user_id" equals
-- the user id. Anything else: the body contains the user id as a JSON string.
-- The cast error of a body that is not JSON is caught (its message would
-- quote the body into the server log); generic plans for the same reason.
CREATE OR REPLACE FUNCTION loginvault.body_names_user(body text, user_id text, json_user_id text) RETURNS boolean
LANGUAGE plpgsql IMMUTABLE SET plan_cache_mode = force_generic_plan
AS $$
DECLARE
  v_body jsonb;
BEGIN
  BEGIN
    v_body := body::jsonb;
  EXCEPTION WHEN others THEN
    RETURN strpos(body, json_user_id) > 0;
  END;
  RETURN jsonb_typeof(v_body) = 'object' AND v_body->>'user_id' = user_id
      OR jsonb_typeof(v_body) <> 'object' AND strpos(body, json_user_id) > 0;
END
$$;
COMMENT ON FUNCTION loginvault.body_names_user(text, text, text) IS
  'Part of forget_user: whether a decrypted quarantined body names the user (its "user_id", or for a body that is not a JSON object, the user id as a JSON string in it).';
