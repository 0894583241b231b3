-- Reveal: recovering the originals, for the PII admin role only, audited.
--
-- Every call writes who (session_user: the login role, even after SET ROLE),
-- when and which row to loginvault.reveal_audit, whether the row exists or
-- not. The audit row is part of the caller's transaction, so a caller who
-- rolls back would erase it: each call is therefore also written to the
-- server log (RAISE LOG, no PII, only ids), which no rollback undoes.
-- Both functions use generic plans (plan_cache_mode): a custom plan of
-- RETURN QUERY would hold the decrypted values as constants, which
-- auto_explain (log_verbose) would print. The key a row is under cannot be
-- purged while the row references it (purge_unused_data_keys, 80_rotation.sql).

-- reveal_user_login: the originals of one login, found by login_id. The row
-- counts as found when the login and its originals both exist.
CREATE OR REPLACE FUNCTION public.reveal_user_login(login_id bigint)
RETURNS TABLE (message_id text, ip text, device_id text)
LANGUAGE plpgsql VOLATILE SECURITY DEFINER SET search_path = pg_catalog, loginvault, pg_temp
SET plan_cache_mode = force_generic_plan  -- the decrypted values are $n in a plan, never constants
AS $$
DECLARE
  v_originals jsonb;
  v_message_id text;
BEGIN
  SELECT u.message_id, loginvault.decrypt(o.originals, loginvault.data_key_passphrase(o.key_id))::jsonb
    INTO v_message_id, v_originals
    FROM public.user_logins u
    JOIN loginvault.user_login_originals o ON o.login_id = u.login_id
   WHERE u.login_id = reveal_user_login.login_id;

  INSERT INTO loginvault.reveal_audit (what, login_id, found)
  VALUES ('user_login', reveal_user_login.login_id, FOUND);
  -- (current_user is this function's owner here; session_user is who logged in)
  RAISE LOG 'loginvault: % revealed user_login %', session_user, reveal_user_login.login_id;

  IF v_message_id IS NOT NULL THEN
    RETURN QUERY SELECT v_message_id,
                        v_originals->>'ip', v_originals->>'device_id';
  END IF;
END
$$;
COMMENT ON FUNCTION public.reveal_user_login(bigint) IS
  'The original ip and device_id of one user_logins row. PII admin only; every call is audited.';

-- The quarantined body of one rejected message, for debugging a reject.
CREATE OR REPLACE FUNCTION public.reveal_rejected_login(message_id text)
RETURNS TABLE (reason text, body text)
LANGUAGE plpgsql VOLATILE SECURITY DEFINER SET search_path = pg_catalog, loginvault, pg_temp
SET plan_cache_mode = force_generic_plan  -- the decrypted values are $n in a plan, never constants
AS $$
DECLARE
  v_reason text;
  v_body   text;
BEGIN
  SELECT r.reason, loginvault.decrypt(r.body_encrypted, loginvault.data_key_passphrase(r.key_id))
    INTO v_reason, v_body
    FROM public.rejected_logins r
   WHERE r.message_id = reveal_rejected_login.message_id;

  INSERT INTO loginvault.reveal_audit (what, message_id, found)
  VALUES ('rejected_login', reveal_rejected_login.message_id, FOUND);
  RAISE LOG 'loginvault: % revealed rejected_login %', session_user, quote_literal(reveal_rejected_login.message_id);

  IF v_reason IS NOT NULL THEN
    RETURN QUERY SELECT v_reason, v_body;
  END IF;
END
$$;
COMMENT ON FUNCTION public.reveal_rejected_login(text) IS
  'The decrypted body of one quarantined message. PII admin only; every call is audited.';
