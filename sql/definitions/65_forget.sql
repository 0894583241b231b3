-- Erasure: forget_user(user_id, reason), for the PII admin role only, audited.
--
--   SELECT * FROM forget_user('u-1234', 'erasure request, ticket PRIV-77');
--   -> erasure_id, logins, originals, rejects, staged
--
-- What it does, in one transaction, in either originals mode (symmetric or
-- public-key: it decrypts nothing and needs no key; docs/security.md,
-- "Erasure", says what stays in WAL, replicas and backups):
--   * logins: every user_logins row with this user_id (found by the index
--     user_logins_user_id) keeps its row (so a redelivery of its SQS message
--     stays a duplicate and is not turned into a login again), but its
--     user_id becomes 'forgotten:<erasure_id>' and each mask it had becomes
--     32 random bytes in hex (NULL stays NULL): the row no longer equals any
--     other row, nor a later login of the same ip or device id. device_type,
--     locale, app_version and create_date stay (no PII; the counts analysts
--     compute stay right).
--   * originals: the encrypted originals of those logins are deleted (and,
--     during a mask-key rotation, their masks under the next key, so that
--     the switch does not bring linkable masks back).
--   * quarantine: every rejected_logins row whose user_tag is the user's
--     (30_quarantine.sql: the tag of the user id its body names, computed when
--     it was quarantined; found by the index rejected_logins_user_tag) gets
--     reason 'forgotten', and its body, key and tag are set to NULL: no
--     ciphertext is left. The row stays, for the same reason as a login's.
--     A body that names no user id ("user_id" absent, or not found in a body
--     that is not JSON) has no tag, and is not found.
--   * staging: every raw_logins row of the user (body->>'user_id', or its SNS
--     envelope's Message's; a scan of raw_logins, which processing keeps
--     short) is deleted and its message id becomes a 'forgotten' reject (no
--     body), unless it already is a login or a reject. Why not delete it
--     only: the message id would then be unknown, and a redelivery of the
--     same SQS message (at-least-once delivery) would be staged and processed
--     into a normal login. Why not process it first: processing needs the
--     mask key, which the PII admin may not have (it may be held outside the
--     database, 15_mask_keys.sql). Every message still ends in exactly one of
--     user_logins and rejected_logins; the run log does not count these (the
--     erasure audit does).
--   * wrapped keys (public-key mode): a batch key that no row uses any more
--     after this (typically the own key of a message quarantined at staging)
--     is deleted too.
--   * audit: one loginvault.erasure_audit row (who, when, the reason, the
--     four counts) and a RAISE LOG line, which no rollback removes. Neither
--     holds the user id: the erasure_id returned is what links the request
--     to its erasure (record it in the ticket). The reason may not contain
--     the user id.
-- The user id is matched exactly as stored (as sent, case and spaces
-- included). Idempotent: a second call for the same user finds nothing left
-- (its rows no longer carry the user id or its tag) and audits an erasure of
-- 0 rows.
--
-- Concurrency: it first takes the advisory lock that every processing batch
-- holds shared (30_quarantine.sql), so it waits for the batches in flight
-- and none starts until it commits; in read committed every later statement
-- of it then sees their rows. A message of the user staged after it commits
-- is a later login (processed normally). Cost: index probes on user_logins,
-- user_login_originals and rejected_logins, and one scan of raw_logins.
-- Generic plans: a custom plan would print the user id as a constant in an
-- auto_explain plan.
CREATE OR REPLACE FUNCTION public.forget_user(user_id text, reason text)
RETURNS TABLE (erasure_id bigint, logins integer, originals integer, rejects integer, staged integer)
LANGUAGE plpgsql VOLATILE SECURITY DEFINER SET search_path = pg_catalog, loginvault, pg_temp
SET plan_cache_mode = force_generic_plan
AS $$
DECLARE
  v_erasure_id bigint;
  v_key_ids    integer[];
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

  -- Staged messages of the user: deleted, their ids kept as 'forgotten' rejects (no body).
  WITH gone AS (
    DELETE FROM public.raw_logins r
     WHERE r.body->>'user_id' = forget_user.user_id
        OR loginvault.is_sns_envelope(r.body) AND loginvault.sns_message(r.body)->>'user_id' = forget_user.user_id
    RETURNING r.message_id, r.sent_at, r.receive_count
  ),
  tombstones AS (
    INSERT INTO public.rejected_logins (message_id, reason, sent_at, receive_count)
    SELECT g.message_id, 'forgotten', g.sent_at, g.receive_count
      FROM gone g
     WHERE NOT EXISTS (SELECT FROM public.user_logins u WHERE u.message_id = g.message_id)
    ON CONFLICT (message_id) DO NOTHING
  )
  SELECT count(*) INTO v_staged FROM gone;

  -- Quarantined bodies of the user, by their tag: no body, key or tag left.
  WITH erased AS (
    UPDATE public.rejected_logins r
       SET reason = 'forgotten', key_id = NULL, body_encrypted = NULL, user_tag = NULL
      FROM public.rejected_logins old
     WHERE r.user_tag = loginvault.user_tag(forget_user.user_id)
       AND old.reject_id = r.reject_id
    RETURNING old.key_id
  )
  SELECT count(*), array_agg(DISTINCT e.key_id) INTO v_rejects, v_key_ids FROM erased e;

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
    RETURNING o.key_id
  ),
  next_masks_deleted AS (
    -- during a mask-key rotation: their masks under the next key (82_mask_rotation.sql)
    DELETE FROM loginvault.user_login_next_masks n USING anonymised a
     WHERE n.login_id = a.login_id
  )
  SELECT (SELECT count(*) FROM anonymised), (SELECT count(*) FROM deleted),
         v_key_ids || (SELECT array_agg(DISTINCT d.key_id) FROM deleted d)
    INTO v_logins, v_originals, v_key_ids;

  -- Public-key mode: the batch keys no row uses any more (the guard of
  -- 15_public_key.sql checks again).
  DELETE FROM loginvault.wrapped_keys w
   WHERE w.key_id = ANY (v_key_ids)
     AND NOT EXISTS (SELECT FROM loginvault.user_login_originals o WHERE o.key_id = w.key_id)
     AND NOT EXISTS (SELECT FROM public.rejected_logins r WHERE r.key_id = w.key_id);

  INSERT INTO loginvault.erasure_audit (erasure_id, reason, logins, originals, rejects, staged)
  OVERRIDING SYSTEM VALUE
  VALUES (v_erasure_id, forget_user.reason, v_logins, v_originals, v_rejects, v_staged);
  RAISE LOG 'loginvault: % forgot a user (erasure %): % logins, % originals, % rejects, % staged',
    session_user, v_erasure_id, v_logins, v_originals, v_rejects, v_staged;

  RETURN QUERY SELECT v_erasure_id, v_logins, v_originals, v_rejects, v_staged;
END
$$;
COMMENT ON FUNCTION public.forget_user(text, text) IS
  'Erase a user: originals and quarantined bodies destroyed (either originals mode; rejects found by user_tag), logins anonymised (user id and masks replaced), staged messages removed; audited without the user id. PII admin only; idempotent.';
