#!/usr/bin/env bash
# The full chaos profile of issue 6 (docs/reliability.md), then its figures table.
# `make chaos` runs it under scripts/with-servers.sh (a private PostgreSQL and moto on
# 127.0.0.1); the SQS side of the full profile is LocalStack:
#
#   LOGINVAULT_CHAOS_SQS_ENDPOINT   the LocalStack SQS endpoint; if unset, the
#                                   AWS_ENDPOINT_URL_SQS / LOCALSTACK_ENDPOINT that
#                                   .build/local/localstack/env exports (make localstack-up),
#                                   else http://127.0.0.1:4566 if LocalStack answers there.
#                                   `moto` uses the moto of with-servers.sh instead (to try
#                                   the full profile's logic with smaller sizes, see below).
#   LOGINVAULT_CHAOS_<KNOB>         sizes, e.g. CRASH_MESSAGES=2000 CRASH_KILLS=5 SOAK_SECONDS=90
#   LOGINVAULT_CHAOS_SEED           replay the random choices of a run
#
# Then the security suite (scripts/security-suite.sh) for the table's last two columns.
# The figures go to .build/local/chaos/ (one JSON per scenario, table.md); the table is
# printed last. The exit status is the tests'.
set -uo pipefail
here=$(cd "$(dirname "$0")" && pwd)
root=$(cd "$here/.." && pwd)
figures=${LOGINVAULT_CHAOS_FIGURES_DIR:-$root/.build/local/chaos}

endpoint=${LOGINVAULT_CHAOS_SQS_ENDPOINT:-}
if [ -z "$endpoint" ] && [ -f "$root/.build/local/localstack/env" ]; then
  endpoint=$( # shellcheck disable=SC1091
    source "$root/.build/local/localstack/env" >/dev/null 2>&1
    echo "${LOCALSTACK_ENDPOINT:-${AWS_ENDPOINT_URL_SQS:-${LOGINVAULT_LOCALSTACK_ENDPOINT:-}}}")
fi
if [ -z "$endpoint" ] && curl -fsS -m 2 http://127.0.0.1:4566/_localstack/health >/dev/null 2>&1; then
  endpoint=http://127.0.0.1:4566
fi
if [ "$endpoint" = moto ]; then
  endpoint=${LOGINVAULT_TEST_SQS_ENDPOINT:?moto is not running (run under scripts/with-servers.sh)}
fi
if [ -z "$endpoint" ]; then
  cat >&2 <<'MSG'
make chaos: no LocalStack SQS endpoint.
  The full chaos profile runs 20,000-message queues, which moto cannot serve in reasonable time.
  Start LocalStack with `make localstack-up` (branch `bench`: localstack-core in a Python >= 3.12
  venv under .build/local/), or set LOGINVAULT_CHAOS_SQS_ENDPOINT=http://127.0.0.1:4566.
  To try the full profile's logic on moto with smaller sizes:
    LOGINVAULT_CHAOS_SQS_ENDPOINT=moto LOGINVAULT_CHAOS_CRASH_MESSAGES=1000 ... make chaos
MSG
  exit 2
fi
if ! curl -sS -m 5 -o /dev/null "$endpoint" 2>/dev/null; then
  echo "make chaos: nothing answers at $endpoint (LOGINVAULT_CHAOS_SQS_ENDPOINT)" >&2
  exit 2
fi

rm -rf "$figures"
mkdir -p "$figures"
echo "== chaos, full profile: SQS at $endpoint, PostgreSQL at ${PGHOST:-?}:${PGPORT:-?}"
export LOGINVAULT_REQUIRE_INTEGRATION=1 LOGINVAULT_CHAOS_PROFILE=full
export LOGINVAULT_CHAOS_SQS_ENDPOINT=$endpoint LOGINVAULT_CHAOS_FIGURES_DIR=$figures
started=$(date +%s)
swift test --skip-build --filter ChaosTests 2>&1 | grep -Ev '^\[[0-9]+/[0-9]+\]'
status=${PIPESTATUS[0]}
echo
# The last two columns: the hostile corpus and the security suite (on moto and the same cluster).
security=${LOGINVAULT_SECURITY_FIGURES:-$root/.build/local/security/figures.json}
rm -f "$security"
LOGINVAULT_SECURITY_FIGURES=$security "$here/security-suite.sh" || status=1
echo
"$here/chaos-report.sh" "$figures" "$endpoint" $(( $(date +%s) - started )) | tee "$figures/table.md"
exit "$status"
