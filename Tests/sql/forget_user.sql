-- forget_user: a user's originals become unrecoverable, their masks
-- unlinkable, their staged and quarantined messages erased, the erasure
-- audited without the user id; idempotent; PII admin only. Rolled back.
BEGIN;
SELECT plan(23);

-- fg-u1 is forgotten; fg-u2 shares an ip and a device id with one of fg-u1's logins.
INSERT INTO raw_logins (message_id, body, sent_at) VALUES
  ('fg-1', '{"user_id":"fg-u1","ip":"192.0.2.10","device_id":"fg-dev-shared"}', now()),
  ('fg-2', '{"user_id":"fg-u1","ip":"192.0.2.211","device_id":"fg-dev-only-u1"}', now()),
  ('fg-3', '{"user_id":"fg-u2","ip":"192.0.2.10","device_id":"fg-dev-shared"}', now()),
  ('fg-4', '{"user_id":"fg-u1","ip":"not-an-ip","device_id":"fg-dev-in-reject"}', now()),
  ('fg-5', '{"user_id":"fg-u2","ip":"also-not-an-ip"}', now());
SELECT loginvault.process_login_batch(NULL, 1000000);
-- a reject that is not JSON, naming the user; and one staged message of the user, not processed yet
SELECT quarantine_raw_login('fg-6', '{"user_id": "fg-u1", "ip": "192.0.2.212", broken', 'too_many_receives');
INSERT INTO raw_logins (message_id, body, sent_at) VALUES
  ('fg-7', '{"user_id":"fg-u1","ip":"192.0.2.213","device_id":"fg-dev-staged"}', now());

CREATE TEMP TABLE u1_logins AS SELECT login_id, masked_ip, masked_device_id FROM user_logins WHERE user_id = 'fg-u1';
CREATE TEMP TABLE u2_before AS SELECT login_id, masked_ip, masked_device_id FROM user_logins WHERE user_id = 'fg-u2';
-- every decrypted original and quarantined body of the database, as text
CREATE FUNCTION pg_temp.all_plaintext() RETURNS SETOF text LANGUAGE sql AS $$
  SELECT loginvault.decrypt(o.originals, loginvault.data_key_passphrase(o.key_id)) FROM loginvault.user_login_originals o
  UNION ALL
  SELECT loginvault.decrypt(r.body_encrypted, loginvault.data_key_passphrase(r.key_id)) FROM rejected_logins r
  UNION ALL
  SELECT body::text FROM raw_logins
$$;
CREATE TEMP TABLE u1_values (v text);
INSERT INTO u1_values VALUES ('192.0.2.211'), ('fg-dev-only-u1'), ('fg-dev-in-reject'), ('192.0.2.212'), ('192.0.2.213'), ('fg-dev-staged'), ('fg-u1');
SELECT is((SELECT count(*)::int FROM u1_values v WHERE EXISTS (SELECT FROM pg_temp.all_plaintext() p WHERE strpos(p, v.v) > 0)), 7,
          'control: before the erasure, each of the user''s 7 values is recoverable from the database');

CREATE TEMP TABLE result1 AS SELECT 0::bigint erasure_id, 0 logins, 0 originals, 0 rejects, 0 staged LIMIT 0;
GRANT INSERT ON result1 TO loginvault_pii_admin;
SET LOCAL ROLE loginvault_pii_admin;
INSERT INTO result1 SELECT * FROM forget_user('fg-u1', 'erasure request PRIV-1');
RESET ROLE;

SELECT is((SELECT (logins, originals, rejects, staged)::text FROM result1), '(2,2,2,1)',
          'forget_user reports 2 logins, 2 originals, 2 quarantined bodies (one JSON, one not) and 1 staged message erased');
SELECT is((SELECT count(*)::int FROM u1_values v WHERE EXISTS (SELECT FROM pg_temp.all_plaintext() p WHERE strpos(p, v.v) > 0)), 0,
          'originals unrecoverable: no ciphertext left in any table decrypts to one of the user''s values, and raw_logins holds none');
SELECT is((SELECT count(*)::int FROM loginvault.user_login_originals WHERE login_id IN (SELECT login_id FROM u1_logins)), 0,
          'the user''s encrypted originals are deleted');
SELECT is((SELECT count(*)::int FROM user_logins WHERE user_id = 'fg-u1'), 0, 'no login carries the user id any more');
SELECT is((SELECT array_agg(DISTINCT user_id) FROM user_logins WHERE login_id IN (SELECT login_id FROM u1_logins)),
          ARRAY['forgotten:' || (SELECT erasure_id FROM result1)]::varchar[],
          'the rows stay, under user id forgotten:<erasure_id>');
SELECT is((SELECT count(*)::int FROM user_logins u JOIN u1_logins f USING (login_id)
            WHERE u.masked_ip = f.masked_ip OR u.masked_device_id = f.masked_device_id), 0,
          'each mask of the user''s rows was replaced');
SELECT is((SELECT count(*)::int FROM user_logins a JOIN user_logins b ON a.login_id <> b.login_id
            AND (a.masked_ip = b.masked_ip OR a.masked_device_id = b.masked_device_id
                 OR a.masked_ip = b.masked_device_id)
            WHERE a.login_id IN (SELECT login_id FROM u1_logins)), 0,
          'masks unlinkable: no mask of an erased row equals a mask of any other row (the other user with the same ip and device id included)');
SELECT set_eq('SELECT login_id, masked_ip, masked_device_id FROM user_logins WHERE user_id = ''fg-u2''',
              'SELECT * FROM u2_before', 'the other user''s rows are untouched');
SELECT is((SELECT string_agg(message_id || ':' || reason, ',' ORDER BY message_id) FROM rejected_logins WHERE message_id LIKE 'fg-%'),
          'fg-4:forgotten,fg-5:invalid_ip,fg-6:forgotten,fg-7:forgotten',
          'the user''s rejects and staged message are ''forgotten'' rejects; the other user''s reject keeps its reason');
SELECT is((SELECT count(*)::int FROM raw_logins WHERE message_id LIKE 'fg-%'), 0, 'nothing of the user is left staged');

-- Later: the user logs in again from the shared ip and device; fg-1 and fg-7 are redelivered.
INSERT INTO raw_logins (message_id, body, sent_at) VALUES
  ('fg-8', '{"user_id":"fg-u1","ip":"192.0.2.10","device_id":"fg-dev-shared"}', now()),
  ('fg-1', '{"user_id":"fg-u1","ip":"192.0.2.10","device_id":"fg-dev-shared"}', now()),
  ('fg-7', '{"user_id":"fg-u1","ip":"192.0.2.213","device_id":"fg-dev-staged"}', now());
SELECT is((SELECT (staged, upserted, rejected, unchanged)::text FROM loginvault.process_login_batch(NULL, 1000000)), '(3,1,0,2)',
          'a later login is processed; redeliveries of the erased messages are duplicates (unchanged), not new logins');
SELECT is((SELECT u.masked_ip = o.masked_ip AND u.masked_device_id = o.masked_device_id
             FROM user_logins u, user_logins o WHERE u.message_id = 'fg-8' AND o.message_id = 'fg-3'), true,
          'control: the later login has the normal masks (equal to the other user''s for the same ip and device id)');
SELECT is((SELECT count(*)::int FROM user_logins u JOIN user_logins f ON f.login_id IN (SELECT login_id FROM u1_logins)
            WHERE u.message_id = 'fg-8' AND (u.masked_ip = f.masked_ip OR u.masked_device_id = f.masked_device_id)), 0,
          'masks unlinkable: the later login of the same ip and device id equals no erased row');
SELECT is((SELECT user_id::text FROM user_logins WHERE message_id = 'fg-1'), 'forgotten:' || (SELECT erasure_id FROM result1),
          'the redelivered message did not bring the erased login back');

-- Idempotent.
CREATE TEMP TABLE state_before AS
  SELECT login_id, user_id, masked_ip, masked_device_id FROM user_logins WHERE message_id LIKE 'fg-%' AND message_id <> 'fg-8';
CREATE TEMP TABLE rejects_before AS SELECT message_id, reason, body_encrypted FROM rejected_logins WHERE message_id LIKE 'fg-%';
DELETE FROM user_logins WHERE message_id = 'fg-8';  -- the later login is another matter
CREATE TEMP TABLE result2 AS SELECT * FROM result1 LIMIT 0;
GRANT INSERT ON result2 TO loginvault_pii_admin;
SET LOCAL ROLE loginvault_pii_admin;
INSERT INTO result2 SELECT * FROM forget_user('fg-u1', 'erasure request PRIV-1, again');
RESET ROLE;
SELECT is((SELECT (logins, originals, rejects, staged)::text FROM result2), '(0,0,0,0)', 'idempotent: a second call erases nothing more');
SELECT set_eq('SELECT login_id, user_id, masked_ip, masked_device_id FROM user_logins WHERE message_id LIKE ''fg-%''',
              'SELECT * FROM state_before', 'idempotent: the logins are as the first call left them');
SELECT set_eq('SELECT message_id, reason, body_encrypted FROM rejected_logins WHERE message_id LIKE ''fg-%''',
              'SELECT * FROM rejects_before', 'idempotent: the rejects are as the first call left them');

-- The audit.
SELECT is((SELECT count(*)::int FROM loginvault.erasure_audit a
            WHERE a.erasure_id IN (SELECT erasure_id FROM result1 UNION SELECT erasure_id FROM result2)
              AND a.erased_by = session_user AND a.erased_at IS NOT NULL AND a.reason LIKE 'erasure request PRIV-1%'), 2,
          'each call is audited: who (the login role), when, why');
SELECT is((SELECT count(*)::int FROM loginvault.erasure_audit a WHERE a::text LIKE '%fg-u1%'), 0,
          'the audit holds no user id');

-- Refusals.
CREATE FUNCTION pg_temp.sqlstate_as(role_name name, stmt text) RETURNS text LANGUAGE plpgsql AS $$
BEGIN
  EXECUTE format('SET LOCAL ROLE %I', role_name);
  EXECUTE stmt;
  RESET ROLE;
  RETURN 'ok';
EXCEPTION WHEN OTHERS THEN
  RESET ROLE;
  RETURN SQLSTATE || ' ' || SQLERRM;
END $$;
SELECT is(left(pg_temp.sqlstate_as(r, 'SELECT * FROM forget_user(''fg-u2'', ''because'')'), 5), '42501',
          'refused for ' || r) FROM unnest(ARRAY['loginvault_analyst', 'loginvault_loader']::name[]) r;
SELECT is(pg_temp.sqlstate_as('loginvault_pii_admin', 'SELECT * FROM forget_user(''fg-u2'', ''request of fg-u2'')'),
          'P0001 forget_user: the reason must not contain the user id', 'a reason that names the user is refused');

SELECT * FROM finish();
ROLLBACK;
