#!/usr/bin/env bash
# Upgrade equals fresh: an install made by the migrations as they were at
# commit 6c5a496 (0001-0018, before sql/definitions existed, history rows with
# the full-text checksums that migrate recorded then), holding data (processed
# logins, rejects, a rotated data key), migrated with today's files and code,
# has the same schema as a fresh install (pg_dump --schema-only, normalised),
# and its old rows still reveal. Also: an applied migration whose SQL changes
# is still refused.
#
#   Tests/upgrade/upgrade_equals_fresh.sh [path/to/loginvault]
#
# Needs the PG* variables of a server (scripts/with-servers.sh) and git.
# Run by scripts/run-tests.sh (make test).
set -euo pipefail
cd "$(dirname "$0")/../.."
bin=${1:-$(swift build --show-bin-path)/loginvault}
old_commit=6c5a496
work=$(mktemp -d)
upgraded=loginvault_upgraded
fresh=loginvault_fresh
trap 'rm -rf "$work"; psql -qX -c "DROP DATABASE IF EXISTS $upgraded" -c "DROP DATABASE IF EXISTS $fresh" >/dev/null 2>&1 || true' EXIT
export PGOPTIONS="-c client_min_messages=warning"
fail() { echo "not ok: $*" >&2; exit 1; }
q() { psql -qXAt -v ON_ERROR_STOP=1 -d "$upgraded" "$@"; }

psql -qX -v ON_ERROR_STOP=1 -c "DROP DATABASE IF EXISTS $upgraded" -c "DROP DATABASE IF EXISTS $fresh" \
     -c "CREATE DATABASE $upgraded" -c "CREATE DATABASE $fresh" >/dev/null

# 1. The old install: the files of $old_commit, one by one, in order.
git cat-file -e "$old_commit^{commit}" 2>/dev/null || fail "commit $old_commit is not in this clone (a shallow clone?)"
mkdir -p "$work/old/migrations"
for f in $(git ls-tree --name-only "$old_commit" sql/migrations/); do
  git show "$old_commit:$f" > "$work/old/migrations/$(basename "$f")"
done
[ "$(ls "$work/old/migrations" | wc -l)" -eq 18 ] || fail "expected 18 migrations at $old_commit"
for n in $(seq 1 18); do
  "$bin" migrate --database "dbname=$upgraded" --migrations-dir "$work/old/migrations" --target "$n" --log-level error >/dev/null
done
# What the migrate of that time recorded: the SHA-256 of each file's bytes.
for f in "$work"/old/migrations/*.sql; do
  q -c "UPDATE loginvault.schema_migrations SET checksum = '$(sha256sum "$f" | cut -c1-64)' WHERE file_name = '$(basename "$f")'"
done

# 2. Data: logins processed under the first data key, a reject, a rotation,
#    more logins and a reject under the second key.
q >/dev/null <<'SQL'
INSERT INTO raw_logins (message_id, body, sent_at, receive_count) VALUES
  ('m1', '{"user_id": "u1", "ip": "192.0.2.1", "device_id": "d-1"}', '2026-11-01 10:00:00+00', 1),
  ('m2', '{"user_id": "u2", "ip": "2001:DB8::1", "device_id": " d-2 "}', '2026-11-01 11:00:00+00', 1),
  ('m3', '{"ip": "192.0.2.3"}', '2026-11-01 12:00:00+00', 1);
SELECT stage_raw_login('m4', '{not json', '2026-11-01 13:00:00+00', 1);
CALL process_raw_logins(10);
CALL loginvault.rotate_data_key();
INSERT INTO raw_logins (message_id, body, sent_at) VALUES
  ('m5', '{"user_id": "u5", "ip": "198.51.100.5", "device_id": "d-5"}', '2026-11-02 10:00:00+00'),
  ('m6', '{"user_id": ["not", "a", "string"]}', '2026-11-02 11:00:00+00');
CALL process_raw_logins(10);
SQL
[ "$(q -c "SELECT count(*) FROM user_logins")" = 3 ] || fail "setup: expected 3 logins"
[ "$(q -c "SELECT count(*) FROM rejected_logins")" = 3 ] || fail "setup: expected 3 rejects"
[ "$(q -c "SELECT count(*) FROM loginvault.keys WHERE purpose = 'data'")" = 2 ] || fail "setup: expected 2 data keys"
# the owner's decryption, the same before and after (the reveal functions of the old install are gone after 0028)
originals="SELECT string_agg(format('%s %s %s', u.message_id, j->>'ip', j->>'device_id'), ',' ORDER BY u.message_id)
             FROM user_logins u JOIN loginvault.user_login_originals o USING (login_id),
                  LATERAL (SELECT loginvault.decrypt(o.originals, loginvault.data_key_passphrase(o.key_id))::jsonb) d(j)"
before=$(q -c "$originals")

# 3. Upgrade with today's files and code: no drift, the definitions applied.
out=$("$bin" migrate --database "dbname=$upgraded" --migrations-dir sql/migrations --log-level error) \
  || fail "migrate of the old install failed: $out"
grep -q "definitions/90_privileges.sql" <<<"$out" || fail "the upgrade applied no definitions: $out"
"$bin" migrate status --check --database "dbname=$upgraded" --migrations-dir sql/migrations --log-level error >/dev/null \
  || fail "migrate status --check after the upgrade"
[ "$(q -c "SELECT count(*) FROM loginvault.schema_migrations WHERE checksum LIKE '$(sha256sum "$work/old/migrations/0001_loginvault_schema.sql" | cut -c1-16)%'")" = 0 ] \
  || fail "the legacy checksum of 0001 was not upgraded"
echo "ok 1 - an install of $old_commit migrates with today's code without drift"

# 4. The same schema as a fresh install.
"$bin" migrate --database "dbname=$fresh" --migrations-dir sql/migrations --log-level error >/dev/null
normalise() { pg_dump --schema-only --no-owner "$1" | grep -v -e '^--' -e '^\\restrict' -e '^\\unrestrict' -e '^$'; }
if ! diff -u <(normalise "$fresh") <(normalise "$upgraded") > "$work/schema.diff"; then
  cat "$work/schema.diff" >&2
  fail "the upgraded schema differs from a fresh install"
fi
echo "ok 2 - pg_dump --schema-only of the upgraded install equals a fresh install"

# 5. The old rows still reveal, and a new run works.
after=$(q -c "$originals")
[ "$after" = "m1 192.0.2.1 d-1,m2 2001:DB8::1  d-2 ,m5 198.51.100.5 d-5" ] && [ "$after" = "$before" ] \
  || fail "reveal after the upgrade: got '$after', before '$before'"
[ "$(q -c "CALL reveal_rejected('m4', 'upgrade test', NULL, NULL, NULL)" | cut -d'|' -f2)" = "{not json" ] \
  || fail "CALL reveal_rejected after the upgrade"
[ "$(q -c "SELECT count(*) FILTER (WHERE message_id = 'm6' AND user_tag = loginvault.user_tag('[\"not\", \"a\", \"string\"]')) || '/' || count(user_tag) FROM rejected_logins")" = 1/1 ] \
  || fail "0028 did not tag the old rejects by the user id their body names (m6 only)"
q -c "INSERT INTO raw_logins (message_id, body) VALUES ('m7', '{\"user_id\": \"u7\"}')" -c "CALL process_raw_logins(10)" >/dev/null
[ "$(q -c "SELECT upserted FROM loginvault.process_runs ORDER BY run_id DESC LIMIT 1")" = 1 ] || fail "processing after the upgrade"
echo "ok 3 - old rows reveal after the upgrade (under both data keys), and processing goes on"

# 6. Changing the SQL of an applied migration is still drift (exit 2).
cp -R sql "$work/changed"
echo "ALTER TABLE public.raw_logins ADD COLUMN note text;" >> "$work/changed/migrations/0004_raw_logins.sql"
status=0
"$bin" migrate --database "dbname=$upgraded" --migrations-dir "$work/changed/migrations" --log-level error >/dev/null 2>"$work/err" || status=$?
[ "$status" = 2 ] && grep -q "0004_raw_logins.sql" "$work/err" || fail "a changed applied migration was not refused (exit $status)"
echo "ok 4 - an applied migration whose SQL changed is refused"
