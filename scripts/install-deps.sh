#!/usr/bin/env bash
# Installs what loginvault needs to build, test and run its local environment,
# only what is missing, quietly. Safe to run again.
# (prometheus: for promtool, which checks the /metrics output and the alert rules in the tests.)
# (gnupg: gpg makes the PGP key pairs of the public-key originals tests and of make bench-sql.)
set -euo pipefail

# LOGINVAULT_DEPS=build: only what building needs (libpq-dev), as in the Dockerfile's build stage.
need_apt=()
have_pkg() { dpkg-query -W -f='${Status}' "$1" 2>/dev/null | grep -q "install ok installed"; }
packages=(postgresql postgresql-contrib libpq-dev postgresql-15-pgtap postgresql-15-cron libtap-parser-sourcehandler-pgtap-perl prometheus gnupg)
[ "${LOGINVAULT_DEPS:-}" = build ] && packages=(libpq-dev)
for pkg in "${packages[@]}"; do
  have_pkg "$pkg" || need_apt+=("$pkg")
done

if [ ${#need_apt[@]} -gt 0 ]; then
  if [ "$(id -u)" -ne 0 ]; then
    echo "loginvault: missing Debian packages: ${need_apt[*]}" >&2
    echo "  run: sudo apt-get install -y ${need_apt[*]}" >&2
    exit 1
  fi
  echo "Installing Debian packages: ${need_apt[*]}"
  export DEBIAN_FRONTEND=noninteractive
  # An old or empty package list finds nothing: refresh it once, then install.
  apt-get update -qq >/dev/null
  apt-get install -y -qq --no-install-recommends "${need_apt[@]}" >/dev/null
fi

[ "${LOGINVAULT_DEPS:-}" = build ] && exit 0

PYTHON=${PYTHON:-python3}
if ! "$PYTHON" -c 'import moto, flask, flask_cors, boto3' >/dev/null 2>&1 || ! command -v moto_server >/dev/null 2>&1; then
  echo "Installing moto[server] and boto3 (pip)"
  "$PYTHON" -m pip install -q --disable-pip-version-check 'moto[server]' boto3
  command -v pyenv >/dev/null 2>&1 && pyenv rehash || true
fi
