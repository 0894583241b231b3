#!/usr/bin/env bash
# make bench-retention: what retention costs, on a fresh private PostgreSQL cluster.
#   N rows of user_logins (with their originals, fake ciphertext) spread over 24 months of
#   create_date, generated with INSERT ... SELECT; then the two candidates, each removing
#   the oldest 12 months (half the rows):
#   (a) CALL loginvault.apply_retention(): batched DELETE by create_date (the index
#       user_logins_create_date), the originals going with them by the delete trigger;
#   (b) a copy partitioned by month of create_date: DROP TABLE of the 12 old partitions.
#   For each: wall time and WAL bytes. Then the effect on processing: process_raw_logins on
#   M staged messages alone, and again while (a) runs in another session.
# Prints figures; asserts nothing. Not part of make test. BENCH_RETENTION_N (1000000),
# BENCH_RETENTION_M (50000), BENCH_RETENTION_BATCH (10000) override.
set -euo pipefail
cd "$(dirname "$0")/.."
n=${BENCH_RETENTION_N:-1000000}
m=${BENCH_RETENTION_M:-50000}
batch=${BENCH_RETENTION_BATCH:-10000}
dir="$(pwd)/.build/local/bench-retention-$$"
trap 'scripts/pg-cluster.sh destroy "$dir" >/dev/null 2>&1 || true' EXIT
trap 'exit 130' INT TERM

scripts/pg-cluster.sh start "$dir" >/dev/null
# shellcheck disable=SC1091
source "$dir/env"
export PGDATABASE=loginvault_bench
psql -X -q -d postgres -v ON_ERROR_STOP=1 -c "CREATE DATABASE loginvault_bench"
for f in sql/migrations/*.sql sql/definitions/*.sql; do
  psql -X -q -v ON_ERROR_STOP=1 -1 -f "$f" >/dev/null 2>&1 || { echo "$f failed" >&2; psql -X -q -v ON_ERROR_STOP=1 -1 -f "$f"; exit 1; }
done
q() { psql -X -q -At -v ON_ERROR_STOP=1 "$@"; }
echo "PostgreSQL $(q -c 'SHOW server_version'), $(nproc) cores (shared: figures are indicative), N=$n rows, M=$m, batch $batch"

# The rows: masks and ciphertext are fake (random bytes of the real sizes); create_date over
# the last 24 months, evenly; login_id in create_date order, as processing gives it.
t0=$(date +%s.%N)
q <<SQL
SET synchronous_commit = off;
INSERT INTO public.user_logins (login_id, user_id, device_type, masked_ip, masked_device_id, locale, app_version, create_date, message_id)
OVERRIDING SYSTEM VALUE
SELECT g, 'user-' || (g % 100000), 'android', md5(g::text) || md5((g + 1)::text), md5((g + 2)::text) || md5((g + 3)::text),
       'en_US', '2.3.' || (g % 10), (current_date - 730 + (g::bigint * 730 / $n)::int), 'bench-' || g
  FROM generate_series(1, $n) g;
INSERT INTO loginvault.user_login_originals (login_id, key_id, originals)
SELECT g, (SELECT min(key_id) FROM loginvault.keys WHERE purpose = 'data'), loginvault.gen_random_bytes(120) FROM generate_series(1, $n) g;
SELECT FROM setval(pg_get_serial_sequence('public.user_logins', 'login_id'), $n);
VACUUM ANALYZE public.user_logins;
VACUUM ANALYZE loginvault.user_login_originals;
CHECKPOINT;
SQL
t1=$(date +%s.%N)
printf 'generated %s logins and originals in %.1f s; user_logins %s, originals %s\n' "$n" "$(echo "$t1 - $t0" | bc)" \
  "$(q -c "SELECT pg_size_pretty(pg_total_relation_size('public.user_logins'))")" \
  "$(q -c "SELECT pg_size_pretty(pg_total_relation_size('loginvault.user_login_originals'))")"

# (b) first, on a partitioned copy (the same rows, monthly partitions), so (a) leaves the data as it found it.
q <<SQL
SET synchronous_commit = off;
CREATE TABLE bench_part (LIKE public.user_logins INCLUDING DEFAULTS) PARTITION BY RANGE (create_date);
DO \$\$
DECLARE d date := date_trunc('month', current_date - 760)::date;
BEGIN
  WHILE d <= current_date LOOP
    EXECUTE format('CREATE TABLE %I PARTITION OF bench_part FOR VALUES FROM (%L) TO (%L)',
                   'bench_part_' || to_char(d, 'YYYYMM'), d, (d + interval '1 month')::date);
    d := (d + interval '1 month')::date;
  END LOOP;
END \$\$;
CREATE INDEX ON bench_part (login_id);
INSERT INTO bench_part SELECT * FROM public.user_logins;
CHECKPOINT;
SQL
cutoff_month=$(q -c "SELECT to_char(date_trunc('month', current_date - 365), 'YYYYMM')")
read -r part_rows <<<"$(q -c "SELECT count(*) FROM bench_part WHERE create_date < to_date('$cutoff_month', 'YYYYMM')")"
lsn0=$(q -c "SELECT pg_current_wal_lsn()")
t0=$(date +%s.%N)
q -c "DO \$\$ DECLARE r record; BEGIN FOR r IN SELECT c.relname FROM pg_inherits i JOIN pg_class c ON c.oid = i.inhrelid
        WHERE i.inhparent = 'bench_part'::regclass AND c.relname < 'bench_part_$cutoff_month' LOOP
        EXECUTE format('DROP TABLE %I', r.relname); END LOOP; END \$\$"
t1=$(date +%s.%N)
wal=$(q -c "SELECT pg_wal_lsn_diff(pg_current_wal_lsn(), '$lsn0')")
printf '(b) partitions: DROP of the months before %s (%s rows): %.3f s, WAL %s bytes\n' "$cutoff_month" "$part_rows" "$(echo "$t1 - $t0" | bc)" "$wal"
q -c "DROP TABLE bench_part"

# Processing alone: M staged messages.
stage() {
  q -c "INSERT INTO public.raw_logins (message_id, body, sent_at)
        SELECT 'p$1-' || g, jsonb_build_object('user_id', 'u' || g, 'ip', '10.' || (g / 65536 % 256) || '.' || (g / 256 % 256) || '.' || (g % 256),
                                              'device_id', 'dev-' || g), now() FROM generate_series(1, $m) g"
}
process() { # prints seconds
  local s e; s=$(date +%s.%N); q -c "CALL public.process_raw_logins($batch)" >/dev/null 2>&1; e=$(date +%s.%N); echo "$e - $s" | bc
}
stage 1
alone=$(process)

# (a) the batched delete, with processing of another M messages running beside it.
q -c "UPDATE loginvault.retention SET keep_for = interval '365 days' WHERE what = 'user_logins'"
old=$(q -c "SELECT count(*) FROM public.user_logins WHERE create_date < (now() AT TIME ZONE 'UTC')::date - 365")
stage 2
q -c "CHECKPOINT"
lsn0=$(q -c "SELECT pg_current_wal_lsn()")
t0=$(date +%s.%N)
( q -c "CALL loginvault.apply_retention($batch)" >/dev/null 2>&1; date +%s.%N > "$dir/retention.end" ) &
sleep 0.5
beside=$(process)
wait
t1=$(cat "$dir/retention.end")
wal=$(q -c "SELECT pg_wal_lsn_diff(pg_current_wal_lsn(), '$lsn0')")
left=$(q -c "SELECT count(*) FROM public.user_logins WHERE create_date < (now() AT TIME ZONE 'UTC')::date - 365")
orphans=$(q -c "SELECT count(*) FROM loginvault.user_login_originals o WHERE NOT EXISTS (SELECT FROM public.user_logins u WHERE u.login_id = o.login_id)")
secs=$(echo "$t1 - $t0" | bc)
printf '(a) batched DELETE: %s old logins (and their originals) in %.1f s (%.0f rows/s), WAL %s bytes (with %s processed rows beside it); left %s, orphaned originals %s\n' \
  "$old" "$secs" "$(echo "$old / $secs" | bc -l)" "$wal" "$m" "$left" "$orphans"
printf 'processing %s messages: %.2f s alone, %.2f s while retention ran (ratio %.2f)\n' "$m" "$alone" "$beside" "$(echo "$beside / $alone" | bc -l)"
