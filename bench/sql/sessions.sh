#!/usr/bin/env bash
# make bench-sql, last part: process_raw_logins on 1 and on 2 sessions at once
# (`load --processing-sessions`), on the same N freshly staged messages, in the same
# run, BENCH_SESSION_ROUNDS rounds (5 by default) with the order alternating. Prints
# rows/s of each and the per-round ratio 2 sessions / 1 session, and their medians.
# Beside it, in the same rounds, what this machine lets 2 sessions gain at all:
#   - the floor (bench.sql 2c, bench/sql/floor_batches.sql) on 1 and 2 sessions: the
#     contract's minimum writes, so the best 2-session ratio any procedure can reach here;
#   - CPU only: the same HMAC per row with no write, no lock and no WAL, on 1 and 2
#     sessions: how much a second backend gets from the second core.
# Needs the environment bench/sql/run.sh sets (PG*, a migrated database).
set -euo pipefail
n=${BENCH_N:-100000}
batch=${BENCH_BATCH_SIZE:-10000}
rounds=${BENCH_SESSION_ROUNDS:-5}
q() { PGOPTIONS="-c client_min_messages=warning" psql -X -q -A -t -v ON_ERROR_STOP=1 "$@"; }

# N synthetic messages shaped like bench.sql's, under a fresh id prefix; then a checkpoint,
# so that neither side pays for the other's dirty pages.
stage() {
  q -v n="$n" -v prefix="$1" -v table="${2:-public.raw_logins}" <<'SQL'
INSERT INTO :table (message_id, body, sent_at, receive_count)
SELECT :'prefix' || i,
       CASE WHEN i % 100 = 0 THEN json_build_object('foo', 'oops_wrong_msg_type', 'bar', i::text)
            ELSE json_build_object(
              'user_id', md5(:'prefix' || i)::uuid,
              'app_version', (i % 10) || '.' || (i % 7) || '.' || (i % 3),
              'device_type', CASE WHEN i % 2 = 0 THEN 'ios' ELSE 'android' END,
              'ip', (hashint4(i) & 255) || '.' || (hashint4(i + 1) & 255) || '.' || (hashint4(i + 2) & 255) || '.' || (i % 256),
              'locale', CASE WHEN i % 10 < 3 THEN NULL ELSE 'FR' END,
              'device_id', lpad((i % 1000)::text, 3, '0') || '-' || lpad((i % 97)::text, 2, '0') || '-' || lpad((i % 10000)::text, 4, '0'))
       END::jsonb, now() - interval '1 hour', 1
  FROM generate_series(1, :n) i;
VACUUM ANALYZE :table;
CHECKPOINT;
SQL
}

# Runs the psql arguments "$@" on $1 sessions at once; prints N rows / wall clock (all sessions).
on_sessions() {
  local sessions=$1 started ended pids=()
  shift
  started=$(date +%s.%N)
  for _ in $(seq "$sessions"); do
    q "$@" >/dev/null &
    pids+=($!)
  done
  for pid in "${pids[@]}"; do wait "$pid"; done
  ended=$(date +%s.%N)
  python3 -c "print(round($n / ($ended - $started)))"
}

# Processes everything staged on $1 sessions at once; prints rows/s.
process() {
  on_sessions "$1" -c "CALL public.process_raw_logins($batch)"
  left=$(q -c "SELECT count(*) FROM public.raw_logins")
  [ "$left" = 0 ] || { echo "sessions.sh: $left rows left staged" >&2; exit 1; }
}

# The floor's batches on $1 sessions over bench_floor_raw (staged by the caller); prints rows/s.
floor() {
  on_sessions "$1" -c "SET bench.batch_size = $batch" -f "$(dirname "$0")/floor_batches.sql"
  left=$(q -c "SELECT count(*) FROM bench_floor_raw")
  [ "$left" = 0 ] || { echo "sessions.sh: $left floor rows left" >&2; exit 1; }
  q -c "TRUNCATE bench_floor_logins, bench_floor_originals" >/dev/null
}

# N HMACs split over $1 sessions, nothing written; prints rows/s.
cpu_only() {
  local per=$((n / $1))
  on_sessions "$1" -c "SELECT count(loginvault.mask('ip', g::text, k)) FROM generate_series(1, $per) g, (SELECT loginvault.mask_key() AS k) x"
}

# Leaves user_logins as small as before, so that every round inserts into the same indexes.
clean() {
  q -c "DELETE FROM public.user_logins WHERE message_id LIKE 'sess-%'" \
    -c "DELETE FROM public.rejected_logins WHERE message_id LIKE 'sess-%'" \
    -c "VACUUM public.user_logins, public.rejected_logins, loginvault.user_login_originals" >/dev/null
}

q <<'SQL' >/dev/null
DROP TABLE IF EXISTS bench_floor_raw, bench_floor_logins, bench_floor_originals;
CREATE TABLE bench_floor_raw (LIKE public.raw_logins INCLUDING ALL);
CREATE TABLE bench_floor_logins (LIKE public.user_logins INCLUDING ALL);
CREATE TABLE bench_floor_originals (LIKE loginvault.user_login_originals INCLUDING ALL);
SQL
trap 'q -c "DROP TABLE IF EXISTS bench_floor_raw, bench_floor_logins, bench_floor_originals" >/dev/null 2>&1 || true' EXIT

one=() two=() floor_one=() floor_two=() cpu_one=() cpu_two=()
for r in $(seq "$rounds"); do
  if [ $((r % 2)) = 1 ]; then order="1 2"; else order="2 1"; fi
  for s in $order; do
    stage "sess-$r-$s-"
    rate=$(process "$s")
    clean
    stage "floor-$r-$s-" bench_floor_raw
    floor_rate=$(floor "$s")
    cpu_rate=$(cpu_only "$s")
    if [ "$s" = 1 ]; then one+=("$rate"); floor_one+=("$floor_rate"); cpu_one+=("$cpu_rate")
    else two+=("$rate"); floor_two+=("$floor_rate"); cpu_two+=("$cpu_rate"); fi
  done
  echo "sessions round $r/$rounds: procedure ${one[-1]} -> ${two[-1]} rows/s, floor ${floor_one[-1]} -> ${floor_two[-1]}, CPU only ${cpu_one[-1]} -> ${cpu_two[-1]} (1 -> 2 sessions)"
done
python3 - "${one[*]}" "${two[*]}" "${floor_one[*]}" "${floor_two[*]}" "${cpu_one[*]}" "${cpu_two[*]}" "$(nproc)" "$(cut -d' ' -f1 /proc/loadavg)" <<'PY'
import statistics, sys
def floats(arg): return [float(x) for x in arg.split()]
rows = [("process_raw_logins", floats(sys.argv[1]), floats(sys.argv[2]), " (target >= 1.6x)"),
        ("the floor", floats(sys.argv[3]), floats(sys.argv[4]), ": the best any procedure keeping the contract can do here"),
        ("CPU only (HMAC, no write)", floats(sys.argv[5]), floats(sys.argv[6]), ": what a second backend gets from the second core")]
print()
print(f"1 and 2 sessions at once ({len(rows[0][1])} rounds, {sys.argv[7]} cores, load average {sys.argv[8]} at end)")
for name, one, two, note in rows:
    ratios = [b / a for a, b in zip(one, two)]
    print(f"  {name}: 1 session median {statistics.median(one):,.0f} rows/s ({min(one):,.0f}-{max(one):,.0f}), "
          f"2 sessions {statistics.median(two):,.0f} ({min(two):,.0f}-{max(two):,.0f})")
    print(f"    2 sessions / 1 session: median of rounds {statistics.median(ratios):.2f}x "
          f"({min(ratios):.2f}-{max(ratios):.2f}; of medians {statistics.median(two) / statistics.median(one):.2f}x){note}")
PY
