#!/usr/bin/env bash
# LocalStack (SQS only) without Docker, from PyPI's localstack-core, on 127.0.0.1.
#
#   localstack.sh install       create .build/local/bench-venv if missing (slow the first time)
#   localstack.sh start DIR     start on a free port; writes DIR/env
#   localstack.sh stop DIR      stop it
#
# DIR/env exports LOCALSTACK_ENDPOINT (http://127.0.0.1:PORT) and BENCH_PYTHON
# (the venv's python). LocalStack runs with SQS_ENDPOINT_STRATEGY=off and
# LOCALSTACK_HOST=127.0.0.1:PORT, so the queue URLs it returns resolve; its
# account id is 000000000000 and it checks no signatures.
#
# Python: $BENCH_PYTHON_BASE, else the newest pyenv 3.13+, else python3.13/3.14
# on PATH. localstack-core 2026.x needs 3.13 (it imports warnings.deprecated).
set -euo pipefail

root=$(cd "$(dirname "$0")/.." && pwd)
venv=$root/.build/local/bench-venv

find_python() {
  local c
  for c in ${BENCH_PYTHON_BASE:-} $(ls -d "${PYENV_ROOT:-$HOME/.pyenv}"/versions/3.1[3-9]*/bin/python 2>/dev/null | sort -Vr) \
           python3.14 python3.13 python3; do
    [ -n "$c" ] || continue
    command -v "$c" >/dev/null 2>&1 || continue
    if "$c" -c 'import sys; sys.exit(0 if sys.version_info >= (3, 13) else 1)' 2>/dev/null; then
      echo "$c"; return 0
    fi
  done
  echo "localstack.sh: no Python >= 3.13 found (localstack-core needs it); set BENCH_PYTHON_BASE" >&2
  return 1
}

install() {
  if [ -x "$venv/bin/python" ] && "$venv/bin/python" -c 'import localstack.aws.components, psycopg, boto3' 2>/dev/null; then
    return 0
  fi
  local py; py=$(find_python)
  echo "Installing LocalStack (localstack-core), boto3 and psycopg into $venv with $("$py" -V) (first time: several minutes)"
  [ -x "$venv/bin/python" ] || "$py" -m venv "$venv"
  "$venv/bin/pip" install -q --disable-pip-version-check \
    -r "$root/bench/requirements.txt" -c "$root/bench/constraints.txt"
  "$venv/bin/python" -c 'import localstack.aws.components, psycopg, boto3'
}

free_port() {
  python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1]); s.close()'
}

start() {
  local dir=$1
  mkdir -p "$dir"; dir=$(cd "$dir" && pwd)
  if [ -f "$dir/localstack.pid" ] && kill -0 "$(cat "$dir/localstack.pid")" 2>/dev/null; then return 0; fi
  install
  local port; port=$(free_port)
  mkdir -p "$dir/volume" "$dir/fs"
  # SERVICES=sqs + EAGER_SERVICE_LOADING: only SQS, ready before "Ready.".
  # DNS_ADDRESS=0: no DNS server (it needs the internet and is not used).
  ( cd "$dir" && env GATEWAY_LISTEN="127.0.0.1:$port" LOCALSTACK_HOST="127.0.0.1:$port" \
      SQS_ENDPOINT_STRATEGY=off SERVICES=sqs EAGER_SERVICE_LOADING=1 DNS_ADDRESS=0 \
      DISABLE_EVENTS=1 SKIP_SSL_CERT_DOWNLOAD=1 LOCALSTACK_TELEMETRY=0 \
      LOCALSTACK_VOLUME_DIR="$dir/volume" FILESYSTEM_ROOT="$dir/fs" \
      setsid bash -c 'echo $$ >"$1/localstack.pid"; exec "$2/bin/python" -m localstack.runtime.main' \
        localstack "$dir" "$venv" >"$dir/localstack.log" 2>&1 </dev/null & )
  # setsid forks when it would lead a process group, so $! is not the server:
  # the shell inside writes its own pid, which exec hands to python.
  for _ in $(seq 1 50); do [ -s "$dir/localstack.pid" ] && break; sleep 0.1; done
  local pid; pid=$(cat "$dir/localstack.pid")
  for _ in $(seq 1 600); do
    if curl -sf "http://127.0.0.1:$port/_localstack/health" 2>/dev/null | grep -q '"sqs": "running"'; then
      cat >"$dir/env" <<ENV
export LOCALSTACK_ENDPOINT=http://127.0.0.1:$port
export BENCH_PYTHON=$venv/bin/python
ENV
      return 0
    fi
    kill -0 "$pid" 2>/dev/null || { echo "LocalStack exited:" >&2; tail -30 "$dir/localstack.log" >&2; return 1; }
    sleep 0.1
  done
  echo "LocalStack did not become ready on port $port; see $dir/localstack.log" >&2
  stop "$dir"; return 1
}

stop() {
  local dir=$1
  [ -d "$dir" ] || return 0
  if [ -f "$dir/localstack.pid" ]; then
    local pid; pid=$(cat "$dir/localstack.pid")
    kill "$pid" 2>/dev/null || true
    for _ in $(seq 1 100); do kill -0 "$pid" 2>/dev/null || break; sleep 0.1; done
    kill -9 "$pid" 2>/dev/null || true
    rm -f "$dir/localstack.pid"
  fi
  rm -f "$dir/env"
}

case "${1:-}" in
  install) install ;;
  start) start "${2:?usage: localstack.sh start DIR}" ;;
  stop) stop "${2:?usage: localstack.sh stop DIR}" ;;
  *) echo "usage: localstack.sh install | start DIR | stop DIR" >&2; exit 2 ;;
esac
