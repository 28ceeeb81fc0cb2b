#!/usr/bin/env bash
# Services for stackdock-postgres tests beyond the PostgreSQL server that
# scripts/test.sh already provides: `openssl`, which tests/scram_login.rs uses
# to make a throwaway CA and server certificate for its private TLS +
# scram-sha-256 cluster. Installs nothing else and starts no daemon.
# Idempotent, non-interactive, runs as root without a TTY.
set -euo pipefail

sudo=""
[ "$(id -u)" -eq 0 ] || sudo="sudo"

packages=(openssl)
missing=()
for pkg in "${packages[@]}"; do
    if ! dpkg-query -W -f='${Status}' "$pkg" 2>/dev/null | grep -q "install ok installed"; then
        missing+=("$pkg")
    fi
done

if ((${#missing[@]} > 0)); then
    echo "postgres.sh: installing ${missing[*]}"
    $sudo apt-get update -qq
    $sudo env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
fi
