-- Requeue: getting logins back out of the quarantine, for the PII admin role
-- only, audited, all or nothing.
--
-- CALL requeue_rejected(reason => 'too_many_receives') takes the quarantined
-- messages of one reason (optionally only the given message ids, and at most
-- max_messages of them), decrypts each body here (the keys never leave the
-- database, and no body is ever a parameter or a constant of a logged
-- statement), and puts it back through validation:
--
--   * a body that parses as JSON goes back into raw_logins, its reject row is
--     deleted, and the same transaction runs the processing batches
--     (loginvault.process_login_batch, as process_raw_logins does): it
--     becomes a login, or is rejected again with the reason that applies now;
--   * a body that is not JSON (or was altered to be stored: nul_byte,
--     invalid_utf8) stays in the quarantine with its reason ('kept').
--
-- One transaction: if anything fails midway, nothing moved. The chosen reject
-- rows are locked FOR UPDATE SKIP LOCKED, so two requeues at once never take
-- the same message: each is requeued once. Since the reject row is deleted
-- before the batch runs, the batch's poison probe (a valid message whose id
-- is quarantined as too_many_receives is skipped, 30_quarantine.sql) does not
-- see it. A message staged again by a loader meanwhile is processed once: the
-- staging row is keyed by message id (ON CONFLICT DO NOTHING).
--
-- The batches also process whatever else is pending in raw_logins (it would
-- be processed by the next process_raw_logins anyway).
--
-- Every message taken is written to loginvault.requeue_audit (who, when,
-- which id, the reason it had, the outcome, its reason now; no PII), and the
-- call to the server log (RAISE LOG, counts only), which no rollback undoes.
CREATE OR REPLACE PROCEDURE public.requeue_rejected(
  reason       text,
  message_ids  text[]  DEFAULT NULL,
  max_messages integer DEFAULT NULL,
  INOUT requeue_id bigint  DEFAULT NULL,
  INOUT selected   integer DEFAULT NULL,
  INOUT logins     integer DEFAULT NULL,
  INOUT rejected   integer DEFAULT NULL,
  INOUT kept       integer DEFAULT NULL
)
LANGUAGE plpgsql SECURITY DEFINER SET search_path = pg_catalog, loginvault, pg_temp
AS $$
DECLARE
  v_reject record;
  v_body   jsonb;
  v_staged text[] := '{}';
  v_kept   text[] := '{}';
  v_run_id bigint;
  v_batch  record;
BEGIN
  IF requeue_rejected.reason IS NULL THEN
    RAISE EXCEPTION 'requeue_rejected: reason is required'
      USING HINT = 'Name a reason code, e.g. CALL requeue_rejected(reason => ''too_many_receives''); SELECT reason, count(*) FROM rejected_logins GROUP BY 1 lists them.';
  END IF;
  IF EXISTS (SELECT FROM loginvault.wrapped_keys w JOIN public.rejected_logins r ON r.key_id = w.key_id
              WHERE r.reason = requeue_rejected.reason) THEN
    RAISE EXCEPTION 'requeue_rejected: these bodies are encrypted to a PGP public key (public-key mode); the database cannot decrypt them'
      USING HINT = 'Reveal them with loginvault reveal --message-id and the private key, and send them again.';
  END IF;
  IF max_messages IS NOT NULL AND max_messages < 1 THEN
    RAISE EXCEPTION 'requeue_rejected: max_messages must be a positive integer, got %', max_messages;
  END IF;
  requeue_id := nextval('loginvault.requeue_id_seq');

  FOR v_reject IN
    SELECT r.reject_id, r.message_id, r.reason, r.sent_at, r.receive_count, r.key_id, r.body_encrypted
      FROM public.rejected_logins r
     WHERE r.reason = requeue_rejected.reason
       AND (requeue_rejected.message_ids IS NULL OR r.message_id = ANY (requeue_rejected.message_ids))
     ORDER BY r.reject_id
     LIMIT requeue_rejected.max_messages
       FOR UPDATE SKIP LOCKED
  LOOP
    v_body := NULL;
    -- nul_byte and invalid_utf8 were stored altered: not the message as sent.
    IF v_reject.reason NOT IN ('nul_byte', 'invalid_utf8') THEN
      BEGIN
        v_body := loginvault.decrypt(v_reject.body_encrypted, loginvault.data_key_passphrase(v_reject.key_id))::jsonb;
      EXCEPTION WHEN data_exception OR program_limit_exceeded THEN
        v_body := NULL;  -- not JSON (or not storable as jsonb): stays rejected
      END;
    END IF;
    IF v_body IS NULL THEN
      v_kept := v_kept || v_reject.message_id;
      CONTINUE;
    END IF;
    DELETE FROM public.rejected_logins r WHERE r.reject_id = v_reject.reject_id;
    INSERT INTO public.raw_logins (message_id, body, sent_at, receive_count)
    VALUES (v_reject.message_id, v_body, v_reject.sent_at, v_reject.receive_count)
    ON CONFLICT (message_id) DO NOTHING;
    v_staged := v_staged || v_reject.message_id;
  END LOOP;

  IF cardinality(v_staged) > 0 THEN
    v_run_id := loginvault.begin_process_run(10000);
    LOOP
      v_batch := loginvault.process_login_batch(v_run_id, 10000);
      EXIT WHEN v_batch.staged = 0;
    END LOOP;
    PERFORM loginvault.end_process_run(v_run_id);
  END IF;

  INSERT INTO loginvault.requeue_audit (requeue_id, message_id, from_reason, outcome, new_reason)
  SELECT requeue_rejected.requeue_id, m.id, requeue_rejected.reason,
         CASE WHEN u.message_id IS NOT NULL THEN 'login' WHEN m.staged THEN 'rejected' ELSE 'kept' END,
         q.reason
    FROM (SELECT s.id, true AS staged FROM unnest(v_staged) s(id)
          UNION ALL
          SELECT k.id, false FROM unnest(v_kept) k(id)) m
    LEFT JOIN public.user_logins u ON u.message_id = m.id
    LEFT JOIN public.rejected_logins q ON q.message_id = m.id;

  SELECT count(*), count(*) FILTER (WHERE a.outcome = 'login'), count(*) FILTER (WHERE a.outcome = 'rejected'),
         count(*) FILTER (WHERE a.outcome = 'kept')
    INTO selected, logins, rejected, kept
    FROM loginvault.requeue_audit a WHERE a.requeue_id = requeue_rejected.requeue_id;

  -- (current_user is this procedure's owner here; session_user is who logged in)
  RAISE LOG 'loginvault: % requeued % rejected_logins of reason % (requeue %): % logins, % rejected again, % kept',
    session_user, selected, quote_literal(requeue_rejected.reason), requeue_id, logins, rejected, kept;
  RAISE NOTICE 'requeue_rejected: % taken, % became logins, % rejected again, % kept in the quarantine (requeue %)',
    selected, logins, rejected, kept, requeue_id;
END
$$;
COMMENT ON PROCEDURE public.requeue_rejected(text, text[], integer, bigint, integer, integer, integer, integer) IS
  'Put quarantined messages of one reason (optionally only these ids, at most max_messages) through validation again, in one transaction: each becomes a login, is rejected again, or is kept. PII admin only; audited in loginvault.requeue_audit.';
