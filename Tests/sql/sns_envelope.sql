-- SNS envelopes (45_sns_envelope.sql): a body that SNS wrapped (no raw
-- message delivery) is judged and masked by its inner Message; an envelope
-- whose Message is not a login is rejected with a reason of its own (sns_...),
-- keeping the whole envelope; a plain body is untouched by all this.
-- Rolled back; runs the batch function inside this transaction.
BEGIN;
SELECT plan(16);

CREATE TEMP TABLE envelopes (message_id text, inner_message jsonb, body jsonb);
-- SNS's envelope, as it reaches SQS without raw message delivery (the login as a JSON string in Message).
CREATE FUNCTION pg_temp.envelope(message jsonb) RETURNS jsonb LANGUAGE sql AS $$
  SELECT jsonb_build_object('Type', 'Notification', 'MessageId', gen_random_uuid()::text,
                            'TopicArn', 'arn:aws:sns:us-east-1:123456789012:logins',
                            'Message', message, 'Timestamp', '2024-05-01T10:00:00.000Z',
                            'SignatureVersion', '1', 'Signature', 'c2lnbmF0dXJl',
                            'SigningCertURL', 'https://sns.us-east-1.amazonaws.com/cert.pem',
                            'UnsubscribeURL', 'https://sns.us-east-1.amazonaws.com/?Action=Unsubscribe')
$$;

INSERT INTO raw_logins (message_id, body, sent_at, receive_count) VALUES
  ('t90-login',   pg_temp.envelope(to_jsonb('{"user_id":"u90","ip":" 10.90.0.1 ","device_id":"d-90","locale":"fr_FR","device_type":"ios","app_version":"2.30"}'::text)), '2024-05-01 10:00Z', 1),
  ('t90-plain',   '{"user_id":"u91","ip":"10.90.0.1","device_id":"d-90"}', '2024-05-01 10:00Z', 1),
  ('t90-typed',   '{"user_id":"u92","Type":"Notification","ip":"10.90.0.2"}', '2024-05-01 10:00Z', 1),
  ('t90-notjson', pg_temp.envelope(to_jsonb('user_id=u93 ip=10.90.0.3'::text)), '2024-05-01 10:00Z', 1),
  ('t90-nomsg',   pg_temp.envelope(NULL) - 'Message', '2024-05-01 10:00Z', 1),
  ('t90-number',  pg_temp.envelope('42'), '2024-05-01 10:00Z', 1),
  ('t90-object',  pg_temp.envelope('{"user_id":"u94"}'), '2024-05-01 10:00Z', 1),
  ('t90-nul',     pg_temp.envelope(to_jsonb('{"user_id":"u95","ip":"\u0000"}'::text)), '2024-05-01 10:00Z', 1),
  ('t90-deep',    pg_temp.envelope(to_jsonb(repeat('[', 100000) || repeat(']', 100000))), '2024-05-01 10:00Z', 1),
  ('t90-array',   pg_temp.envelope(to_jsonb('[{"user_id":"u96"}]'::text)), '2024-05-01 10:00Z', 1),
  ('t90-nouser',  pg_temp.envelope(to_jsonb('{"ip":"10.90.0.7"}'::text)), '2024-05-01 10:00Z', 1),
  ('t90-badip',   pg_temp.envelope(to_jsonb('{"user_id":"u97","ip":"10.90.0.999"}'::text)), '2024-05-01 10:00Z', 1),
  ('t90-iptype',  pg_temp.envelope(to_jsonb('{"user_id":"u98","ip":17}'::text)), '2024-05-01 10:00Z', 1);

CREATE TEMP TABLE result AS SELECT * FROM loginvault.process_login_batch(NULL, 1000);
SELECT is((SELECT staged || '/' || upserted || '/' || rejected FROM result), '13/3/10',
          'one batch: the enveloped login, the plain login and a plain login with a Type key become logins; ten rejects');

SELECT is((SELECT user_id || '|' || locale || '|' || device_type || '|' || app_version || '|' || create_date
             FROM user_logins WHERE message_id = 't90-login'),
          'u90|fr_FR|ios|2.30|2024-05-01', 'an enveloped login''s fields come from its Message');
SELECT is((SELECT masked_ip FROM user_logins WHERE message_id = 't90-login'),
          (SELECT masked_ip FROM user_logins WHERE message_id = 't90-plain'),
          '... its ip is masked as the same ip in a plain body is (canonical, keyed)');
SELECT is((SELECT masked_device_id FROM user_logins WHERE message_id = 't90-login'),
          (SELECT masked_device_id FROM user_logins WHERE message_id = 't90-plain'),
          '... and its device id');
SELECT is((SELECT user_id FROM user_logins WHERE message_id = 't90-typed'), 'u92',
          'a plain body with a Type key but no TopicArn is not an envelope');

CREATE TEMP TABLE reasons AS SELECT message_id, reason FROM rejected_logins WHERE message_id LIKE 't90-%';
SELECT set_eq('SELECT message_id, reason FROM reasons',
              $$VALUES ('t90-notjson', 'sns_invalid_message'), ('t90-nomsg', 'sns_invalid_message'),
                       ('t90-number', 'sns_invalid_message'), ('t90-object', 'sns_invalid_message'),
                       ('t90-nul', 'sns_invalid_message'), ('t90-deep', 'sns_invalid_message'),
                       ('t90-array', 'sns_not_an_object'), ('t90-nouser', 'sns_missing_user_id'),
                       ('t90-badip', 'sns_invalid_ip'), ('t90-iptype', 'sns_wrong_type:ip')$$,
              'an envelope whose Message is not JSON (or not a string) is sns_invalid_message; one that is not a login, sns_ and the rule it fails');
SELECT is((SELECT count(*)::int FROM reasons r
            WHERE NOT EXISTS (SELECT FROM loginvault.quarantine_reasons() q
                               WHERE r.reason = q.reason
                                  OR (q.reason = 'sns_<reason>' AND r.reason LIKE 'sns\_%'
                                      AND EXISTS (SELECT FROM loginvault.quarantine_reasons() q2
                                                   WHERE substr(r.reason, 5) = q2.reason
                                                      OR substr(r.reason, 5) LIKE replace(q2.reason, '<field>', '%'))))),
          0, 'every sns_ reason is registered in quarantine_reasons()');
SELECT is((SELECT count(*)::int FROM raw_logins WHERE message_id LIKE 't90-%'), 0, 'every envelope left staging');

SELECT ok(loginvault.is_sns_envelope(pg_temp.envelope('"x"')) AND NOT loginvault.is_sns_envelope('"TopicArn"')
          AND NOT loginvault.is_sns_envelope('[1]') AND NOT loginvault.is_sns_envelope('{"Type":"SubscriptionConfirmation","TopicArn":"a"}'),
          'is_sns_envelope: a Notification with a TopicArn, not a scalar, an array or a confirmation');
SELECT is(loginvault.sns_message(pg_temp.envelope(to_jsonb('{"a": [1, "b"]}'::text))), '{"a": [1, "b"]}'::jsonb,
          'sns_message parses the Message string');

-- What was kept is what came: the whole envelope for a reject, the inner originals for a
-- login (decrypted with the owner's keys; the PII admin's audited procedures cannot run in
-- this test's transaction: they COMMIT, reveal.sql).
CREATE TEMP TABLE revealed_reject AS
  SELECT loginvault.decrypt(r.body_encrypted, loginvault.originals_passphrase(r.key_id, NULL, NULL)) AS body
    FROM rejected_logins r WHERE r.message_id = 't90-notjson';
CREATE TEMP TABLE revealed_login AS
  SELECT j->>'ip' AS ip, j->>'device_id' AS device_id
    FROM user_logins u JOIN loginvault.user_login_originals o USING (login_id),
         LATERAL (SELECT loginvault.decrypt(o.originals, loginvault.originals_passphrase(o.key_id, NULL, NULL))::jsonb) d(j)
   WHERE u.message_id = 't90-login';
SELECT is((SELECT body::jsonb->>'Message' FROM revealed_reject), 'user_id=u93 ip=10.90.0.3',
          'a rejected envelope is quarantined whole: its Message is in the encrypted body');
SELECT ok((SELECT body::jsonb ? 'TopicArn' FROM revealed_reject), '... with the envelope around it');
SELECT is((SELECT ip || '|' || device_id FROM revealed_login), ' 10.90.0.1 |d-90',
          'an enveloped login''s originals are the inner ip and device id, as sent');

-- The loader's path: an envelope staged from the temp table like any body, then processed.
CREATE TEMP TABLE loginvault_incoming (message_id text, body bytea, sent_at timestamptz, receive_count integer);
INSERT INTO loginvault_incoming VALUES
  ('t90-s1', convert_to(pg_temp.envelope(to_jsonb('{"user_id":"u99","ip":"10.90.0.9"}'::text))::text, 'UTF8'), now(), 1),
  ('t90-s2', convert_to('{"user_id":"u100","ip":"10.90.0.10"}', 'UTF8'), now(), 1),
  ('t90-s3', convert_to(pg_temp.envelope(to_jsonb('{"user_id":'::text))::text, 'UTF8'), now(), 1);
SELECT is((SELECT staged FROM stage_incoming_logins(10)), 3, 'staging takes an envelope as it came (it is JSON)');
SELECT is((SELECT staged || '/' || upserted || '/' || rejected FROM loginvault.process_login_batch(NULL, 1000)), '3/2/1',
          'the staged envelope becomes a login, the broken one a reject');
SELECT is((SELECT reason FROM rejected_logins WHERE message_id = 't90-s3'), 'sns_invalid_message',
          '... with its own reason');

SELECT * FROM finish();
ROLLBACK;
