#!/usr/bin/env python3
"""make bench: loginvault against references measured side by side, in one run.

Started by bench/run.sh, which builds loginvault (release), starts a private
PostgreSQL and LocalStack, and exports:
  LOGINVAULT_BIN, LOCALSTACK_ENDPOINT, PGHOST/PGPORT/PGUSER/PGPASSFILE, BENCH_DIR.

Rows (N and rounds from the environment, defaults below):
  1. SQS requests per message, full queue      loginvault's own count (queue_requests / received)
  2. end to end, queue -> user_logins           loginvault load --max-messages N (incl. CALL process_raw_logins)
                                                vs bench/reference_pool.py (receive 10 + batch delete 10 only)
  3. added round trip 0, 20 and 100 ms          loginvault load through bench/delay_proxy.py at each
                                                delay (the same proxy at 0 ms), in the same round:
                                                throughput at 20 and 100 ms against 0 ms, and
                                                requests per message at each; then, at 20 ms,
                                                against bench/seed_loader.py (the seed-style loader)
  4. staging path, file                         loginvault load --from-file (1M JSON lines, --no-process)
                                                vs psql \\copy of the same lines into an equivalent table
  5. peak RSS                                   loginvault --from-file at 100k and 1M (wait4 ru_maxrss,
                                                what /usr/bin/time -v reports)
Every round runs both sides back to back, alternating which goes first.
Prints the table; writes BENCH_DIR/results.json and BENCH_DIR/table.md.
Timings are reported, never asserted: the exit status only says whether
every run did its job (all messages staged/deleted, counts right).
"""
import hashlib
import json
import os
import platform
import re
import statistics
import subprocess
import sys
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))
from messages import body  # noqa: E402
from sqsraw import RawSQS  # noqa: E402

ROUNDS = int(os.environ.get("BENCH_ROUNDS", "5"))
E2E_N = int(os.environ.get("BENCH_E2E_N", "20000"))
LATENCY_N = int(os.environ.get("BENCH_LATENCY_N", "10000"))
LATENCY_ROUNDS = int(os.environ.get("BENCH_LATENCY_ROUNDS", "3"))
DELAY_MS = float(os.environ.get("BENCH_DELAY_MS", "10"))  # each way, for the seed-style comparison
# The added round trips of the latency rows, in ms (the proxy adds half in each direction).
ROUND_TRIPS = [float(x) for x in os.environ.get("BENCH_ROUND_TRIPS_MS", "0,20,100").split(",")]
SEED_N = int(os.environ.get("BENCH_SEED_N", "2000"))  # the seed-style loader moves ~180 msgs/s at 20 ms
FILE_N = int(os.environ.get("BENCH_FILE_N", "1000000"))
FILE_SMALL_N = int(os.environ.get("BENCH_FILE_SMALL_N", "100000"))
FILE_ROUNDS = int(os.environ.get("BENCH_FILE_ROUNDS", "3"))
FILE_ARGS = os.environ.get("BENCH_FILE_ARGS", "").split()  # extra loginvault options, e.g. --batch-size 2000
ROWS = set(os.environ.get("BENCH_ROWS", "e2e,latency,staging").split(","))  # for working on one row
RECEIVERS = int(os.environ.get("BENCH_RECEIVERS", "4"))  # the reference pool's
DELETERS = int(os.environ.get("BENCH_DELETERS", "4"))
# loginvault's own options for every queue row; empty: its defaults (--receivers auto --deleters auto).
LV_ARGS = os.environ.get("BENCH_LV_ARGS", "").split()
# The reference pool asks for no message attributes by default (the strictest
# ceiling); loginvault asks for All. BENCH_REF_ATTRIBUTES=All gives it the same work.
REF_ATTRIBUTES = os.environ.get("BENCH_REF_ATTRIBUTES", "")

LV = os.environ["LOGINVAULT_BIN"]
SQS = os.environ["LOCALSTACK_ENDPOINT"]
WORK = Path(os.environ["BENCH_DIR"])
DB = os.environ.get("BENCH_DATABASE", "loginvault_bench")
PY = sys.executable
RUN_ID = os.getpid()
failures: list[str] = []


def log(msg: str):
    print(f"[bench {time.strftime('%H:%M:%S')}] {msg}", file=sys.stderr, flush=True)


def run(cmd, env=None, stdin=None) -> tuple[str, float, int]:
    """Runs cmd; returns (stdout, wall seconds, peak RSS in KiB of that process)."""
    began = time.perf_counter()
    proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, stdin=stdin,
                            env={**os.environ, **(env or {})}, text=True)
    out, err = proc.communicate()
    wall = time.perf_counter() - began
    rss = _last_rss.pop(proc.pid, 0)  # saved by _try_wait below
    if proc.returncode != 0:
        raise RuntimeError(f"{cmd[0]} exited {proc.returncode}:\n{err[-2000:]}")
    return out, wall, rss


_last_rss: dict[int, int] = {}
_orig_wait = subprocess.Popen._try_wait


def _try_wait(self, wait_flags):
    """subprocess reaps with waitpid; use wait4 instead to keep the child's own rusage."""
    try:
        pid, status, usage = os.wait4(self.pid, wait_flags)
    except ChildProcessError:
        pid, status = self.pid, 0
    else:
        if pid == self.pid:
            _last_rss[pid] = usage.ru_maxrss  # KiB on Linux
    return pid, status


subprocess.Popen._try_wait = _try_wait


def psql(sql: str) -> str:
    out, _, _ = run(["psql", "-X", "-q", "-A", "-t", "-v", "ON_ERROR_STOP=1", "-d", DB, "-c", sql])
    return out.strip()


def lv_json(args, rss=False):
    out, wall, peak = run([LV, "load", "--database", f"dbname={DB}", "--json", "--no-progress", *args],
                          env={"AWS_ACCESS_KEY_ID": "test", "AWS_SECRET_ACCESS_KEY": "test", "AWS_REGION": "us-east-1"})
    summary = json.loads(out.strip().splitlines()[-1])
    summary["wall"] = wall
    summary["rss_kib"] = peak
    return summary


def seed(queue: str, n: int, salt: str):
    out, _, _ = run([PY, str(HERE / "seed.py"), "--endpoint", SQS, "--queue", queue, "--count", str(n), "--salt", salt])
    return json.loads(out)


def check_empty(queue: str):
    admin = RawSQS(SQS)
    url = admin.create_queue(queue)
    visible, invisible = admin.depth(url)
    admin.close()
    if visible or invisible:
        failures.append(f"{queue}: {visible} visible + {invisible} in flight left after the run")


def expect(what: str, got, want):
    if got != want:
        failures.append(f"{what}: got {got}, expected {want}")


def med(xs):
    return statistics.median(xs) if xs else float("nan")


# --------------------------------------------------------------------- rows

def row_end_to_end():
    """Reference pool vs loginvault on a full LocalStack queue, no added latency."""
    ref, lv, rpm, rss, stage_only = [], [], [], [], []
    for r in range(ROUNDS):
        order = ["ref", "lv"] if r % 2 == 0 else ["lv", "ref"]
        for side in order:
            q = f"bench-e2e-{side}-{RUN_ID}-{r}"
            s = seed(q, E2E_N, salt=q)
            log(f"e2e round {r + 1}/{ROUNDS}: seeded {E2E_N} into {q} at {s['msgs_per_s']:.0f} msgs/s")
            if side == "ref":
                out, _, _ = run([PY, str(HERE / "reference_pool.py"), "--endpoint", SQS, "--queue", q,
                                 "--count", str(E2E_N), "--receivers", str(RECEIVERS), "--deleters", str(DELETERS),
                                 "--attributes", REF_ATTRIBUTES])
                res = json.loads(out)
                expect(f"{q} reference deleted", res["messages"], E2E_N)
                ref.append(res["msgs_per_s"])
                log(f"  reference pool: {res['msgs_per_s']:.0f} msgs/s, {res['requests_per_message']} req/msg")
            else:
                before = int(psql("SELECT count(*) FROM public.user_logins"))
                res = lv_json(["--queue", q, "--endpoint-url", SQS, "--max-messages", str(E2E_N), *LV_ARGS])
                after = int(psql("SELECT count(*) FROM public.user_logins"))
                st = res["statistics"]
                expect(f"{q} loginvault staged", st["staged"], E2E_N)
                expect(f"{q} loginvault deleted", st["deleted"], E2E_N)
                expect(f"{q} new user_logins rows", after - before, E2E_N)
                lv.append(res["messages_per_second"])
                # the same run without its final CALL process_raw_logins (its notice, the last
                # one, gives its time; earlier ones are runs while loading, on a second session)
                m = re.findall(r"([0-9.]+) s \(run", " ".join(res["process"]))
                if m:
                    stage_only.append(E2E_N / (res["seconds"] - float(m[-1])))
                rpm.append(res["requests_per_message"])
                rss.append(res["rss_kib"])
                log(f"  loginvault: {res['messages_per_second']:.0f} msgs/s end to end "
                    f"({res['seconds']:.2f} s incl. process_raw_logins), {res['requests_per_message']:.4f} req/msg, "
                    f"{st['batches']} batches, RSS {res['rss_kib'] / 1024:.1f} MiB")
            check_empty(q)
    return {"ref": ref, "lv": lv, "requests_per_message": rpm, "rss_kib": rss, "stage_only": stage_only}


def start_proxy(delay_ms_each_way: float):
    port = SQS.rsplit(":", 1)[1]
    proc = subprocess.Popen([PY, str(HERE / "delay_proxy.py"), "--target", f"127.0.0.1:{port}",
                             "--delay-ms", str(delay_ms_each_way)], stdout=subprocess.PIPE, text=True)
    return proc, f"http://127.0.0.1:{proc.stdout.readline().strip()}"


def lv_through(via: str, q: str, n: int):
    seed(q, n, salt=q)
    res = lv_json(["--queue", q, "--endpoint-url", via, "--max-messages", str(n), *LV_ARGS])
    expect(f"{q} loginvault staged", res["statistics"]["staged"], n)
    expect(f"{q} loginvault deleted", res["statistics"]["deleted"], n)
    check_empty(q)
    return res


def row_latency():
    """loginvault through the delaying proxy at each added round trip (0 ms included: the
    same proxy, so only the delay differs), in the same round, the order rotating from
    round to round; then the seed-style loader at +2×DELAY_MS (against loginvault's run at
    that round trip in the same round), and without the proxy, for scale."""
    round_trips = ROUND_TRIPS + ([] if 2 * DELAY_MS in ROUND_TRIPS else [2 * DELAY_MS])
    proxies = {rtt: start_proxy(rtt / 2) for rtt in round_trips}
    by_rtt = {rtt: [] for rtt in round_trips}
    rpm_by_rtt = {rtt: [] for rtt in round_trips}
    seed_lat, lv_lat, seed_direct = [], [], []
    dsn = f"dbname={DB}"
    try:
        for r in range(LATENCY_ROUNDS):
            shift = r % len(round_trips)
            for rtt in round_trips[shift:] + round_trips[:shift]:
                q = f"bench-rtt{rtt:g}-{RUN_ID}-{r}"
                res = lv_through(proxies[rtt][1], q, LATENCY_N)
                by_rtt[rtt].append(res["messages_per_second"])
                rpm_by_rtt[rtt].append(res["requests_per_message"])
                log(f"latency round {r + 1}/{LATENCY_ROUNDS}: loginvault {res['messages_per_second']:.0f} msgs/s "
                    f"at +{rtt:g} ms round trip, {res['requests_per_message']:.4f} req/msg")
            # The seed-style loader at +2×DELAY_MS, against loginvault's run at that round trip above.
            q = f"bench-lat-seed-{RUN_ID}-{r}"
            seed(q, SEED_N, salt=q)
            out, _, _ = run([PY, str(HERE / "seed_loader.py"), "--endpoint", proxies[2 * DELAY_MS][1], "--queue", q,
                             "--count", str(SEED_N), "--database", dsn])
            res = json.loads(out)
            expect(f"{q} seed loader", res["messages"], SEED_N)
            seed_lat.append(res["msgs_per_s"])
            lv_lat.append(by_rtt[2 * DELAY_MS][-1])
            check_empty(q)
            log(f"latency round {r + 1}: seed-style loader {res['msgs_per_s']:.0f} msgs/s via +{2 * DELAY_MS:g} ms")
        for r in range(LATENCY_ROUNDS):
            q = f"bench-seeddirect-{RUN_ID}-{r}"
            seed(q, SEED_N, salt=q)
            out, _, _ = run([PY, str(HERE / "seed_loader.py"), "--endpoint", SQS, "--queue", q,
                             "--count", str(SEED_N), "--database", dsn])
            res = json.loads(out)
            expect(f"{q} seed loader", res["messages"], SEED_N)
            seed_direct.append(res["msgs_per_s"])
            log(f"seed-style loader without added latency: {res['msgs_per_s']:.0f} msgs/s, {res['requests_per_message']} req/msg")
    finally:
        for proc, _ in proxies.values():
            proc.terminate()
            proc.wait()
    return {"seed": seed_lat, "lv": lv_lat, "seed_direct": seed_direct,
            "by_rtt": {f"{k:g}": v for k, v in by_rtt.items()},
            "requests_per_message_by_rtt": {f"{k:g}": v for k, v in rpm_by_rtt.items()}}


def make_files():
    """FILE_N synthetic messages as JSON lines (for loginvault), and the same
    lines with loginvault's synthetic ids as COPY text (for psql \\copy), so
    both sides store identical rows."""
    lines, copy = WORK / f"messages-{FILE_N}.jsonl", WORK / f"messages-{FILE_N}.copy"
    if lines.exists() and copy.exists():
        return lines, copy
    log(f"writing {FILE_N} synthetic messages to {lines}")
    with open(str(lines) + ".tmp", "w") as fl, open(str(copy) + ".tmp", "w") as fc:
        for i in range(FILE_N):
            b = body(i, "file")
            mid = f"file-{i + 1}-{hashlib.sha256(b.encode()).hexdigest()[:16]}"
            fl.write(b + "\n")
            fc.write(mid + "\t" + b.replace("\\", "\\\\").replace("\t", "\\t") + "\n")
    os.replace(str(lines) + ".tmp", lines)
    os.replace(str(copy) + ".tmp", copy)
    return lines, copy


def row_staging():
    lines, copy = make_files()
    size_mb = lines.stat().st_size / 1e6
    psql("DROP TABLE IF EXISTS bench_copy_target; "
         "CREATE TABLE bench_copy_target (LIKE public.raw_logins INCLUDING DEFAULTS INCLUDING CONSTRAINTS INCLUDING INDEXES)")
    lv, cp, rss_big, rss_small = [], [], [], []
    for r in range(FILE_ROUNDS):
        order = ["copy", "lv"] if r % 2 == 0 else ["lv", "copy"]
        for side in order:
            psql("TRUNCATE public.raw_logins, bench_copy_target")
            psql("CHECKPOINT")
            if side == "copy":
                _, wall, _ = run(["psql", "-X", "-q", "-v", "ON_ERROR_STOP=1", "-d", DB, "-c",
                                  f"\\copy bench_copy_target (message_id, body) FROM '{copy}'"])
                expect("psql \\copy rows", int(psql("SELECT count(*) FROM bench_copy_target")), FILE_N)
                cp.append(FILE_N / wall)
                log(f"staging round {r + 1}: psql \\copy {FILE_N} rows ({size_mb:.0f} MB) in {wall:.1f} s = {FILE_N / wall:.0f} rows/s")
            else:
                res = lv_json(["--from-file", str(lines), "--no-process", *FILE_ARGS])
                expect("loginvault --from-file staged", res["statistics"]["staged"], FILE_N)
                expect("raw_logins rows", int(psql("SELECT count(*) FROM public.raw_logins")), FILE_N)
                first = body(0, "file")
                first_id = f"file-1-{hashlib.sha256(first.encode()).hexdigest()[:16]}"
                expect("loginvault's synthetic id of line 1 = the one given to psql",
                       psql(f"SELECT count(*) FROM public.raw_logins WHERE message_id = '{first_id}'"), "1")
                lv.append(FILE_N / res["wall"])
                rss_big.append(res["rss_kib"])
                log(f"staging round {r + 1}: loginvault --from-file {FILE_N} in {res['wall']:.1f} s = "
                    f"{FILE_N / res['wall']:.0f} msgs/s, peak RSS {res['rss_kib'] / 1024:.1f} MiB")
        psql("TRUNCATE public.raw_logins")
        res = lv_json(["--from-file", str(lines), "--no-process", "--max-messages", str(FILE_SMALL_N), *FILE_ARGS])
        expect("loginvault --from-file (small) staged", res["statistics"]["staged"], FILE_SMALL_N)
        rss_small.append(res["rss_kib"])
        log(f"staging round {r + 1}: loginvault --from-file {FILE_SMALL_N}: peak RSS {res['rss_kib'] / 1024:.1f} MiB")
    psql("TRUNCATE public.raw_logins, bench_copy_target")
    return {"lv": lv, "copy": cp, "rss_big_kib": rss_big, "rss_small_kib": rss_small}


# -------------------------------------------------------------------- table

def fmt_range(xs, unit="", scale=1.0, digits=0):
    if not xs:
        return "n/a"
    lo, mid, hi = min(xs) / scale, med(xs) / scale, max(xs) / scale
    if len(xs) == 1:
        return f"{mid:.{digits}f}{unit}"
    return f"{mid:.{digits}f}{unit} ({lo:.{digits}f}–{hi:.{digits}f})"


def paired(a, b):
    return [x / y for x, y in zip(a, b) if y]


def ratio_cell(a, b, pct=True):
    """The judged ratio is the median of the per-round ratios: each round runs both sides
    back to back on the same servers, so pairing them cancels the drift between rounds
    (LocalStack slowing as it ages, other people's load), which a ratio of the two
    medians mixes in. The ratio of the medians is printed too."""
    pr = paired(a, b)
    r = med(pr)
    of_medians = med(a) / med(b)
    if pct:
        return r, f"{r:.0%} ({min(pr):.0%}–{max(pr):.0%}; of medians {of_medians:.0%})"
    return r, f"{r:.1f}× ({min(pr):.1f}–{max(pr):.1f}×; of medians {of_medians:.1f}×)"


def table(e2e, lat, stg):
    rows = []
    if e2e["lv"]:
        rpm = med(e2e["requests_per_message"])
        rows.append(("SQS requests per message, full queue", f"{E2E_N:,} × {ROUNDS}",
                     fmt_range(e2e["requests_per_message"], digits=4), "—", "—", "≤ 0.21", rpm <= 0.21))
        r, cell = ratio_cell(e2e["lv"], e2e["ref"])
        rows.append(("End to end queue → user_logins vs reference pool (SQS ceiling)", f"{E2E_N:,} × {ROUNDS}",
                     fmt_range(e2e["lv"], " msg/s"), fmt_range(e2e["ref"], " msg/s"), cell, "≥ 90%", r >= 0.90))
        if e2e["stage_only"]:
            _, cell = ratio_cell(e2e["stage_only"], e2e["ref"])
            rows.append(("(breakdown) the same runs without their final process_raw_logins: queue → raw_logins",
                         f"{E2E_N:,} × {ROUNDS}", fmt_range(e2e["stage_only"], " msg/s"),
                         fmt_range(e2e["ref"], " msg/s"), cell, "—", None))
    if lat.get("by_rtt"):
        base_key = f"{ROUND_TRIPS[0]:g}"
        base = lat["by_rtt"][base_key]
        targets = {"20": 0.90, "100": 0.75}
        for key, rates in lat["by_rtt"].items():
            rpm = lat["requests_per_message_by_rtt"][key]
            label = f"Added round trip +{key} ms: loginvault through the proxy (requests/message {fmt_range(rpm, digits=4)})"
            if key == base_key:
                rows.append((label, f"{LATENCY_N:,} × {LATENCY_ROUNDS}", fmt_range(rates, " msg/s"), "—",
                             "the reference of the rows below", "—", None))
                continue
            r, cell = ratio_cell(rates, base)
            target = targets.get(key)
            rows.append((label + f" vs +{base_key} ms", f"{LATENCY_N:,} × {LATENCY_ROUNDS}", fmt_range(rates, " msg/s"),
                         fmt_range(base, " msg/s"), cell, f"≥ {target:.0%}" if target else "—",
                         (r >= target) if target else None))
    if lat["lv"]:
        r, cell = ratio_cell(lat["lv"], lat["seed"], pct=False)
        rows.append((f"+{2 * DELAY_MS:g} ms round trip: loginvault vs seed-style loader",
                     f"{LATENCY_N:,} / {SEED_N:,} × {LATENCY_ROUNDS}", fmt_range(lat["lv"], " msg/s"),
                     fmt_range(lat["seed"], " msg/s"), cell, "≥ 4×", r >= 4))
        rows.append(("(for scale) seed-style loader, no added latency", f"{SEED_N:,} × {LATENCY_ROUNDS}",
                     "—", fmt_range(lat["seed_direct"], " msg/s"), "—", "—", None))
    if stg["lv"]:
        r, cell = ratio_cell(stg["lv"], stg["copy"])
        rows.append(("Staging path: --from-file vs psql \\copy", f"{FILE_N:,} × {FILE_ROUNDS}",
                     fmt_range(stg["lv"], " msg/s"), fmt_range(stg["copy"], " row/s"), cell, "≥ 70%", r >= 0.70))
        small, big = max(stg["rss_small_kib"]) / 1024, max(stg["rss_big_kib"]) / 1024
        rows.append((f"Peak RSS, --from-file {FILE_SMALL_N // 1000}k → {FILE_N // 1000}k (max of rounds)",
                     f"{FILE_SMALL_N:,} / {FILE_N:,}", f"{small:.1f} → {big:.1f} MiB", "—", f"×{big / small:.2f}",
                     "≤ 64 MiB, flat", big <= 64 and big / small <= 1.25))
    if e2e["rss_kib"]:
        rows.append(("(for scale) peak RSS, queue end to end", f"{E2E_N:,}",
                     fmt_range(e2e["rss_kib"], " MiB", 1024, 1), "—", "—", "—", None))
    head = ("Row", "N × rounds", "loginvault: median (range)", "reference: median (range)", "ratio: median of rounds (range; of medians)",
            "target", "met")
    md = ["| " + " | ".join(head) + " |", "|" + "---|" * len(head)]
    for row in rows:
        md.append("| " + " | ".join(list(row[:6]) + ["—" if row[6] is None else ("yes" if row[6] else "**no**")]) + " |")
    return rows, "\n".join(md)


def main() -> int:
    WORK.mkdir(parents=True, exist_ok=True)
    started = time.time()
    machine = (f"{platform.node()}: {os.cpu_count()} cores, {platform.processor() or platform.machine()}, "
               f"load average {os.getloadavg()[0]:.1f} at start")
    log(machine)
    empty = {"ref": [], "lv": [], "requests_per_message": [], "rss_kib": [], "stage_only": [], "seed": [], "seed_direct": [],
             "copy": [], "rss_big_kib": [], "rss_small_kib": [], "by_rtt": {}}
    e2e = row_end_to_end() if "e2e" in ROWS else empty
    lat = row_latency() if "latency" in ROWS else empty
    stg = row_staging() if "staging" in ROWS else empty
    rows, md = table(e2e, lat, stg)
    minutes = (time.time() - started) / 60
    stamp = time.strftime("%Y-%m-%d %H:%M %Z")
    header = (f"loginvault bench, {stamp}, {machine}; load average {os.getloadavg()[0]:.1f} at end; "
              f"{minutes:.1f} min; LocalStack {SQS}; loginvault options: {' '.join(LV_ARGS) or 'defaults'}")
    (WORK / "table.md").write_text(header + "\n\n" + md + "\n")
    (WORK / "results.json").write_text(json.dumps({"when": stamp, "machine": machine, "e2e": e2e, "latency": lat,
                                                   "staging": stg}, indent=1))
    print()
    print(header)
    print()
    print(md)
    print()
    if failures:
        print("RUNS THAT DID NOT DO THEIR JOB (the figures above are suspect):")
        for f in failures:
            print("  - " + f)
        return 1
    print(f"All runs moved every message (counts checked). Results: {WORK}/results.json, {WORK}/table.md")
    return 0


if __name__ == "__main__":
    sys.exit(main())
