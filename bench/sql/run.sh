#!/usr/bin/env bash
# make bench-sql: a fresh private PostgreSQL cluster, the migrations, then
# bench/sql/bench.sql (N=100000 by default), printing rows/s and the ratio
# of the procedure to a bare crypto INSERT ... SELECT measured in the same run.
# Asserts nothing about timings. BENCH_N and BENCH_BATCH_SIZE override.
# BENCH_FLOOR_PARTS=1 also prints what each part of the floor costs
# (bench/sql/floor_parts.py; BENCH_ROUNDS rounds, 5 by default; ~3 min more).
# Then bench/sql/sessions.sh, on a second, fresh database in the symmetric mode
# (bench.sql leaves its own in the public-key mode): the procedure, the floor and
# an HMAC-only query on 1 and on 2 sessions at once (BENCH_SESSION_ROUNDS rounds,
# 5 by default; BENCH_SESSIONS=0 skips it).
set -euo pipefail
cd "$(dirname "$0")/../.."
dir="$(pwd)/.build/local/bench-sql-$$"
trap 'scripts/pg-cluster.sh destroy "$dir" >/dev/null 2>&1 || true' EXIT
trap 'exit 130' INT TERM

scripts/pg-cluster.sh start "$dir"
# shellcheck disable=SC1091
source "$dir/env"
# A new database $1 with loginvault installed (symmetric originals, the default).
new_database() {
  psql -X -q -d postgres -v ON_ERROR_STOP=1 -c "CREATE DATABASE $1"
  for f in sql/migrations/*.sql sql/definitions/*.sql; do
    PGDATABASE=$1 psql -X -q -v ON_ERROR_STOP=1 -1 -f "$f" >/dev/null 2>&1 ||
      { echo "$f failed" >&2; PGDATABASE=$1 psql -X -q -v ON_ERROR_STOP=1 -1 -f "$f"; exit 1; }
  done
}
export PGDATABASE=loginvault_bench
new_database loginvault_bench
echo "PostgreSQL $(psql -XAtc 'SHOW server_version'), $(nproc) cores, fsync=$(psql -XAtc 'SHOW fsync'), N=${BENCH_N:-100000}"
# The public-key mode's row (bench.sql, 3b) needs a PGP public key: an RSA 2048
# pair from gpg --batch, made here and removed on exit.
keydir="$dir-key"
trap 'scripts/pg-cluster.sh destroy "$dir" >/dev/null 2>&1 || true; rm -rf "$keydir"' EXIT
pub_args=()
if command -v gpg >/dev/null; then
  pub_args=(-v pub="$(Tests/sql/support/test-key.sh "$keydir" public)")
else
  echo "gpg is not installed: the public-key mode row is skipped (make deps installs gnupg)" >&2
fi
psql -X -q -v ON_ERROR_STOP=1 -v n="${BENCH_N:-100000}" -v batch_size="${BENCH_BATCH_SIZE:-10000}" "${pub_args[@]}" -f bench/sql/bench.sql
if [ "${BENCH_SESSIONS:-1}" = 1 ]; then
  # bench.sql leaves its database in the public-key mode (3b): the sessions run on a fresh
  # install in the default, symmetric mode, which the floor is written for.
  new_database loginvault_sessions
  PGDATABASE=loginvault_sessions bench/sql/sessions.sh
fi
if [ "${BENCH_FLOOR_PARTS:-0}" = 1 ]; then
  python3 bench/sql/floor_parts.py
fi
