#!/usr/bin/env bash
# make bench-sql, last part: process_raw_logins on 1 and on 2 sessions at once
# (`load --processing-sessions`), on the same N freshly staged messages, in the same
# run, BENCH_SESSION_ROUNDS rounds (5 by default) with the order alternating. Prints
# rows/s of each and the per-round ratio 2 sessions / 1 session, and their medians.
# Needs the environment bench/sql/run.sh sets (PG*, a migrated database).
set -euo pipefail
n=${BENCH_N:-100000}
batch=${BENCH_BATCH_SIZE:-10000}
rounds=${BENCH_SESSION_ROUNDS:-5}
q() { PGOPTIONS="-c client_min_messages=warning" psql -X -q -A -t -v ON_ERROR_STOP=1 "$@"; }

# N synthetic messages shaped like bench.sql's, under a fresh id prefix; then a checkpoint,
# so that neither side pays for the other's dirty pages.
stage() {
  q -v n="$n" -v prefix="$1" <<'SQL'
INSERT INTO public.raw_logins (message_id, body, sent_at, receive_count)
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
VACUUM ANALYZE public.raw_logins;
CHECKPOINT;
SQL
}

# Processes everything staged on $1 sessions at once; prints rows/s (wall clock, all sessions).
process() {
  local sessions=$1 started ended pids=()
  started=$(date +%s.%N)
  for _ in $(seq "$sessions"); do
    q -c "CALL public.process_raw_logins($batch)" >/dev/null &
    pids+=($!)
  done
  for pid in "${pids[@]}"; do wait "$pid"; done
  ended=$(date +%s.%N)
  left=$(q -c "SELECT count(*) FROM public.raw_logins")
  [ "$left" = 0 ] || { echo "sessions.sh: $left rows left staged" >&2; exit 1; }
  python3 -c "print(round($n / ($ended - $started)))"
}

# Leaves user_logins as small as before, so that every round inserts into the same indexes.
clean() {
  q -c "DELETE FROM public.user_logins WHERE message_id LIKE 'sess-%'" \
    -c "DELETE FROM public.rejected_logins WHERE message_id LIKE 'sess-%'" \
    -c "VACUUM public.user_logins, public.rejected_logins, loginvault.user_login_originals" >/dev/null
}

one=() two=()
for r in $(seq "$rounds"); do
  if [ $((r % 2)) = 1 ]; then order="1 2"; else order="2 1"; fi
  for s in $order; do
    stage "sess-$r-$s-"
    rate=$(process "$s")
    clean
    if [ "$s" = 1 ]; then one+=("$rate"); else two+=("$rate"); fi
  done
  echo "sessions round $r/$rounds: 1 session ${one[-1]} rows/s, 2 sessions ${two[-1]} rows/s"
done
python3 - "${one[*]}" "${two[*]}" "$(nproc)" "$(cut -d' ' -f1 /proc/loadavg)" <<'PY'
import statistics, sys
one = [float(x) for x in sys.argv[1].split()]
two = [float(x) for x in sys.argv[2].split()]
ratios = [b / a for a, b in zip(one, two)]
print()
print(f"process_raw_logins on 1 and 2 sessions at once ({len(one)} rounds, {sys.argv[3]} cores, load average {sys.argv[4]} at end)")
print(f"  1 session : median {statistics.median(one):,.0f} rows/s ({min(one):,.0f}-{max(one):,.0f})")
print(f"  2 sessions: median {statistics.median(two):,.0f} rows/s ({min(two):,.0f}-{max(two):,.0f})")
print(f"  2 sessions / 1 session: median of rounds {statistics.median(ratios):.2f}x "
      f"({min(ratios):.2f}-{max(ratios):.2f}; of medians {statistics.median(two) / statistics.median(one):.2f}x) (target >= 1.6x)")
PY
