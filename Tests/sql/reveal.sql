-- The one reveal path (70_reveal.sql): CALL reveal_login / reveal_rejected,
-- which commit their audit row before decrypting. Here, inside this test's
-- transaction, they must refuse before decrypting anything; their committed
-- round trip (audit surviving a rollback, the chain, both modes, the CLI) is
-- tested in Tests/LoginVaultTests/Security/PublicKeyOriginalsTests.swift. The older functions reveal_user_login /
-- reveal_rejected_login are gone (0028). What is stored round-trips exactly
-- (the owner's keys), and every audit row is chained. Rolled back.
BEGIN;
SELECT plan(11);

INSERT INTO raw_logins (message_id, body, sent_at) VALUES
  ('t60-1', '{"user_id":"u1","ip":" 2001:DB8::1 ","device_id":"123-45-6789"}', now()),
  ('t60-2', '{"user_id":"u2","ip":null,"device_id":"éé-ü"}', now()),
  ('t60-3', '[1]', now());
SELECT loginvault.process_login_batch(NULL, 1000000);

CREATE TEMP TABLE ids AS SELECT message_id, login_id FROM user_logins WHERE message_id LIKE 't60-%';
CREATE TEMP TABLE audit_before AS SELECT coalesce(max(audit_id), 0) AS last FROM loginvault.reveal_audit;
CREATE TEMP TABLE stored AS
SELECT i.message_id, j->>'ip' AS ip, j->>'device_id' AS device_id
  FROM ids i JOIN loginvault.user_login_originals o USING (login_id),
       LATERAL (SELECT loginvault.decrypt(o.originals, loginvault.originals_passphrase(o.key_id, NULL, NULL))::jsonb) d(j);

SELECT hasnt_function('public', 'reveal_user_login', ARRAY['bigint'], 'reveal_user_login is gone');
SELECT hasnt_function('public', 'reveal_rejected_login', ARRAY['text'], 'reveal_rejected_login is gone');

SELECT throws_ok(format($$CALL reveal_login(%s, 'ticket 60', NULL, NULL, NULL, NULL)$$, (SELECT login_id FROM ids WHERE message_id = 't60-1')),
                 '2D000', NULL, 'reveal_login refuses inside a transaction block (its audit row could roll back)');
SELECT throws_ok($$CALL reveal_rejected('t60-3', 'ticket 60', NULL, NULL, NULL)$$,
                 '2D000', NULL, 'reveal_rejected refuses inside a transaction block');
SELECT is((SELECT count(*)::int FROM loginvault.reveal_audit, audit_before WHERE audit_id > last), 0,
          'and those refusals leave no audit row behind, since nothing was revealed');

SELECT is((SELECT ip || '|' || device_id FROM stored WHERE message_id = 't60-1'), ' 2001:DB8::1 |123-45-6789',
          'the originals are stored exactly as received');
SELECT ok((SELECT ip IS NULL AND device_id = 'éé-ü' FROM stored WHERE message_id = 't60-2'),
          'a null ip is stored as NULL; non-ASCII device ids round-trip');
SELECT ok((SELECT o.originals::text NOT LIKE '%123-45-6789%' AND loginvault.decrypt(o.originals, loginvault.data_key_passphrase(o.key_id))::jsonb
                  = '{"ip": " 2001:DB8::1 ", "device_id": "123-45-6789"}'
             FROM loginvault.user_login_originals o JOIN user_logins u USING (login_id) WHERE u.message_id = 't60-1'),
          'the originals are one pgp message holding both values');

-- The audit rows the procedures write first (record_reveal) are chained.
SELECT loginvault.record_reveal('user_login', login_id, NULL, 'ticket 60') FROM ids WHERE message_id <> 't60-3';
SELECT loginvault.record_reveal('rejected_login', NULL, 't60-3', 'ticket 60');
SELECT is((SELECT count(*)::int FROM loginvault.reveal_audit, audit_before
            WHERE audit_id > last AND found AND revealed_by = session_user AND reason = 'ticket 60'), 3,
          'record_reveal audits who, which row (found) and why');
SELECT ok((SELECT bool_and(row_hash IS NOT NULL AND chain_seq IS NOT NULL) FROM loginvault.reveal_audit, audit_before WHERE audit_id > last),
          'every audit row is chained');
SELECT ok((SELECT ok FROM loginvault.verify_reveal_audit()), 'the chain verifies');

SELECT * FROM finish();
ROLLBACK;
