-- forget_user finds a user's logins, originals and rejects by index, not by
-- scanning the tables (which grow to millions of rows), and decrypts nothing:
-- counted with pg_stat_xact_user_tables (this transaction's scans) around
-- one call, on 20,000 logins and 2,000 rejects of 20,000 users, analysed.
-- (raw_logins, which processing keeps short, is scanned: 65_forget.sql.)
-- Rolled back.
BEGIN;
SELECT plan(6);

INSERT INTO raw_logins (message_id, body, sent_at)
SELECT 'ix-' || i,
       jsonb_build_object('user_id', 'ix-u' || i,
                          'ip', CASE WHEN i % 10 = 0 THEN 'bad-ip-' || i ELSE '198.51.' || (i / 250) || '.' || (i % 250) END,
                          'device_id', 'ix-dev-' || i),
       now()
  FROM generate_series(1, 22000) i;
SELECT is((SELECT (upserted, rejected)::text FROM loginvault.process_login_batch(NULL, 1000000)), '(19800,2200)',
          'setup: 19,800 logins and 2,200 rejects of 22,000 users');
ANALYZE user_logins, loginvault.user_login_originals, rejected_logins;

CREATE TEMP TABLE scans_before AS
  SELECT relname, seq_scan, coalesce(idx_scan, 0) AS idx_scan FROM pg_stat_xact_user_tables
   WHERE relid IN ('public.user_logins'::regclass, 'loginvault.user_login_originals'::regclass, 'public.rejected_logins'::regclass);
-- ix-u7 has a login, ix-u10 a reject
CREATE TEMP TABLE result AS SELECT * FROM forget_user('ix-u7', 'erasure request IX-1') UNION ALL SELECT * FROM forget_user('ix-u10', 'erasure request IX-2');
CREATE TEMP TABLE scans_after AS
  SELECT relname, seq_scan, coalesce(idx_scan, 0) AS idx_scan FROM pg_stat_xact_user_tables
   WHERE relid IN ('public.user_logins'::regclass, 'loginvault.user_login_originals'::regclass, 'public.rejected_logins'::regclass);

SELECT is((SELECT string_agg((logins, originals, rejects)::text, ' ' ORDER BY erasure_id) FROM result), '(1,1,0) (0,0,1)',
          'control: the two calls found the login, its original and the reject');
SELECT is((SELECT a.seq_scan - b.seq_scan FROM scans_after a JOIN scans_before b USING (relname) WHERE relname = 'user_logins'), 0::bigint,
          'no scan of user_logins (index user_logins_user_id)');
SELECT is((SELECT a.seq_scan - b.seq_scan FROM scans_after a JOIN scans_before b USING (relname) WHERE relname = 'user_login_originals'), 0::bigint,
          'no scan of user_login_originals (its key)');
SELECT is((SELECT a.seq_scan - b.seq_scan FROM scans_after a JOIN scans_before b USING (relname) WHERE relname = 'rejected_logins'), 0::bigint,
          'no scan of rejected_logins (index rejected_logins_user_tag)');
SELECT ok((SELECT bool_and(a.idx_scan > b.idx_scan) FROM scans_after a JOIN scans_before b USING (relname)),
          'control: each of the three was read by index');

SELECT * FROM finish();
ROLLBACK;
