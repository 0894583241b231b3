#!/usr/bin/env bash
# Managed-database conditions (issue 13, docs/database.md "Managed PostgreSQL"):
#   1. pgcrypto already installed in `public` (by docker/postgres/init-pgcrypto.sql,
#      as the README's Docker Compose path does): migrate leaves it there, and
#      masking, encryption and reveal work through loginvault's wrappers;
#   2. the same with pgcrypto in a schema named `extensions`;
#   3. pgcrypto in a schema PUBLIC may create objects in: migrate refuses,
#      saying why and what to do;
#   4. no superuser: a database owned by an ordinary role (CREATEROLE, no
#      SUPERUSER; the loginvault roles exist already, as an admin would create
#      them), migrated by that role, which installs pgcrypto itself (a trusted
#      extension, its functions then belong to the bootstrap superuser); then
#      the same privilege matrix as the superuser's install
#      (Tests/sql/privileges.sql) must pass unchanged.
#
#   Tests/managed/managed_postgres.sh [path/to/loginvault]
#
# Needs the PG* variables of a server whose PGUSER is a superuser
# (scripts/with-servers.sh). Run by scripts/run-tests.sh (make test).
set -euo pipefail
cd "$(dirname "$0")/../.."
bin=${1:-$(swift build --show-bin-path)/loginvault}
export PGOPTIONS="-c client_min_messages=warning"
dbs=(lv_managed_public lv_managed_extensions lv_managed_writable lv_managed_owner)
owner=lv_managed_owner
owner_pw=$(openssl rand -hex 16)
work=$(mktemp -d)
cleanup() {
  for db in "${dbs[@]}"; do psql -qX -c "DROP DATABASE IF EXISTS $db" >/dev/null 2>&1 || true; done
  psql -qX -c "DROP ROLE IF EXISTS $owner" >/dev/null 2>&1 || true
  rm -rf "$work"
}
trap cleanup EXIT
[ -n "${LV_MANAGED_KEEP:-}" ] && trap - EXIT
fail() { echo "not ok: $*" >&2; exit 1; }
ok() { echo "ok - $*"; }
q() { local db=$1; shift; psql -qXAt -v ON_ERROR_STOP=1 -d "$db" "$@"; }
migrate() { "$bin" migrate --database "$1" --migrations-dir sql/migrations --log-level error; }

# A login and a reject through the whole path, then reveal: the crypto works.
smoke() {
  local db=$1
  q "$db" >/dev/null <<'SQL'
INSERT INTO raw_logins (message_id, body, sent_at) VALUES
  ('mg-1', '{"user_id": "u1", "ip": "192.0.2.77", "device_id": "dev-77"}', now());
SELECT stage_raw_login('mg-2', '{not json', now(), 1);
CALL process_raw_logins(10);
CALL loginvault.rotate_data_key();
SQL
  local login_id
  login_id=$(q "$db" -c "SELECT login_id FROM user_logins WHERE message_id = 'mg-1'")
  [ "$(q "$db" -c "CALL reveal_login($login_id, 'managed test', NULL, NULL, NULL, NULL)" | cut -d'|' -f2)" = 192.0.2.77 ] \
    || fail "$db: the login does not reveal its ip"
  [ "$(q "$db" -c "CALL reveal_rejected('mg-2', 'managed test', NULL, NULL, NULL)" | cut -d'|' -f2)" = '{not json' ] \
    || fail "$db: the reject does not reveal"
  local crypto
  crypto=$(q "$db" -c "SELECT quote_ident(extnamespace::regnamespace::text) FROM pg_extension WHERE extname = 'pgcrypto'")
  [ "$(q "$db" -c "SELECT masked_ip = encode($crypto.hmac(convert_to('ip:192.0.2.77', 'UTF8'), loginvault.mask_key(), 'sha256'), 'hex') FROM user_logins WHERE message_id = 'mg-1'")" = t ] \
    || fail "$db: the mask is not pgcrypto's HMAC"
}

for db in "${dbs[@]}"; do psql -qX -c "DROP DATABASE IF EXISTS $db" >/dev/null; done
psql -qX -c "DROP ROLE IF EXISTS $owner" >/dev/null

# 1. pgcrypto in public (what docker/postgres/init-pgcrypto.sql does).
psql -qX -v ON_ERROR_STOP=1 -c "CREATE DATABASE lv_managed_public" >/dev/null
q lv_managed_public -f docker/postgres/init-pgcrypto.sql >/dev/null   # the Docker Compose path
migrate "dbname=lv_managed_public" >/dev/null || fail "public: migrate failed"
[ "$(q lv_managed_public -c "SELECT extnamespace::regnamespace FROM pg_extension WHERE extname = 'pgcrypto'")" = public ] \
  || fail "public: pgcrypto was moved"
[ "$(q lv_managed_public -c "SELECT count(*) FROM pg_namespace WHERE nspname = 'loginvault_crypto'")" = 0 ] \
  || fail "public: a second crypto schema was made"
[ "$(q lv_managed_public -c "SELECT count(*) FROM pg_depend d JOIN pg_proc w ON w.oid = d.objid JOIN pg_proc p ON p.oid = d.refobjid
                              WHERE w.pronamespace = 'loginvault'::regnamespace AND p.pronamespace = 'public'::regnamespace
                                AND w.proname IN ('hmac', 'pgp_sym_encrypt', 'pgp_sym_decrypt', 'gen_random_bytes')")" = 4 ] \
  || fail "public: the four wrappers are not bound to pgcrypto's functions in public"
smoke lv_managed_public
migrate "dbname=lv_managed_public" >/dev/null || fail "public: a second migrate failed"
ok "pgcrypto already in public: migrate keeps it there, mask, encrypt, rotate and reveal work"

# 2. pgcrypto in `extensions`.
psql -qX -v ON_ERROR_STOP=1 -c "CREATE DATABASE lv_managed_extensions" >/dev/null
q lv_managed_extensions -c "CREATE SCHEMA extensions" -c "CREATE EXTENSION pgcrypto WITH SCHEMA extensions" >/dev/null
migrate "dbname=lv_managed_extensions" >/dev/null || fail "extensions: migrate failed"
[ "$(q lv_managed_extensions -c "SELECT extnamespace::regnamespace FROM pg_extension WHERE extname = 'pgcrypto'")" = extensions ] \
  || fail "extensions: pgcrypto was moved"
smoke lv_managed_extensions
ok "pgcrypto already in extensions: migrate keeps it there, and it works"

# 3. pgcrypto in a schema everyone may create objects in: refused, with the fix.
psql -qX -v ON_ERROR_STOP=1 -c "CREATE DATABASE lv_managed_writable" >/dev/null
q lv_managed_writable -c "CREATE SCHEMA shared" -c "GRANT CREATE ON SCHEMA shared TO PUBLIC" \
  -c "CREATE EXTENSION pgcrypto WITH SCHEMA shared" >/dev/null
if migrate "dbname=lv_managed_writable" >"$work/writable.out" 2>&1; then fail "writable: migrate did not refuse"; fi
grep -q "pgcrypto is installed in schema shared, in which PUBLIC may create objects" "$work/writable.out" \
  || { cat "$work/writable.out" >&2; fail "writable: the refusal does not say why"; }
grep -q "REVOKE CREATE ON SCHEMA shared FROM PUBLIC" "$work/writable.out" \
  || { cat "$work/writable.out" >&2; fail "writable: the refusal does not say what to do"; }
[ "$(q lv_managed_writable -c "SELECT count(*) FROM pg_proc WHERE pronamespace = 'loginvault'::regnamespace")" = 0 ] \
  || fail "writable: the refused migration left functions behind"
q lv_managed_writable -c "REVOKE CREATE ON SCHEMA shared FROM PUBLIC" >/dev/null
migrate "dbname=lv_managed_writable" >/dev/null || fail "writable: migrate failed after the REVOKE"
ok "pgcrypto in a schema PUBLIC may create in: refused with the REVOKE to run; after it, migrate works"

# 4. No superuser. What an admin runs on a managed service before the first
#    migrate (docs/database.md "Managed PostgreSQL"); the loginvault roles
#    exist already (made by the installs above, as an admin may make them).
psql -qX -v ON_ERROR_STOP=1 >/dev/null <<SQL
CREATE ROLE $owner LOGIN CREATEROLE PASSWORD '$owner_pw';
CREATE DATABASE lv_managed_owner OWNER $owner;
SQL
[ "$(q postgres -c "SELECT rolsuper FROM pg_roles WHERE rolname = '$owner'")" = f ] || fail "owner: is a superuser"
echo "127.0.0.1:${PGPORT}:*:$owner:$owner_pw" > "$work/pgpass"
cat "${PGPASSFILE}" >> "$work/pgpass"
chmod 600 "$work/pgpass"
PGPASSFILE="$work/pgpass" migrate "dbname=lv_managed_owner user=$owner" >/dev/null || fail "owner: migrate as a non-superuser failed"
[ "$(q lv_managed_owner -c "SELECT DISTINCT proowner::regrole FROM pg_proc WHERE pronamespace = 'loginvault_crypto'::regnamespace")" != "$owner" ] \
  || fail "owner: pgcrypto's functions belong to the owner (expected the bootstrap superuser, as on a managed service)"
PGPASSFILE="$work/pgpass" PGUSER=$owner smoke lv_managed_owner
q lv_managed_owner -c "CREATE EXTENSION IF NOT EXISTS pgtap" >/dev/null
PGDATABASE=lv_managed_owner pg_prove --failures --ext .sql Tests/sql/privileges.sql \
  || fail "owner: the privilege matrix differs from the superuser's install"
ok "no superuser: migrated by an ordinary owner, the privilege matrix holds unchanged"
