-- The floor's work (bench.sql, step 2c; bench/sql/sessions.sh runs it on 1 and
-- on 2 sessions at once): every row of bench_floor_raw claimed (FOR UPDATE
-- SKIP LOCKED) and deleted, masked and encrypted, and written to
-- bench_floor_logins and bench_floor_originals, in batches of the setting
-- bench.batch_size with a COMMIT each. Leaves the row count in bench.floor_rows.
DO $$
DECLARE
  mk bytea := loginvault.mask_key(); dk record := loginvault.current_data_key();
  seq regclass := pg_get_serial_sequence('bench_floor_logins', 'login_id')::regclass;
  bs integer := current_setting('bench.batch_size')::integer;
  c bigint; total bigint := 0;
BEGIN
  LOOP
    WITH claimed AS (
      DELETE FROM bench_floor_raw r
       WHERE r.ctid = ANY (ARRAY(SELECT s.ctid FROM bench_floor_raw s LIMIT bs FOR UPDATE SKIP LOCKED))
      RETURNING r.message_id, r.body, r.sent_at, r.staged_at
    ),
    batch AS MATERIALIZED (
      SELECT nextval(seq) AS login_id, c.message_id,
             c.body->>'user_id' AS user_id, c.body->>'device_type' AS device_type,
             c.body->>'locale' AS locale, c.body->>'app_version' AS app_version,
             c.body->>'ip' AS ip, c.body->>'device_id' AS device_id,
             (coalesce(c.sent_at, c.staged_at) AT TIME ZONE 'UTC')::date AS create_date
        FROM claimed c
    ),
    logins AS (
      INSERT INTO bench_floor_logins
             (login_id, user_id, device_type, masked_ip, masked_device_id, locale, app_version, create_date, message_id)
      OVERRIDING SYSTEM VALUE
      SELECT b.login_id, coalesce(b.user_id, ''), b.device_type,
             loginvault.mask('ip', b.ip, mk), loginvault.mask('device_id', b.device_id, mk),
             b.locale, b.app_version, b.create_date, b.message_id
        FROM batch b
    )
    INSERT INTO bench_floor_originals (login_id, key_id, originals)
    SELECT b.login_id, dk.key_id, loginvault.encrypt(loginvault.originals_plaintext(b.ip, b.device_id), dk.passphrase)
      FROM batch b;
    GET DIAGNOSTICS c = ROW_COUNT;
    EXIT WHEN c = 0;
    total := total + c;
    COMMIT;
  END LOOP;
  PERFORM set_config('bench.floor_rows', total::text, false);
END $$;
