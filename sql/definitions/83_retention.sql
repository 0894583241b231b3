-- Retention: rows older than their configured age are removed in batches,
-- cheaply, by the owner (cron or pg_cron, like process_raw_logins).
--
--   UPDATE loginvault.retention SET keep_for = interval '400 days' WHERE what = 'user_logins';
--   CALL loginvault.apply_retention();            -- outside a transaction block; COMMITs
--   SELECT loginvault.schedule_retention();       -- with pg_cron: daily at 03:17 (85_scheduling.sql)
--
-- loginvault.retention (sql/migrations/0023) holds the ages; keep_for NULL (the
-- default) keeps that kind of row for ever. What goes, and how:
--   user_logins      create_date (a UTC date) before the UTC date keep_for ago;
--                    by the index user_logins_create_date. Their encrypted
--                    originals go with them (the statement trigger of
--                    60_originals.sql, in the same batch).
--   rejected_logins  rejected_at older than keep_for; by rejected_logins_rejected_at.
--   reveal_audit, requeue_audit, process_runs
--                    oldest first only, by their identity column (audit_id,
--                    run_id): a batch deletes a prefix of the ids, up to (not
--                    including) the first row that is younger than keep_for, and
--                    never the newest row. A log that may be chained row to row
--                    (each row hashing its predecessor) stays a chain: only its
--                    head goes, and its tip stays. A process run not yet
--                    finished (finished_at NULL) ends the prefix too.
-- Each batch is one DELETE of at most batch_size rows in its own transaction
-- (COMMIT between): locks are short, and the loader and process_raw_logins go
-- on meanwhile (they write new rows; nothing here touches those). Why batched
-- deletes and not monthly partitions: docs/database.md, "Retention", with the
-- measurements in docs/benchmarks.md.
--
-- Owner only (no grants): the procedure COMMITs, so it cannot be SECURITY
-- DEFINER, and deleting audit rows is the owner's decision.

-- Where the prefix of an oldest-first log ends: the smallest id that must stay
-- (the first row at or after cutoff, the first unfinished run, else the newest
-- row). Rows with a smaller id go. NULL for an empty table.
CREATE OR REPLACE FUNCTION loginvault.retention_prefix_end(what text, cutoff timestamptz) RETURNS bigint
LANGUAGE plpgsql STABLE SET search_path = pg_catalog, pg_temp
AS $$
BEGIN
  CASE what
  WHEN 'reveal_audit' THEN
    RETURN (SELECT coalesce(min(a.audit_id) FILTER (WHERE a.revealed_at >= cutoff), max(a.audit_id)) FROM loginvault.reveal_audit a);
  WHEN 'requeue_audit' THEN
    RETURN (SELECT coalesce(min(a.audit_id) FILTER (WHERE a.requeued_at >= cutoff), max(a.audit_id)) FROM loginvault.requeue_audit a);
  WHEN 'process_runs' THEN
    RETURN (SELECT coalesce(min(r.run_id) FILTER (WHERE r.started_at >= cutoff OR r.finished_at IS NULL), max(r.run_id))
              FROM loginvault.process_runs r);
  ELSE
    RAISE EXCEPTION 'retention_prefix_end: % is not an oldest-first log', quote_nullable(what);
  END CASE;
END
$$;
COMMENT ON FUNCTION loginvault.retention_prefix_end(text, timestamptz) IS
  'Part of apply_retention: the first id of reveal_audit, requeue_audit or process_runs that stays (rows before it are older than cutoff); never past the newest row.';

-- One batch: deletes at most batch_size rows of `what` that retention removes
-- (older than cutoff; for the logs, ids below prefix_end) and returns how many.
CREATE OR REPLACE FUNCTION loginvault.retention_batch(what text, cutoff timestamptz, prefix_end bigint, batch_size integer)
RETURNS integer
LANGUAGE plpgsql VOLATILE SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
  deleted integer;
BEGIN
  CASE what
  WHEN 'user_logins' THEN
    DELETE FROM public.user_logins u
     WHERE u.login_id IN (SELECT o.login_id FROM public.user_logins o
                           WHERE o.create_date < (cutoff AT TIME ZONE 'UTC')::date
                           ORDER BY o.create_date LIMIT batch_size);
  WHEN 'rejected_logins' THEN
    DELETE FROM public.rejected_logins r
     WHERE r.reject_id IN (SELECT o.reject_id FROM public.rejected_logins o
                            WHERE o.rejected_at < cutoff ORDER BY o.rejected_at LIMIT batch_size);
  WHEN 'reveal_audit', 'requeue_audit', 'process_runs' THEN
    -- The logs: a prefix of their identity column (the names come from this CASE, not the caller).
    EXECUTE format('DELETE FROM loginvault.%1$I t WHERE t.%2$I IN '
                   '(SELECT o.%2$I FROM loginvault.%1$I o WHERE o.%2$I < $1 ORDER BY o.%2$I LIMIT $2)',
                   what, CASE what WHEN 'process_runs' THEN 'run_id' ELSE 'audit_id' END)
      USING prefix_end, batch_size;
  ELSE
    RAISE EXCEPTION 'retention_batch: unknown kind of row %', quote_nullable(what);
  END CASE;
  GET DIAGNOSTICS deleted = ROW_COUNT;
  RETURN deleted;
END
$$;
COMMENT ON FUNCTION loginvault.retention_batch(text, timestamptz, bigint, integer) IS
  'Part of apply_retention: deletes one batch (at most batch_size rows) of user_logins, rejected_logins, reveal_audit, requeue_audit or process_runs that are past retention; returns the count.';

-- The procedure: every kind of row with a keep_for, batch by batch, COMMIT
-- between batches. The cutoffs are fixed when it starts. Call it outside a
-- transaction block. A NOTICE per kind says what went.
-- (No SET search_path: a procedure with a SET clause may not COMMIT. It names
-- every object with its schema, as process_raw_logins does.)
CREATE OR REPLACE PROCEDURE loginvault.apply_retention(batch_size integer DEFAULT 10000)
LANGUAGE plpgsql
AS $$
DECLARE
  v_started  timestamptz := pg_catalog.clock_timestamp();
  v_kinds    text[];
  v_ages     interval[];
  v_cutoff   timestamptz;
  v_end      bigint;
  v_deleted  integer;
  v_total    bigint;
  v_batches  integer;
BEGIN
  IF batch_size IS NULL OR batch_size < 1 THEN
    RAISE EXCEPTION 'apply_retention: batch_size must be a positive integer, got %', batch_size;
  END IF;
  SELECT pg_catalog.array_agg(r.what ORDER BY r.what), pg_catalog.array_agg(r.keep_for ORDER BY r.what)
    INTO v_kinds, v_ages
    FROM loginvault.retention r WHERE r.keep_for IS NOT NULL;
  FOR i IN 1 .. coalesce(pg_catalog.cardinality(v_kinds), 0) LOOP
    v_cutoff := v_started - v_ages[i];
    v_end := CASE WHEN v_kinds[i] IN ('reveal_audit', 'requeue_audit', 'process_runs')
                  THEN loginvault.retention_prefix_end(v_kinds[i], v_cutoff) END;
    v_total := 0;
    v_batches := 0;
    LOOP
      v_deleted := loginvault.retention_batch(v_kinds[i], v_cutoff, v_end, batch_size);
      COMMIT;
      v_total := v_total + v_deleted;
      v_batches := v_batches + CASE WHEN v_deleted > 0 THEN 1 ELSE 0 END;
      EXIT WHEN v_deleted < batch_size;
    END LOOP;
    RAISE NOTICE 'apply_retention: % rows of % older than % removed in % batches', v_total, v_kinds[i], v_ages[i], v_batches;
  END LOOP;
END
$$;
COMMENT ON PROCEDURE loginvault.apply_retention(integer) IS
  'Remove rows past the ages in loginvault.retention (user_logins with their originals, rejected_logins, reveal_audit and requeue_audit oldest-first, process_runs), batch by batch, COMMIT between. Owner only; call outside a transaction block.';
