-- Rejects by reason, as the database reports them to the loader (its metric
-- loginvault_rejected_logins_total{reason}): the staging rejects of a
-- transaction in the setting loginvault.rejected_reasons, a processing run's
-- in process_runs.rejected_reasons. Each equals what rejected_logins holds.
BEGIN;
SELECT plan(8);

SELECT is(loginvault.add_counts('{"a": 1, "b": 2}', '{"b": 3, "c": 4}'), '{"a": 1, "b": 5, "c": 4}'::jsonb,
          'add_counts adds key by key');
SELECT is(loginvault.add_counts(NULL, '{}'), '{}'::jsonb, '... and takes NULL as empty');

-- Staging: a batch with bodies that are not JSON, a poison message and a NUL byte, as the loader stages it.
CREATE TEMP TABLE loginvault_incoming (message_id text, body bytea, sent_at timestamptz, receive_count integer);
INSERT INTO loginvault_incoming VALUES
  ('t91-ok',     convert_to('{"user_id":"u1"}', 'UTF8'), now(), 1),
  ('t91-json1',  convert_to('{"user_id":', 'UTF8'), now(), 1),
  ('t91-json2',  convert_to('not json', 'UTF8'), now(), 1),
  ('t91-poison', convert_to('{"user_id":"u2"}', 'UTF8'), now(), 11),
  ('t91-nul',    '\x7b7d00'::bytea, now(), 1);
SELECT is((SELECT rejected + quarantined FROM stage_incoming_logins(10)), 4, 'staging rejects four');
SELECT is(current_setting('loginvault.rejected_reasons', true)::jsonb,
          (SELECT jsonb_object_agg(reason, n) FROM (SELECT reason, count(*) AS n FROM rejected_logins
                                                     WHERE message_id LIKE 't91-%' GROUP BY reason) r),
          'the transaction''s rejected_reasons say what staging put in rejected_logins, by reason');
SELECT is(current_setting('loginvault.rejected_reasons', true)::jsonb,
          '{"invalid_json": 2, "too_many_receives": 1, "nul_byte": 1}'::jsonb, '... that is these');

-- A message already quarantined is not counted again.
SELECT is(quarantine_raw_login('t91-json1', 'x', 'invalid_json'), false, 'a second quarantine of the same id stores nothing');
SELECT is(current_setting('loginvault.rejected_reasons', true)::jsonb ->> 'invalid_json', '2', '... and counts nothing');

-- Processing: a run's rejected_reasons are its new rejects by reason.
INSERT INTO raw_logins (message_id, body, sent_at) VALUES
  ('t91-p1', '{"ip":"10.0.0.1"}', now()), ('t91-p2', '{"user_id":7}', now()),
  ('t91-p3', '{"user_id":"u3","ip":"nope"}', now()), ('t91-p4', '{"user_id":"u4","ip":"x"}', now()),
  ('t91-p5', '{"user_id":"u5"}', now());
INSERT INTO loginvault.process_runs (batch_size) VALUES (2);
SELECT loginvault.process_login_batch((SELECT max(run_id) FROM loginvault.process_runs), 2) FROM generate_series(1, 4);
SELECT is((SELECT rejected_reasons FROM loginvault.process_runs WHERE run_id = (SELECT max(run_id) FROM loginvault.process_runs)),
          '{"missing_user_id": 1, "wrong_type:user_id": 1, "invalid_ip": 2}'::jsonb,
          'a run''s rejected_reasons add up its batches'' rejects by reason');

SELECT * FROM finish();
ROLLBACK;
