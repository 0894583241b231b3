#!/usr/bin/env bash
# Runs a command with a fresh private PostgreSQL cluster and fresh moto_servers,
# all on 127.0.0.1, and stops (and deletes) them afterwards, whatever happens.
#
#   with-servers.sh COMMAND [ARGS...]
#
# The command sees PG* variables (see pg-cluster.sh) and LOGINVAULT_TEST_SQS_*
# (see moto.sh). The cluster preloads pg_cron, for the scheduling tests.
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
run_dir="$(pwd)/.build/local/run-$$"

cleanup() {
  "$here/moto.sh" stop "$run_dir/sqs" || true
  "$here/pg-cluster.sh" destroy "$run_dir/pg" || true
  rm -rf "$run_dir"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

PG_EXTRA_CONF="shared_preload_libraries = 'pg_cron'
cron.database_name = 'loginvault_test'" "$here/pg-cluster.sh" start "$run_dir/pg"
"$here/moto.sh" start "$run_dir/sqs"
# shellcheck disable=SC1091
source "$run_dir/pg/env"
# shellcheck disable=SC1091
source "$run_dir/sqs/env"
export LOGINVAULT_TEST_RUN_DIR="$run_dir"
"$@"
