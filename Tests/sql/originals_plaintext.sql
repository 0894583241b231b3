-- The batch builds the originals' plaintext with originals_plaintext()
-- instead of jsonb_build_object(...)::text, and checks lengths with
-- octet_length before length. Neither may change a byte or a decision:
-- the plaintext must be exactly what jsonb printed, and every length limit
-- must still count characters, not bytes. Rolled back.
BEGIN;
SELECT plan(8);

-- 1. The same text as jsonb, byte for byte, for hostile values.
CREATE TEMP TABLE v (x text);
INSERT INTO v VALUES
  (NULL), (''), ('1.2.3.4'), ('2001:db8::1'), ('123-45-6789'),
  ('a"b'), ('a\b'), ('\"'), ('"'), ('\'), ('''; DROP TABLE user_logins; --'),
  (E'tab\there'), (E'new\nline'), (E'cr\rret'), (E'\x01\x02\x1f'), (E'\x7f'), (E'\b\f'),
  ('</script>'), ('é'), ('👩‍💻🔥'), (U&'\2028\2029'), (U&'\+01F600'), ('{"ip": "x"}'), ('null'),
  (repeat('9', 10000));
SELECT is((SELECT count(*)::int FROM v a CROSS JOIN v b
            WHERE loginvault.originals_plaintext(a.x, b.x)
                  IS DISTINCT FROM jsonb_build_object('ip', a.x, 'device_id', b.x)::text),
          0, 'originals_plaintext(ip, device_id) is byte for byte jsonb_build_object(...)::text (625 pairs)');
SELECT is(loginvault.originals_plaintext('10.0.0.1', NULL), '{"ip": "10.0.0.1", "device_id": null}',
          '... e.g. a missing device id is JSON null');

-- 2. Through the batch: the decrypted originals are that very text.
INSERT INTO raw_logins (message_id, body, sent_at) VALUES
  ('t48-plain', '{"user_id":"u","ip":"10.48.0.1","device_id":"a\"b\\c\n👩‍💻"}', now()),
  ('t48-noip',  '{"user_id":"u","device_id":"d48"}', now());
SELECT is((SELECT upserted FROM loginvault.process_login_batch(NULL, 1000)), 2, 'two logins');
SELECT is((SELECT string_agg(loginvault.decrypt(o.originals, loginvault.data_key_passphrase(o.key_id)), ' | ' ORDER BY u.message_id)
             FROM user_logins u JOIN loginvault.user_login_originals o USING (login_id)
            WHERE u.message_id LIKE 't48-%'),
          '{"ip": null, "device_id": "d48"} | ' || jsonb_build_object('ip', '10.48.0.1', 'device_id', E'a"b\\c\n👩‍💻')::text,
          'the decrypted originals are exactly the text jsonb printed before 0018');

-- 3. Length limits still count characters: a multibyte value of exactly the
-- limit is a row (twice as many bytes as characters), one more is a reject.
INSERT INTO raw_logins (message_id, body, sent_at) VALUES
  ('t48-uid-128', jsonb_build_object('user_id', repeat('é', 128)), now()),
  ('t48-uid-129', jsonb_build_object('user_id', repeat('é', 129)), now()),
  ('t48-loc-32',  jsonb_build_object('user_id', 'u', 'locale', repeat('ß', 32), 'device_type', repeat('€', 32),
                                     'app_version', repeat('β', 32)), now()),
  ('t48-loc-33',  jsonb_build_object('user_id', 'u', 'locale', repeat('ß', 33)), now()),
  ('t48-typ-33',  jsonb_build_object('user_id', 'u', 'device_type', repeat('€', 33)), now()),
  ('t48-ver-33',  jsonb_build_object('user_id', 'u', 'app_version', repeat('β', 33)), now()),
  ('t48-dev-256', jsonb_build_object('user_id', 'u', 'device_id', repeat('📱', 256)), now()),
  ('t48-dev-257', jsonb_build_object('user_id', 'u', 'device_id', repeat('📱', 257)), now()),
  ('t48-ip-64',   jsonb_build_object('user_id', 'u', 'ip', repeat('é', 64)), now()),
  ('t48-ip-65',   jsonb_build_object('user_id', 'u', 'ip', repeat('é', 65)), now());
SELECT is((SELECT upserted || '/' || rejected FROM loginvault.process_login_batch(NULL, 1000)), '3/7', 'three rows, seven rejects');
SELECT set_eq($$SELECT message_id FROM user_logins WHERE message_id LIKE 't48-%-%'$$,
              ARRAY['t48-uid-128', 't48-loc-32', 't48-dev-256'],
              'values of exactly the limit in characters (more in bytes) are rows');
SELECT set_eq($$SELECT message_id, reason FROM rejected_logins WHERE message_id LIKE 't48-%'$$,
              $$VALUES ('t48-uid-129', 'too_long:user_id'), ('t48-loc-33', 'too_long:locale'),
                       ('t48-typ-33', 'too_long:device_type'), ('t48-ver-33', 'too_long:app_version'),
                       ('t48-dev-257', 'too_long:device_id'),
                       ('t48-ip-64', 'invalid_ip'), ('t48-ip-65', 'too_long:ip')$$,
              'one character over is too long; a 64-character ip is checked as an ip, a 65-character one is too long');

-- 4. The helper is no one's to call but the owner's (0014's rule).
SELECT ok(NOT has_function_privilege('loginvault_loader', 'loginvault.originals_plaintext(text, text)', 'EXECUTE')
          AND NOT has_function_privilege('loginvault_analyst', 'loginvault.originals_plaintext(text, text)', 'EXECUTE')
          AND NOT has_function_privilege('loginvault_pii_admin', 'loginvault.originals_plaintext(text, text)', 'EXECUTE'),
          'originals_plaintext is not executable by the loader, analysts or the PII admin');

SELECT * FROM finish();
ROLLBACK;
