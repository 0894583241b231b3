#!/usr/bin/env bash
# The security suite and the hostile-input corpus of issue 6, with their figures.
# Runs under scripts/with-servers.sh (a private PostgreSQL and moto on 127.0.0.1):
#
#   * the Swift suites: the hostile corpus through the real path (moto -> load ->
#     user_logins / rejected_logins), no plaintext at rest (pg_dump), secrets absent
#     from ps / logs / pg_stat_activity / a log_statement=all server log, TLS verify-full,
#     the public-key originals mode (a restored pg_dump decrypts nothing) and audited reveals;
#   * the pgTAP security files: roles, reveal and its audit, the catalog-driven
#     privilege matrix, masks that resist enumeration, the public-key mode.
#
# Writes $LOGINVAULT_SECURITY_FIGURES (default .build/local/security/figures.json):
#   {"hostile_cases": N, "security_checks_passed": N, "failed": [...], "breakdown": [...]}
# which scripts/chaos-report.sh puts in the last two columns of the chaos table.
# A check counts only if the test that made it passed. Exit status: non-zero if any failed.
set -uo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
cd "$root"
out=${LOGINVAULT_SECURITY_FIGURES:-$root/.build/local/security/figures.json}
work=$(dirname "$out")/work
rm -rf "$work"
mkdir -p "$work/swift"
bin=$(swift build --show-bin-path)
export LOGINVAULT_REQUIRE_INTEGRATION=1 LOGINVAULT_SECURITY_FIGURES_DIR="$work/swift"
status=0

echo "== security suite: Swift (hostile corpus, plaintext at rest, secrets, TLS)"
swift test --skip-build --filter 'HostileCorpusTests|PlaintextAtRestTests|SecretsTests|TransportTests|PublicKeyOriginalsTests' \
  >"$work/swift.log" 2>&1 || status=1
grep -E '^(✔|✘|􀟈|􁁛|􀢄) |passed after|failed after|recorded an issue' "$work/swift.log" | grep -Ev '^\[' | tail -20

echo "== security suite: pgTAP (roles, reveal, privilege matrix, mask enumeration)"
db=loginvault_security
PGOPTIONS="-c client_min_messages=warning" psql -qX -v ON_ERROR_STOP=1 \
  -c "DROP DATABASE IF EXISTS $db" -c "CREATE DATABASE $db" >/dev/null || status=1
if "$bin/loginvault" migrate --database "dbname=$db" --migrations-dir sql/migrations --log-level warning >/dev/null \
   && psql -qX -d "$db" -v ON_ERROR_STOP=1 -c 'CREATE EXTENSION IF NOT EXISTS pgtap' >/dev/null; then
  PGDATABASE=$db pg_prove --verbose --ext .sql Tests/sql/roles.sql Tests/sql/reveal.sql \
    Tests/sql/privileges.sql Tests/sql/mask_enumeration.sql Tests/sql/public_key_originals.sql >"$work/pgtap.log" 2>&1 || status=1
  grep -E '^(Tests/|Files=|Result:)|^# privilege matrix|^not ok' "$work/pgtap.log"
else
  echo "could not prepare $db for pgTAP" >&2
  status=1
fi
psql -qX -c "DROP DATABASE IF EXISTS $db" >/dev/null 2>&1 || true

python3 - "$work" "$out" <<'PY'
import glob, json, os, re, sys
work, out = sys.argv[1:3]
swift_log = open(os.path.join(work, "swift.log"), encoding="utf-8", errors="replace").read()
passed_tests = set(re.findall(r"Test (\w+\(\)) passed after", swift_log))
failed = sorted(set(re.findall(r"Test (\w+\(\)) failed after", swift_log)))
hostile, security, breakdown = 0, 0, []
for path in sorted(glob.glob(os.path.join(work, "swift", "*.json"))):
    figure = json.load(open(path))
    ok = figure["test"] in passed_tests
    breakdown.append({"source": "swift", "test": figure["test"], "what": figure["what"],
                      "checks": figure["checks"], "passed": ok})
    if ok:
        if figure["kind"] == "hostile":
            hostile += figure["checks"]
        else:
            security += figure["checks"]
# pgTAP: every assertion of a file that passed; the privilege matrix's assertions
# each cover many attempts, so its attempts are counted instead of its assertions.
pgtap_log = open(os.path.join(work, "pgtap.log"), encoding="utf-8", errors="replace").read() \
    if os.path.exists(os.path.join(work, "pgtap.log")) else ""
for name in ["roles", "reveal", "privileges", "mask_enumeration", "public_key_originals"]:
    section = re.search(r"Tests/sql/%s\.sql \.*\s*\n(.*?)(?=\nTests/sql/|\nAll tests|\nTest Summary|\Z)" % name,
                        pgtap_log, re.S)
    text = section.group(1) if section else ""
    oks = len(re.findall(r"^ok \d+", text, re.M))
    nots = len(re.findall(r"^not ok \d+", text, re.M))
    ok = bool(section) and nots == 0 and oks > 0
    matrix = re.search(r"# privilege matrix: (\d+) attempts tried by (\d+) roles", text)
    if name == "privileges" and matrix:
        # One assertion per role covers that role's attempts: count the attempts instead.
        attempts, roles = int(matrix.group(1)), int(matrix.group(2))
        checks, what = attempts + (oks - roles), \
            f"privilege matrix: {attempts} attempts by {roles} roles, each allowed or permission denied as specified, and {oks - roles} catalog checks"
    else:
        checks, what = oks, f"pgTAP assertions of Tests/sql/{name}.sql"
    breakdown.append({"source": "pgtap", "test": name, "what": what, "checks": checks, "passed": ok})
    if ok:
        security += checks
    else:
        failed.append(f"Tests/sql/{name}.sql")
for expected in ["everyCaseEndsAsExpectedThroughTheRealPath()"]:
    if not any(b["test"] == expected for b in breakdown):
        failed.append(f"{expected} recorded no figures")
figures = {"hostile_cases": hostile, "security_checks_passed": security, "failed": failed, "breakdown": breakdown}
os.makedirs(os.path.dirname(out), exist_ok=True)
json.dump(figures, open(out, "w"), indent=2)
print(f"hostile cases ended as expected: {hostile}; security checks passed: {security}"
      + (f"; FAILED: {', '.join(failed)}" if failed else ""))
for b in breakdown:
    print(f"  {'ok ' if b['passed'] else 'NOT'} {b['checks']:>6}  {b['what']}")
sys.exit(1 if failed else 0)
PY
[ $? -eq 0 ] || status=1
exit $status
