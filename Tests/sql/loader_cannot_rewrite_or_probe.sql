-- The loader role attacks a stored login, as a member of loginvault_loader
-- with exactly the loader's rights (issue 13, docs/security.md "The loader"):
--   1. rewrite: re-stage the login's message id with other content and run
--      the procedure's batch function: the login, its masks and its
--      encrypted originals must stay as they were;
--   2. probe: stage a guess under that message id, run the batch function
--      inside a savepoint, read the counts (and the run log), roll back: the
--      counts must be the same whether the guess equals the stored login or
--      not, so they tell nothing about the stored values.
-- (CALL process_raw_logins cannot run inside this test's transaction; the
-- loader may execute its batch function, which is what the attack used.)
-- Rolled back.
BEGIN;
SELECT plan(9);
SET LOCAL client_min_messages = warning;

CREATE ROLE t13_loader NOLOGIN IN ROLE loginvault_loader;

-- The victim, processed by the owner.
INSERT INTO raw_logins (message_id, body, sent_at) VALUES
  ('t13-victim', '{"user_id":"victim","ip":"10.13.7.42","device_id":"dev-13-victim","locale":"FR"}', '2024-05-01 10:00Z');
SELECT is((SELECT upserted FROM loginvault.process_login_batch(NULL, 1000)), 1, 'the victim login exists');
CREATE TEMP TABLE victim AS
SELECT u.*, o.key_id, o.originals FROM user_logins u JOIN loginvault.user_login_originals o USING (login_id)
 WHERE message_id = 't13-victim';
GRANT SELECT ON victim TO PUBLIC;

-- Attack 1: rewrite.
SET ROLE t13_loader;
INSERT INTO raw_logins (message_id, body, sent_at) VALUES
  ('t13-victim', '{"user_id":"attacker","ip":"10.66.66.66","device_id":"dev-attacker","locale":"XX"}', '2030-01-01 00:00Z');
CREATE TEMP TABLE rewrite AS SELECT * FROM loginvault.process_login_batch(NULL, 1000);
RESET ROLE;
SELECT is((SELECT upserted || '/' || unchanged || '/' || rejected FROM rewrite), '0/1/0',
          'rewrite: the re-staged message id is counted unchanged');
SELECT set_eq($$SELECT u.*, o.key_id, o.originals FROM user_logins u JOIN loginvault.user_login_originals o USING (login_id)
                 WHERE message_id = 't13-victim'$$,
              'SELECT * FROM victim', 'rewrite: the login and its ciphertext are untouched');
SELECT is((SELECT loginvault.decrypt(o.originals, loginvault.data_key_passphrase(o.key_id))::jsonb->>'ip'
             FROM loginvault.user_login_originals o JOIN user_logins u USING (login_id) WHERE u.message_id = 't13-victim'),
          '10.13.7.42', 'rewrite: the originals still reveal the first ip');
SELECT is((SELECT count(*)::int FROM raw_logins WHERE message_id = 't13-victim'), 0, 'rewrite: the copy left staging');

-- Attack 2: probe. A guess equal to the stored login, and one that is not,
-- each in a savepoint that is rolled back; the counts (and the run log) are
-- what the loader can observe.
SET ROLE t13_loader;
CREATE TEMP TABLE probe (guess text, counts text);
CREATE FUNCTION pg_temp.probe(guess text, body text) RETURNS void LANGUAGE plpgsql AS $$
DECLARE r record; p record; run bigint; seen text;
BEGIN
  BEGIN
    INSERT INTO raw_logins (message_id, body, sent_at) VALUES ('t13-victim', body::jsonb, '2024-05-01 10:00Z');
    run := loginvault.begin_process_run(1000);
    r := loginvault.process_login_batch(run, 1000);
    p := loginvault.end_process_run(run);
    seen := concat_ws('/', r.staged, r.upserted, r.rejected, r.unchanged, p.staged, p.upserted, p.rejected, p.unchanged);
    RAISE EXCEPTION 'roll back' USING ERRCODE = 'P0001';
  EXCEPTION WHEN raise_exception THEN
    NULL;
  END;
  INSERT INTO probe VALUES (guess, seen);
END $$;
SELECT pg_temp.probe('right', '{"user_id":"victim","ip":"10.13.7.42","device_id":"dev-13-victim","locale":"FR"}');
SELECT pg_temp.probe('wrong ip', '{"user_id":"victim","ip":"10.13.7.43","device_id":"dev-13-victim","locale":"FR"}');
SELECT pg_temp.probe('wrong device', '{"user_id":"victim","ip":"10.13.7.42","device_id":"dev-13-other","locale":"FR"}');
SELECT pg_temp.probe('broken', '{"user_id":13}');
RESET ROLE;
SELECT is((SELECT count(*)::int FROM probe), 4, 'probe: four guesses were tried');
SELECT is((SELECT count(DISTINCT counts)::int FROM probe), 1,
          'probe: the counts and the run log are the same for every guess, right or wrong');
SELECT is((SELECT counts FROM probe WHERE guess = 'right'), '1/0/0/1/1/0/0/1', 'probe: each guess reads as one unchanged message');
SELECT set_eq($$SELECT u.*, o.key_id, o.originals FROM user_logins u JOIN loginvault.user_login_originals o USING (login_id)
                 WHERE message_id = 't13-victim'$$,
              'SELECT * FROM victim', 'probe: the login is still untouched');

SELECT * FROM finish();
ROLLBACK;
