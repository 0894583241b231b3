#!/usr/bin/env bash
# Test key pairs for the pgTAP files (psql backticks): an RSA key pair without a
# passphrase (or, with TEST_KEY_PASSPHRASE set, protected by that passphrase),
# made by gpg --batch in the given directory on first use.
#   test-key.sh DIR public   the armored public key
#   test-key.sh DIR secret   the armored private key
#   test-key.sh DIR remove   delete DIR
set -euo pipefail
dir=$1 what=$2
if [ "$what" = remove ]; then rm -rf "$dir"; exit 0; fi
mkdir -p "$dir/home"; chmod 700 "$dir/home"
passphrase=${TEST_KEY_PASSPHRASE:-}
if [ ! -s "$dir/public.asc" ]; then
  if [ -n "$passphrase" ]; then protection="Passphrase: $passphrase"; else protection='%no-protection'; fi
  printf '%s\n' 'Key-Type: RSA' 'Key-Length: 2048' 'Subkey-Type: RSA' 'Subkey-Length: 2048' \
    'Name-Real: loginvault pgTAP' 'Name-Email: pgtap@example.invalid' 'Expire-Date: 0' "$protection" '%commit' >"$dir/params"
  gpg --batch --homedir "$dir/home" --gen-key "$dir/params" 2>/dev/null
  gpg --batch --homedir "$dir/home" --armor --export pgtap@example.invalid >"$dir/public.asc"
  gpg --batch --homedir "$dir/home" --pinentry-mode loopback --passphrase "$passphrase" \
    --armor --export-secret-keys pgtap@example.invalid >"$dir/secret.asc"
fi
cat "$dir/$what.asc"
