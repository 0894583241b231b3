#!/usr/bin/env bash
# The main job, end to end, on the local default: a private PostgreSQL and a
# moto SQS server (both started by `make demo`). Creates the queue, seeds it
# with the sample, migrates a fresh database, loads the queue, and prints what
# landed. Run through `make demo`.
set -euo pipefail
: "${LOGINVAULT_BIN:?run through make demo}"
: "${LOGINVAULT_TEST_SQS_ENDPOINT:?run through make demo}"
db=loginvault_demo
export AWS_ACCESS_KEY_ID=${AWS_ACCESS_KEY_ID:-demo} AWS_SECRET_ACCESS_KEY=${AWS_SECRET_ACCESS_KEY:-demo}
export AWS_REGION=${AWS_REGION:-us-east-1}
export AWS_ENDPOINT_URL_SQS=$LOGINVAULT_TEST_SQS_ENDPOINT

echo "== A fresh database: $db"
psql -qX -v ON_ERROR_STOP=1 -c "DROP DATABASE IF EXISTS $db WITH (FORCE)" -c "CREATE DATABASE $db" 2>/dev/null

echo "== The queue: login-queue, seeded with examples/login-queue-sample.json"
python3 scripts/seed-queue.py --purge --queue login-queue examples/login-queue-sample.json

echo "== loginvault migrate"
"$LOGINVAULT_BIN" migrate --database "dbname=$db" --log-level warning

if ! "$LOGINVAULT_BIN" load --help >/dev/null 2>&1; then
  echo "== loginvault load is not built yet: stopping after migrate."
  exit 0
fi
echo "== loginvault load --drain"
"$LOGINVAULT_BIN" load --database "dbname=$db" --queue login-queue --drain

echo "== user_logins (first 10 of $(psql -qAtX -d $db -c 'SELECT count(*) FROM user_logins'))"
psql -qX -d $db -c "SELECT * FROM user_logins ORDER BY login_id LIMIT 10"
echo "== rejected_logins"
psql -qX -d $db -c "SELECT message_id, reason, rejected_at FROM rejected_logins"
echo "The servers keep running: 'make psql' to look around (database $db), 'make down' to stop them."
