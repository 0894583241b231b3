#!/usr/bin/env python3
"""What each part of the floor costs (make bench-sql with BENCH_FLOOR_PARTS=1).

The floor (bench.sql, step 2c) is the strict reference plus only what the
issue's contract requires: the claim (FOR UPDATE SKIP LOCKED) and delete of
the staging rows in batches with a COMMIT each, a second table for the
encrypted originals, and the three keys (user_logins' login_id and
message_id, the originals' login_id). This builds it up one part at a time
on the same N staged messages and prints the backend's on-CPU time per row
of each step, the median of ROUNDS interleaved rounds. Prints figures;
asserts nothing. Needs a migrated database (PG* variables), run as superuser
(it reads /proc/self/schedstat through pg_read_file). Everything it creates
lives in the schema bench_parts, dropped at the end.
"""
import os
import statistics
import subprocess
import sys

ROUNDS = int(os.environ.get("BENCH_ROUNDS", "5"))
N = int(os.environ.get("BENCH_N", "100000"))
BATCH = int(os.environ.get("BENCH_BATCH_SIZE", "10000"))


def psql(sql):
    r = subprocess.run(["psql", "-X", "-q", "-At", "-v", "ON_ERROR_STOP=1"],
                       input="SET search_path = bench_parts, public;\n" + sql,
                       text=True, capture_output=True)
    if r.returncode:
        sys.exit(r.stderr)
    return r.stdout.strip()


# (name, what it adds, claim?, tables: "one" or "two", keys on the two tables)
STEPS = [
    ("strict", "the strict reference: crypto, every output column, one unindexed table", False, "one", ""),
    ("+ claim", "claim (FOR UPDATE SKIP LOCKED) and delete, in batches with COMMITs", True, "one", ""),
    ("+ second table", "the originals in a table of their own (both unindexed)", True, "two", ""),
    ("+ login_id key", "user_logins' primary key", True, "two", "pk"),
    ("+ message_id key", "user_logins' unique message_id", True, "two", "pk uq"),
    ("= floor", "the originals' primary key: the floor of bench.sql", True, "two", "pk uq opk"),
    ("keyed, no claim", "for comparison: the floor without the claim and delete", False, "two", "pk uq opk"),
]

COLUMNS = """body->>'user_id' AS user_id, body->>'device_type' AS device_type, body->>'locale' AS locale,
             body->>'app_version' AS app_version, body->>'ip' AS ip, body->>'device_id' AS device_id,
             (coalesce(sent_at, staged_at) AT TIME ZONE 'UTC')::date AS create_date, message_id"""


def setup(keys):
    """Fresh tables for one step. logins and originals are copies of the real tables
    (columns, types, defaults, identity) without their indexes; the keys the step
    asks for are added back as the real tables declare them."""
    keys = keys.split()
    add_keys = "".join([
        "ALTER TABLE logins ADD PRIMARY KEY (login_id);\n" if "pk" in keys else "",
        "ALTER TABLE logins ADD UNIQUE (message_id);\n" if "uq" in keys else "",
        "ALTER TABLE originals ADD PRIMARY KEY (login_id);\n" if "opk" in keys else "",
    ])
    return f"""
DROP TABLE IF EXISTS staged, logins, originals, one_table;
CREATE TABLE staged (LIKE public.raw_logins INCLUDING ALL);
INSERT INTO staged SELECT * FROM source;
-- The strict reference's table, as in bench.sql (step 2b).
CREATE TABLE one_table (user_id varchar(128), device_type varchar(32), masked_ip varchar(256), masked_device_id varchar(256),
  locale varchar(32), app_version varchar(32), create_date date, message_id text, key_id integer, originals bytea);
CREATE TABLE logins (LIKE public.user_logins INCLUDING DEFAULTS INCLUDING IDENTITY);
CREATE TABLE originals (LIKE loginvault.user_login_originals INCLUDING DEFAULTS);
{add_keys}VACUUM ANALYZE staged;
CHECKPOINT;
"""


def statement(claim, tables):
    source = "claimed" if claim else "staged"
    # (A data-modifying WITH query runs even if nothing reads it: no claim, no WITH.)
    claim_cte = f"""claimed AS (
        DELETE FROM staged r WHERE r.ctid = ANY (ARRAY(SELECT s.ctid FROM staged s LIMIT {BATCH} FOR UPDATE SKIP LOCKED))
        RETURNING r.message_id, r.body, r.sent_at, r.staged_at)"""
    if tables == "one":
        return (f"WITH {claim_cte}" if claim else "") + f""" INSERT INTO one_table
      SELECT user_id, device_type, loginvault.mask('ip', ip, mk), loginvault.mask('device_id', device_id, mk),
             locale, app_version, create_date, message_id, dk.key_id,
             loginvault.encrypt(loginvault.originals_plaintext(ip, device_id), dk.passphrase)
        FROM (SELECT {COLUMNS} FROM {source}) c;"""
    return "WITH " + (f"{claim_cte}, " if claim else "") + f"""batch AS MATERIALIZED (SELECT nextval(seq) AS login_id, {COLUMNS} FROM {source}),
    new_logins AS (INSERT INTO logins (login_id, user_id, device_type, masked_ip, masked_device_id, locale, app_version, create_date, message_id)
      OVERRIDING SYSTEM VALUE
      SELECT login_id, coalesce(user_id, ''), device_type, loginvault.mask('ip', ip, mk), loginvault.mask('device_id', device_id, mk),
             locale, app_version, create_date, message_id FROM batch)
    INSERT INTO originals (login_id, key_id, originals)
    SELECT login_id, dk.key_id, loginvault.encrypt(loginvault.originals_plaintext(ip, device_id), dk.passphrase) FROM batch;"""


def run(step):
    _, _, claim, tables, keys = step
    psql(setup(keys))
    body = statement(claim, tables)
    if claim:
        body = f"LOOP {body} GET DIAGNOSTICS c = ROW_COUNT; EXIT WHEN c = 0; total := total + c; COMMIT; END LOOP;"
    else:
        body = f"{body} GET DIAGNOSTICS total = ROW_COUNT;"
    out = psql(f"""SELECT cpu_ns() AS c0 \\gset
DO $$
DECLARE mk bytea := loginvault.mask_key(); dk record := loginvault.current_data_key();
        seq regclass := pg_get_serial_sequence('bench_parts.logins', 'login_id')::regclass;
        c bigint; total bigint := 0;
BEGIN
  {body}
  PERFORM set_config('bench.parts_rows', total::text, false);
END $$;
SELECT current_setting('bench.parts_rows'), (cpu_ns() - :c0) / 1e3 / current_setting('bench.parts_rows')::numeric;""")
    rows, us = out.splitlines()[-1].split("|")
    if int(rows) != N:
        sys.exit(f"{step[0]}: {rows} rows, expected {N}")
    return float(us)


def main():
    psql(f"""DROP SCHEMA IF EXISTS bench_parts CASCADE; CREATE SCHEMA bench_parts;
CREATE FUNCTION bench_parts.cpu_ns() RETURNS bigint LANGUAGE sql
  AS $$ SELECT split_part(pg_read_file('/proc/self/schedstat'), ' ', 1)::bigint $$;
CREATE TABLE bench_parts.source AS
SELECT 'parts-' || i AS message_id,
       jsonb_build_object('user_id', md5(i::text)::uuid, 'app_version', (i % 10) || '.' || (i % 7) || '.' || (i % 3),
         'device_type', CASE WHEN i % 2 = 0 THEN 'ios' ELSE 'android' END,
         'ip', (hashint4(i) & 255) || '.' || (hashint4(i + 1) & 255) || '.' || (hashint4(i + 2) & 255) || '.' || (i % 256),
         'locale', CASE WHEN i % 10 < 3 THEN NULL ELSE 'FR' END,
         'device_id', lpad((i % 1000)::text, 3, '0') || '-' || lpad((i % 97)::text, 2, '0') || '-' || lpad((i % 10000)::text, 4, '0')) AS body,
       now() - interval '1 hour' AS sent_at, 1 AS receive_count, now() AS staged_at
  FROM generate_series(1, {N}) i;""")
    try:
        results = {s[0]: [] for s in STEPS}
        for _ in range(ROUNDS):
            for s in STEPS:
                results[s[0]].append(run(s))
    finally:
        psql("DROP SCHEMA bench_parts CASCADE;")
    print(f"\nthe floor, part by part: backend CPU per row, median of {ROUNDS} interleaved rounds, N={N}")
    strict = statistics.median(results["strict"])
    previous = None
    for name, what, *_ in STEPS:
        m = statistics.median(results[name])
        added = "" if previous is None or name.startswith("keyed") else f"{m - previous:+5.1f}"
        print(f"  {name:17s} {m:5.1f} us  {added:6s} strict/this {strict / m:4.2f}   {what}")
        if not name.startswith("keyed"):
            previous = m


if __name__ == "__main__":
    main()
