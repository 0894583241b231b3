-- reveal_user_login round-trips the originals and every call is audited
-- (the owner's function; PII admins use CALL reveal_login, tested in
-- Tests/LoginVaultTests/Security/PublicKeyOriginalsTests.swift, which commits).
-- Every audit row is chained (chain_seq, prev_hash, row_hash). Rolled back.
BEGIN;
SELECT plan(11);

INSERT INTO raw_logins (message_id, body, sent_at) VALUES
  ('t60-1', '{"user_id":"u1","ip":" 2001:DB8::1 ","device_id":"123-45-6789"}', now()),
  ('t60-2', '{"user_id":"u2","ip":null,"device_id":"éé-ü"}', now()),
  ('t60-3', '[1]', now());
SELECT loginvault.process_login_batch(NULL, 1000000);

CREATE TEMP TABLE ids AS SELECT message_id, login_id FROM user_logins WHERE message_id LIKE 't60-%';
GRANT SELECT ON ids TO loginvault_pii_admin;
CREATE TEMP TABLE audit_before AS SELECT coalesce(max(audit_id), 0) AS last FROM loginvault.reveal_audit;

CREATE TEMP TABLE revealed AS
SELECT i.message_id, r.ip, r.device_id FROM ids i CROSS JOIN LATERAL reveal_user_login(i.login_id) r;
CREATE TEMP TABLE revealed_missing AS SELECT * FROM reveal_user_login(-1);
CREATE TEMP TABLE revealed_reject AS SELECT * FROM reveal_rejected_login('t60-3');

SELECT is((SELECT ip || '|' || device_id FROM revealed WHERE message_id = 't60-1'), ' 2001:DB8::1 |123-45-6789',
          'reveal returns the original ip and device id exactly as received');
SELECT ok((SELECT ip IS NULL AND device_id = 'éé-ü' FROM revealed WHERE message_id = 't60-2'),
          'a null ip reveals as NULL; non-ASCII device ids round-trip');
SELECT is((SELECT count(*)::int FROM revealed_missing), 0, 'an unknown login_id reveals nothing');
SELECT is((SELECT reason || '|' || body FROM revealed_reject), 'not_an_object|[1]',
          'reveal_rejected_login returns the quarantined body');

SELECT is((SELECT count(*)::int FROM loginvault.reveal_audit, audit_before WHERE audit_id > last), 4,
          'every reveal call is audited, found or not');
SELECT set_eq($$SELECT login_id FROM loginvault.reveal_audit, audit_before WHERE audit_id > last AND what = 'user_login' AND found$$,
              'SELECT login_id FROM ids', 'the audit names the revealed rows');
SELECT ok((SELECT bool_and(revealed_by = session_user AND revealed_at IS NOT NULL) FROM loginvault.reveal_audit, audit_before WHERE audit_id > last),
          'the audit records who (the login role, also after SET ROLE) and when');
SELECT ok((SELECT bool_and(NOT found) FROM loginvault.reveal_audit, audit_before WHERE audit_id > last AND login_id = -1),
          'a miss is audited as not found');
SELECT ok((SELECT o.originals::text NOT LIKE '%123-45-6789%' AND loginvault.decrypt(o.originals, loginvault.data_key_passphrase(o.key_id))::jsonb
                  = '{"ip": " 2001:DB8::1 ", "device_id": "123-45-6789"}'
             FROM loginvault.user_login_originals o JOIN user_logins u USING (login_id) WHERE u.message_id = 't60-1'),
          'the originals are one pgp message holding both values');

SELECT ok((SELECT bool_and(row_hash IS NOT NULL AND chain_seq IS NOT NULL) FROM loginvault.reveal_audit, audit_before WHERE audit_id > last),
          'every audit row is chained');
SELECT ok((SELECT ok FROM loginvault.verify_reveal_audit()), 'the chain verifies');

SELECT * FROM finish();
ROLLBACK;
