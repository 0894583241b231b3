#!/usr/bin/env bash
# Runs every test suite against the servers that with-servers.sh started:
# the Swift tests (swift test), the upgrade test (Tests/upgrade), the
# managed-database test (Tests/managed: pgcrypto already installed, and the
# privilege matrix again under a non-superuser owner) and the SQL tests
# (pgTAP, by pg_prove).
# Every suite runs even when an earlier one fails; a closing summary names the
# failed suites and Swift tests, and the exit status is non-zero if any failed.
set -uo pipefail
export LOGINVAULT_REQUIRE_INTEGRATION=1
bin=$(swift build --show-bin-path)
failed=()   # the steps that failed, named again at the very end (CI shows the tail of the output)
fail() { failed+=("$1"); }
swiftlog=$(mktemp)
trap 'rm -f "$swiftlog"' EXIT

# One test at a time: many suites drive real loaders against the one moto_server and the
# one cluster, and in parallel on a 2-core machine they starved each other's timeouts
# (in-process fakes missing their deadlines, long polls answered late, heartbeats late).
echo "== Swift tests (swift test --no-parallel)"
swift test --skip-build --no-parallel --skip ChaosTests 2>&1 | grep -Ev '^\[[0-9]+/[0-9]+\]' | tee -a "$swiftlog" || fail "Swift tests"

# On its own afterwards: its loaders, restarts and faults load the machine and moto,
# which would upset the timing-sensitive tests above. `make chaos` runs the full profile.
echo "== Chaos, quick profile (swift test --filter ChaosTests)"
swift test --skip-build --filter ChaosTests 2>&1 | grep -Ev '^\[[0-9]+/[0-9]+\]' | tee -a "$swiftlog" || fail "Chaos, quick profile"

echo "== Upgrade equals fresh (Tests/upgrade)"
Tests/upgrade/upgrade_equals_fresh.sh "$bin/loginvault" || fail "Upgrade equals fresh"

# The Dockerfile's build step, on the host: make install lays out bin/ and share/loginvault/sql,
# and the installed binary finds its migrations there (not in this source tree).
echo "== make install (the Dockerfile's build step)"
prefix=$(mktemp -d)
installdb=loginvault_install_check
psql -qX -c "DROP DATABASE IF EXISTS $installdb" -c "CREATE DATABASE $installdb" >/dev/null 2>&1 || fail "make install (its database)"
if make --no-print-directory install INSTALL_CONFIG=debug PREFIX="$prefix" >/dev/null \
   && [ -x "$prefix/bin/loginvault" ] && [ -f "$prefix/share/loginvault/sql/jobs/process_raw_logins.sql" ] \
   && (cd / && env -u LOGINVAULT_MIGRATIONS_DIR "$prefix/bin/loginvault" migrate --database "dbname=$installdb" --log-level warning >/dev/null \
       && env -u LOGINVAULT_MIGRATIONS_DIR "$prefix/bin/loginvault" migrate --database "dbname=$installdb" --log-level warning) \
      | grep -q "$prefix/share/loginvault/sql"; then
  echo "ok: make install PREFIX=$prefix, and the installed loginvault migrates from $prefix/share/loginvault/sql"
else
  echo "make install did not give a working layout in $prefix" >&2
  fail "make install"
fi
psql -qX -c "DROP DATABASE IF EXISTS $installdb" >/dev/null 2>&1 || true
rm -rf "$prefix"

echo "== Managed PostgreSQL: pgcrypto elsewhere, a non-superuser owner (Tests/managed)"
Tests/managed/managed_postgres.sh "$bin/loginvault" || fail "Managed PostgreSQL"

echo "== SQL tests (pgTAP, pg_prove)"
db=loginvault_test
PGOPTIONS="-c client_min_messages=warning" psql -qX -v ON_ERROR_STOP=1 -c "DROP DATABASE IF EXISTS $db" -c "CREATE DATABASE $db" >/dev/null || fail "SQL tests (their database)"
if "$bin/loginvault" migrate --database "dbname=$db" --migrations-dir sql/migrations --log-level warning >/dev/null \
   && psql -qX -d "$db" -v ON_ERROR_STOP=1 -c 'CREATE EXTENSION IF NOT EXISTS pgtap' >/dev/null; then
  PGDATABASE=$db pg_prove --failures --ext .sql --recurse Tests/sql || fail "SQL tests"
else
  echo "could not prepare $db for pgTAP" >&2
  fail "SQL tests (setup)"
fi

echo "== Summary"
if [ ${#failed[@]} -eq 0 ]; then
  echo "every suite passed"
  exit 0
fi
printf 'FAILED: %s\n' "${failed[@]}"
# Swift Testing marks a failed test or issue with ✘, XCTest with "error:"; name them here.
grep -E '✘|: error: ' "$swiftlog" | head -40
exit 1
