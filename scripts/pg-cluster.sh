#!/usr/bin/env bash
# A private, throwaway PostgreSQL 15 cluster for development and tests.
#
#   pg-cluster.sh start DIR   initdb (first time) and start; writes DIR/env
#   pg-cluster.sh stop DIR    stop (fast), keep the data
#   pg-cluster.sh destroy DIR stop and delete
#
# The cluster listens on 127.0.0.1 only, on a free port, with scram-sha-256
# password authentication; the superuser is `postgres`, its random password in
# DIR/pgpass (mode 600). `source DIR/env` sets PGHOST, PGPORT, PGUSER,
# PGPASSFILE and PGDATABASE for psql, libpq and the tests.
# As root (initdb refuses root) the server runs as the `postgres` OS user.
# Extra server settings: PG_EXTRA_CONF="shared_preload_libraries='pg_cron'".
# TLS: PG_SSL_DIR=DIR (holding server.crt and server.key) turns on ssl with that
# certificate; both are copied into the data directory when it is created.
set -euo pipefail

cmd=${1:?usage: pg-cluster.sh start|stop|destroy DIR}
dir=${2:?usage: pg-cluster.sh start|stop|destroy DIR}
mkdir -p "$dir"
dir=$(cd "$dir" && pwd)
PGBIN=${PGBIN:-$(pg_config --bindir 2>/dev/null || echo /usr/lib/postgresql/15/bin)}
[ -x "$PGBIN/initdb" ] || PGBIN=/usr/lib/postgresql/15/bin

as_owner() {
  if [ "$(id -u)" -eq 0 ]; then runuser -u postgres -- "$@"; else "$@"; fi
}

# The data directory must be reachable by the server's OS user; a clone under a
# private home (mode 700) is not, so fall back to a directory under /var/tmp.
data_dir() {
  local d="$dir/data"
  if [ "$(id -u)" -eq 0 ] && ! runuser -u postgres -- test -x "$dir" 2>/dev/null; then
    d="/var/tmp/loginvault-pg-$(echo -n "$dir" | sha1sum | cut -c1-12)/data"
  fi
  echo "$d"
}

free_port() {
  python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1]); s.close()'
}

start() {
  local data; data=$(data_dir)
  if [ -f "$data/postmaster.pid" ] && as_owner "$PGBIN/pg_ctl" -D "$data" status >/dev/null 2>&1; then
    return 0
  fi
  if [ ! -f "$data/PG_VERSION" ]; then
    mkdir -p "$data"
    [ "$(id -u)" -eq 0 ] && chown -R postgres:postgres "$(dirname "$data")"
    local pw; pw=$(python3 -c 'import secrets; print(secrets.token_hex(24))')
    local pwfile; pwfile=$(mktemp); echo "$pw" > "$pwfile"; chmod 644 "$pwfile"
    as_owner "$PGBIN/initdb" -D "$data" -U postgres --pwfile="$pwfile" \
      --auth=scram-sha-256 --encoding=UTF8 --locale=C.UTF-8 >"$dir/initdb.log" 2>&1 \
      || { cat "$dir/initdb.log" >&2; rm -f "$pwfile"; exit 1; }
    rm -f "$pwfile"
    local port; port=$(free_port)
    local ssl_conf=""
    if [ -n "${PG_SSL_DIR:-}" ]; then
      install -m 600 "$PG_SSL_DIR/server.crt" "$PG_SSL_DIR/server.key" "$data/"
      [ "$(id -u)" -eq 0 ] && chown postgres:postgres "$data/server.crt" "$data/server.key"
      ssl_conf="ssl = on
ssl_cert_file = 'server.crt'
ssl_key_file = 'server.key'"
    fi
    cat >>"$data/postgresql.conf" <<CONF
# loginvault private cluster
listen_addresses = '127.0.0.1'
port = $port
unix_socket_directories = ''
max_connections = 100
shared_buffers = 256MB
log_destination = 'stderr'
logging_collector = off
${ssl_conf}
${PG_EXTRA_CONF:-}
CONF
    echo "127.0.0.1:$port:*:postgres:$pw" > "$dir/pgpass"
    chmod 600 "$dir/pgpass"
    cat > "$dir/env" <<ENV
export PGHOST=127.0.0.1
export PGPORT=$port
export PGUSER=postgres
export PGDATABASE=postgres
export PGPASSFILE=$dir/pgpass
export LOGINVAULT_PGDATA=$data
ENV
  fi
  as_owner "$PGBIN/pg_ctl" -D "$data" -l "$data/server.log" -w -t 60 start >/dev/null \
    || { tail -20 "$data/server.log" >&2; exit 1; }
}

stop() {
  local data; data=$(data_dir)
  if [ -f "$data/postmaster.pid" ]; then
    as_owner "$PGBIN/pg_ctl" -D "$data" -m fast -w stop >/dev/null 2>&1 || true
  fi
}

case "$cmd" in
  start) start ;;
  stop) stop ;;
  destroy) stop; data=$(data_dir); rm -rf "$data" "$dir" ;;
  *) echo "usage: pg-cluster.sh start|stop|destroy DIR" >&2; exit 2 ;;
esac
