-- Hostile values: each one becomes a row or a reject with a reason, in ONE
-- batch that does not stop. Rolled back.
BEGIN;
SELECT plan(5);

CREATE TEMP TABLE hostile (message_id text, body jsonb, expected text);  -- expected: 'row' or a reason
INSERT INTO hostile VALUES
  ('t40-quote',    '{"user_id":"o''brien \"x\"","device_type":"ios","ip":"1.1.1.1","device_id":"a''b"}', 'row'),
  ('t40-sqli',     '{"user_id":"''; DROP TABLE user_logins; --","device_type":"android","ip":"1.1.1.2","device_id":"''; DROP TABLE x; --"}', 'row'),
  ('t40-emoji',    '{"user_id":"👩‍💻🔥","locale":"🇫🇷","app_version":"1.0-β","ip":"1.1.1.3","device_id":"📱"}', 'row'),
  ('t40-backslash','{"user_id":"u\\\\x00","device_id":"\\\\x41\\\\"}', 'row'),
  ('t40-long-uid', jsonb_build_object('user_id', repeat('x', 129)), 'too_long:user_id'),
  ('t40-long-dev', jsonb_build_object('user_id', 'u', 'device_id', repeat('9', 100000)), 'too_long:device_id'),
  ('t40-long-ip',  jsonb_build_object('user_id', 'u', 'ip', repeat('1', 10000)), 'too_long:ip'),
  ('t40-max-uid',  jsonb_build_object('user_id', repeat('é', 128)), 'row'),
  ('t40-num-uid',  '{"user_id":12345}', 'wrong_type:user_id'),
  ('t40-num-ver',  '{"user_id":"u","app_version":2.3}', 'wrong_type:app_version'),
  ('t40-num-ip',   '{"user_id":"u","ip":16843009}', 'wrong_type:ip'),
  ('t40-bool-loc', '{"user_id":"u","locale":true}', 'wrong_type:locale'),
  ('t40-obj-dev',  '{"user_id":"u","device_id":{"nested":{"deeper":[1,2,3]}}}', 'wrong_type:device_id'),
  ('t40-arr-type', '{"user_id":"u","device_type":["ios"]}', 'wrong_type:device_type'),
  ('t40-obj-uid',  '{"user_id":{"id":"u"}}', 'wrong_type:user_id'),
  ('t40-blank-uid','{"user_id":"   "}', 'missing_user_id'),
  ('t40-null-uid', '{"user_id":null,"ip":"1.2.3.4"}', 'missing_user_id'),
  ('t40-no-uid',   '{"foo":"oops_wrong_msg_type","bar":"123"}', 'missing_user_id'),
  ('t40-array',    '[{"user_id":"u"}]', 'not_an_object'),
  ('t40-string',   '"just a string"', 'not_an_object'),
  ('t40-null',     'null', 'not_an_object'),
  ('t40-ip-300',   '{"user_id":"u","ip":"300.1.1.1"}', 'invalid_ip'),
  ('t40-ip-cidr',  '{"user_id":"u","ip":"10.0.0.0/8"}', 'invalid_ip'),
  ('t40-ip-zone',  '{"user_id":"u","ip":"fe80::1%eth0"}', 'invalid_ip'),
  ('t40-ip-word',  '{"user_id":"u","ip":"localhost"}', 'invalid_ip'),
  ('t40-ip-empty', '{"user_id":"u","ip":""}', 'invalid_ip'),
  ('t40-ip-sqli',  '{"user_id":"u","ip":"1.1.1.1''; DROP TABLE raw_logins; --"}', 'invalid_ip'),
  ('t40-ip-hexjunk','{"user_id":"u","ip":":::::"}', 'invalid_ip'),
  ('t40-ip6',      '{"user_id":"u","ip":"::1"}', 'row'),
  ('t40-extra',    '{"user_id":"u","extra":{"a":[1,{"b":null}]},"ip":"8.8.8.8"}', 'row'),
  ('t40-dup-key',  '{"user_id":"first","user_id":"second"}', 'row');

INSERT INTO raw_logins (message_id, body, sent_at) SELECT message_id, body, now() FROM hostile;

SELECT lives_ok('SELECT loginvault.process_login_batch(NULL, 1000000)', 'one batch with every hostile value does not fail');

SELECT is((SELECT count(*)::int FROM raw_logins WHERE message_id LIKE 't40-%'), 0, 'every hostile message left staging');
SELECT set_eq(
  $$SELECT h.message_id, coalesce(r.reason, CASE WHEN u.login_id IS NOT NULL THEN 'row' END)
      FROM hostile h
      LEFT JOIN user_logins u USING (message_id)
      LEFT JOIN rejected_logins r USING (message_id)$$,
  'SELECT message_id, expected FROM hostile',
  'each hostile message is a row or a reject with the expected reason');
SELECT is((SELECT user_id FROM user_logins WHERE message_id = 't40-sqli'), '''; DROP TABLE user_logins; --',
          'an SQL injection attempt is just a string');
SELECT is((SELECT user_id || '|' || locale || '|' || app_version FROM user_logins WHERE message_id = 't40-emoji'),
          '👩‍💻🔥|🇫🇷|1.0-β', 'emoji survive intact');

SELECT * FROM finish();
ROLLBACK;
