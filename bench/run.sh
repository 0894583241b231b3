#!/usr/bin/env bash
# make bench: build loginvault (release), start a private PostgreSQL and
# LocalStack (SQS, no Docker) on 127.0.0.1, run bench/run.py, stop both.
# Knobs (environment): BENCH_ROUNDS, BENCH_E2E_N, BENCH_LATENCY_N,
# BENCH_LATENCY_ROUNDS, BENCH_DELAY_MS, BENCH_FILE_N, BENCH_FILE_SMALL_N,
# BENCH_FILE_ROUNDS; see bench/run.py and docs/benchmarks.md.
set -euo pipefail
cd "$(dirname "$0")/.."
root=$(pwd)
work=$root/.build/local/bench
pgdir=$work/pg-$$
lsdir=$work/localstack-$$
mkdir -p "$work"

cleanup() {
  scripts/localstack.sh stop "$lsdir" >/dev/null 2>&1 || true
  scripts/pg-cluster.sh destroy "$pgdir" >/dev/null 2>&1 || true
  rm -rf "$lsdir"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

if [ -z "${BENCH_LOGINVAULT_BIN:-}" ]; then
  echo "Building loginvault (release)..."
  swift build -c release --product loginvault 2>&1 | grep -Ev '^\[[0-9]+/[0-9]+\]|^Compiling|^Building|^Write' || true
fi
bin=${BENCH_LOGINVAULT_BIN:-"$(swift build -c release --show-bin-path)/loginvault"}  # given: that build, not rebuilt (compare builds)
test -x "$bin"

scripts/localstack.sh install
scripts/pg-cluster.sh start "$pgdir"
scripts/localstack.sh start "$lsdir"
# shellcheck disable=SC1091
source "$pgdir/env"
# shellcheck disable=SC1091
source "$lsdir/env"
echo "PostgreSQL $(psql -XAtc 'SHOW server_version') on $PGPORT, LocalStack on $LOCALSTACK_ENDPOINT"

export BENCH_DATABASE=loginvault_bench
psql -X -q -d postgres -v ON_ERROR_STOP=1 -c "CREATE DATABASE $BENCH_DATABASE"
"$bin" migrate --database "dbname=$BENCH_DATABASE" --migrations-dir sql/migrations --log-level warning >/dev/null

LOGINVAULT_BIN=$bin BENCH_DIR=$work "$BENCH_PYTHON" bench/run.py
