#!/usr/bin/env bash
# Prints the chaos figures table (markdown) from the JSON files the chaos scenarios wrote.
#
#   chaos-report.sh FIGURES_DIR [SQS_ENDPOINT] [SECONDS]
#
# The last two columns come from the security suite when it has left its figures in
# LOGINVAULT_SECURITY_FIGURES (default .build/local/security/figures.json):
#   {"hostile_cases": 148, "security_checks_passed": 1656, "failed": [], "breakdown": [...]}
# (scripts/security-suite.sh writes it; `make chaos` runs that), otherwise they read "n/a".
set -euo pipefail
dir=${1:?usage: chaos-report.sh FIGURES_DIR [SQS_ENDPOINT] [SECONDS]}
root=$(cd "$(dirname "$0")/.." && pwd)
security=${LOGINVAULT_SECURITY_FIGURES:-$root/.build/local/security/figures.json}
python3 - "$dir" "${2:-}" "${3:-}" "$security" <<'PY'
import datetime, json, os, sys
directory, endpoint, seconds, security_file = sys.argv[1:5]
order = ["crash-loop", "db-restart", "sqs-faults", "concurrency", "soak"]
rows = {}
for name in os.listdir(directory):
    if name.endswith(".json"):
        with open(os.path.join(directory, name)) as f:
            figure = json.load(f)
        rows[figure["scenario"]] = figure
security = {}
if os.path.exists(security_file):
    with open(security_file) as f:
        security = json.load(f)
cols = ["messages sent", "user rows", "rejects", "lost", "duplicated", "crashes survived",
        "restarts survived", "faults injected", "hostile cases", "security checks passed"]
keys = ["sent", "user_rows", "rejects", "lost", "duplicated", "crashes", "restarts", "faults"]
profile = next(iter(rows.values()))["profile"] if rows else "?"
when = datetime.datetime.now(datetime.timezone.utc).strftime("%Y-%m-%d %H:%M UTC")
print(f"Chaos figures ({profile} profile, {when}" + (f", SQS {endpoint}" if endpoint else "")
      + (f", {int(seconds) // 60} min {int(seconds) % 60} s" if seconds else "") + ")")
print()
print("| scenario | " + " | ".join(cols) + " |")
print("|---|" + "---:|" * len(cols))
total = {k: 0 for k in keys}
for scenario in order + sorted(set(rows) - set(order)):
    figure = rows.get(scenario)
    if figure is None:
        print(f"| {scenario} | " + " | ".join(["not run"] + [""] * (len(cols) - 1)) + " |")
        continue
    for k in keys:
        total[k] += figure.get(k, 0)
    print(f"| {scenario} | " + " | ".join(str(figure.get(k, 0)) for k in keys) + " | | |")
hostile = security.get("hostile_cases", "n/a")
checks = security.get("security_checks_passed", "n/a")
print("| **total** | " + " | ".join(f"**{total[k]}**" for k in keys) + f" | {hostile} | {checks} |")
print()
for scenario in order:
    figure = rows.get(scenario)
    if figure:
        print(f"- {scenario}: {figure['seconds']:.0f} s, seed {figure['seed']}; " + "; ".join(figure.get("notes", [])))
if not security:
    print(f"- hostile cases / security checks: n/a here (the security suite writes {os.path.relpath(security_file)})")
else:
    for b in security.get("breakdown", []):
        print(f"- {'' if b['passed'] else 'FAILED: '}{b['checks']} checks: {b['what']} ({b['source']}: {b['test']})")
    if security.get("failed"):
        print(f"- security suite FAILURES: {', '.join(security['failed'])}")
missing = [s for s in order if s not in rows]
if missing:
    print(f"- not run or failed before recording: {', '.join(missing)}")
PY
